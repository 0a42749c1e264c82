using OcapDgc.Internal;

namespace OcapDgc.Tests;

/// <summary>
/// Fails chosen calls to <see cref="IExportGrain.ApplyAsync"/> or <see cref="IExportGrain.ExpireRemoteAsync"/> (as when
/// the export grain's silo dies under the call), so a test can make a batch's application, or a session's end, fail part way.
/// </summary>
public sealed class ExportCallFaults : IIncomingGrainCallFilter
{
    private readonly Lock _gate = new();
    private int _pass;
    private int _fail;
    private string _method = nameof(IExportGrain.ApplyAsync);

    /// <summary>How many calls it failed so far.</summary>
    public int Failed { get; private set; }

    /// <summary>Lets the next <paramref name="pass"/> apply calls through, then fails <paramref name="fail"/>.</summary>
    public void FailApplies(int pass, int fail) => Arm(nameof(IExportGrain.ApplyAsync), pass, fail);

    /// <summary>Lets the next <paramref name="pass"/> calls of any grain method named <paramref name="method"/> through, then fails <paramref name="fail"/> (a kernel's call to its handle, say).</summary>
    public void FailCallsTo(string method, int pass, int fail) => Arm(method, pass, fail);

    /// <summary>Lets the next <paramref name="pass"/> session-end calls (<see cref="IExportGrain.ExpireRemoteAsync"/>) through, then fails <paramref name="fail"/>.</summary>
    public void FailExpiries(int pass, int fail) => Arm(nameof(IExportGrain.ExpireRemoteAsync), pass, fail);

    private void Arm(string method, int pass, int fail)
    {
        lock (_gate)
        {
            (_method, _pass, _fail) = (method, pass, fail);
        }
    }

    /// <inheritdoc />
    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name is { } name && name == Volatile.Read(ref _method) && Fails())
        {
            throw new InvalidOperationException("injected: the export grain's silo became unavailable");
        }

        return context.Invoke();
    }

    private bool Fails()
    {
        lock (_gate)
        {
            if (_pass > 0)
            {
                _pass--;
                return false;
            }

            if (_fail > 0)
            {
                _fail--;
                Failed++;
                return true;
            }

            return false;
        }
    }
}
