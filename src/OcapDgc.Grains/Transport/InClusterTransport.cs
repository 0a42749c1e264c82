using Microsoft.Extensions.Logging;
using OcapDgc.Internal;

namespace OcapDgc.Transport;

/// <summary>
/// The transport for two kernels hosted in one Orleans cluster: a frame is a call to the receiving
/// remote handle's <see cref="IRemoteHandleInternal.ReceiveFrameAsync"/>, started but not awaited by the
/// sender (so two handles never wait on each other). It counts deliveries in flight, which lets a
/// test or the demo await quiescence instead of sleeping.
/// </summary>
public sealed partial class InClusterTransport(IGrainFactory grains, ILogger<InClusterTransport> logger) : IDgcTransport
{
    private readonly Lock _gate = new();
    private int _inFlight;
    private TaskCompletionSource _idle = CompletedSource();
    private long _sent;

    /// <summary>Frames handed to the cluster so far.</summary>
    public long FramesSent => Interlocked.Read(ref _sent);

    /// <inheritdoc />
    public Task SendAsync(string fromKernel, string toKernel, string frameJson)
    {
        Interlocked.Increment(ref _sent);
        lock (_gate)
        {
            if (_inFlight++ == 0)
            {
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        var target = grains.GetGrain<IRemoteHandleInternal>(DgcIds.HandleKey(toKernel, fromKernel));
        target.ReceiveFrameAsync(frameJson).ContinueWith(
            (t, state) => ((InClusterTransport)state!).Delivered(t, fromKernel, toKernel),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return Task.CompletedTask;
    }

    /// <summary>Completes when no delivery is in flight (deliveries started meanwhile are waited for too).</summary>
    public async Task WhenIdleAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task idle;
            lock (_gate)
            {
                if (_inFlight == 0)
                {
                    return;
                }

                idle = _idle.Task;
            }

            await idle.WaitAsync(cts.Token).ConfigureAwait(false);
        }
    }

    private void Delivered(Task delivery, string from, string to)
    {
        if (delivery.Exception is { } e)
        {
            LogDeliveryFailed(logger, from, to, e.GetBaseException());
        }

        TaskCompletionSource? done = null;
        lock (_gate)
        {
            if (--_inFlight == 0)
            {
                done = _idle;
            }
        }

        done?.TrySetResult();
    }

    private static TaskCompletionSource CompletedSource()
    {
        var s = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        s.SetResult();
        return s;
    }

    [LoggerMessage(EventId = (int)DgcLogEvent.FrameNotDelivered, Level = LogLevel.Warning, Message = "Frame from {From} to {To} was not delivered; the protocol will retransmit")]
    private static partial void LogDeliveryFailed(ILogger logger, string from, string to, Exception error);
}
