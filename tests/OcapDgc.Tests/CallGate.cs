namespace OcapDgc.Tests;

/// <summary>
/// Holds chosen grain calls on their way in (as a slow network or a busy silo would), one by one, until a test lets
/// each go: a test can make one kernel callback arrive after later events, in the order it chooses.
/// </summary>
public sealed class CallGate : IIncomingGrainCallFilter
{
    private readonly Lock _gate = new();
    private readonly List<HeldCall> _held = [];
    private string? _method;
    private string? _grainKey;
    private int _toHold;

    /// <summary>Holds the next <paramref name="count"/> calls of <paramref name="method"/> to the grain keyed <paramref name="grainKey"/>.</summary>
    public void Hold(string method, string grainKey, int count)
    {
        lock (_gate)
        {
            (_method, _grainKey, _toHold) = (method, grainKey, count);
            _held.Clear();
            for (var i = 0; i < count; i++)
            {
                _held.Add(new HeldCall());
            }
        }
    }

    /// <summary>Waits until the <paramref name="index"/>th held call (from 0) has arrived.</summary>
    public Task ArrivedAsync(int index) => Call(index).Arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Lets the <paramref name="index"/>th held call go; completes once the grain has run it.</summary>
    public Task ReleaseAsync(int index)
    {
        var call = Call(index);
        call.Go.TrySetResult();
        return call.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <inheritdoc />
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        HeldCall? held = null;
        lock (_gate)
        {
            if (_toHold > 0 && context.InterfaceMethod?.Name == _method && context.TargetId.Key.ToString() == _grainKey)
            {
                held = _held[_held.Count - _toHold];
                _toHold--;
            }
        }

        if (held is null)
        {
            await context.Invoke();
            return;
        }

        held.Arrived.TrySetResult();
        await held.Go.Task;
        try
        {
            await context.Invoke();
            held.Done.TrySetResult();
        }
        catch (Exception e)
        {
            held.Done.TrySetException(e);
            throw;
        }
    }

    private HeldCall Call(int index)
    {
        lock (_gate)
        {
            return _held[index];
        }
    }

    private sealed class HeldCall
    {
        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Go { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
