using OcapDgc.Observability;

namespace OcapDgc.Host.Observability;

/// <summary>One reading of the silo's DGC registry (<see cref="DgcSiloStats"/>).</summary>
/// <param name="At">When it was taken (wall clock).</param>
/// <param name="Exports">Exports held by remotes (per export and remote) on the silo's active handles.</param>
/// <param name="Imports">Imports held.</param>
/// <param name="QueuedOps">GC operations queued.</param>
/// <param name="UnackedBatches">Batches awaiting acknowledgement.</param>
/// <param name="LapsingLeases">Remotes silent for more than half the lease while holding exports.</param>
/// <param name="Retired">Exports reclaimed (reported retired) since the silo started.</param>
public sealed record DgcSample(DateTimeOffset At, long Exports, long Imports, long QueuedOps, long UnackedBatches, long LapsingLeases, long Retired);

/// <summary>
/// A ring buffer of <see cref="DgcSample"/>s taken every <see cref="Period"/> from the silo's registry (a few
/// field reads per active handle; no grain call). The DGC view draws its chart from it, and the demo its SVG.
/// </summary>
public sealed class DgcSampler(DgcSiloStats stats, TimeSpan period, int capacity = 600)
{
    private readonly DgcSample[] _ring = new DgcSample[Math.Max(2, capacity)];
    private readonly Lock _gate = new();
    private int _next;
    private int _count;

    /// <summary>How often a sample is taken.</summary>
    public TimeSpan Period { get; } = period;

    /// <summary>Takes one sample now.</summary>
    public DgcSample Sample()
    {
        var t = stats.Read();
        var sample = new DgcSample(DateTimeOffset.UtcNow, t.Exports, t.Imports, t.QueuedOps, t.UnackedBatches, t.LapsingLeases, t.ExportsRetired);
        lock (_gate)
        {
            _ring[_next] = sample;
            _next = (_next + 1) % _ring.Length;
            _count = Math.Min(_count + 1, _ring.Length);
        }

        return sample;
    }

    /// <summary>The samples held, oldest first.</summary>
    public DgcSample[] Snapshot()
    {
        lock (_gate)
        {
            var result = new DgcSample[_count];
            var first = (_next - _count + _ring.Length) % _ring.Length;
            for (var i = 0; i < _count; i++)
            {
                result[i] = _ring[(first + i) % _ring.Length];
            }

            return result;
        }
    }

    /// <summary>Samples every <see cref="Period"/> until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Period);
        try
        {
            do
            {
                Sample();
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
    }
}

/// <summary>Runs the host's <see cref="DgcSampler"/> (one sample a second) while the host runs.</summary>
internal sealed class DgcSamplerService(DgcSampler sampler) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => sampler.RunAsync(stoppingToken);
}
