namespace OcapDgc.Host;

/// <summary>
/// The <c>--chaos</c> run. Bound from <c>Demo:Chaos</c>. The lease values replace <c>Dgc:Lease</c> for
/// that run, so a partition longer than the lease fits in seconds.
/// </summary>
public sealed class ChaosOptions
{
    /// <summary>Distinct references in all (alice and bob exchange most; carol and dave import the rest). <c>--refs</c> overrides it.</summary>
    public int Refs { get; set; } = 20_000;

    /// <summary>References per application message (smaller than the plain demo's, so there are more frames to disturb).</summary>
    public int MessageSize { get; set; } = 50;

    /// <summary>Seed of the random faults, so a run can be replayed.</summary>
    public int Seed { get; set; } = 7;

    /// <summary>Share of frames lost.</summary>
    public double DropRate { get; set; } = 0.02;

    /// <summary>Share of frames delivered twice.</summary>
    public double DuplicateRate { get; set; } = 0.02;

    /// <summary>Share of frames held back and delivered after later ones (reordering).</summary>
    public double HoldRate { get; set; } = 0.02;

    /// <summary>Lease for the run.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>Ping interval for the run.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Lease check period (reminder period) for the run; the silo's minimum reminder period is lowered to it.</summary>
    public TimeSpan CheckPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Names every value that is out of range.</summary>
    public IEnumerable<string> Validate()
    {
        if (Refs is < 100 or > 1_000_000)
        {
            yield return $"Demo:Chaos:Refs must be 100-1000000 (got {Refs}).";
        }

        if (MessageSize is < 1 or > 100_000)
        {
            yield return $"Demo:Chaos:MessageSize must be 1-100000 (got {MessageSize}).";
        }

        foreach (var (name, rate) in new[] { (nameof(DropRate), DropRate), (nameof(DuplicateRate), DuplicateRate), (nameof(HoldRate), HoldRate) })
        {
            if (rate is < 0 or > 0.2)
            {
                yield return $"Demo:Chaos:{name} must be 0-0.2 (got {rate}).";
            }
        }
    }
}
