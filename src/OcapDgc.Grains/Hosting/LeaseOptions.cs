namespace OcapDgc.Hosting;

/// <summary>
/// Per-remote session leases. Bound from <c>Dgc:Lease</c> and validated at start-up. An importer renews
/// its lease on an exporter with one <c>dgc:ping</c> per <see cref="PingInterval"/>, however many refs
/// it holds; the exporter's lease reminder runs every <see cref="CheckPeriod"/> and releases the holds
/// of a remote it has not heard from for <see cref="Duration"/>. So a crashed or cut-off importer's holds
/// are reclaimed within <see cref="Duration"/> + <see cref="CheckPeriod"/>.
/// </summary>
public sealed class LeaseOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Dgc:Lease";

    /// <summary>How long an exporter keeps a silent remote's holds (<c>Dgc:Lease:Duration</c>). Default 2 minutes.</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often an importer pings each exporter it holds refs of. Default 30 s.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Period of each handle's lease reminder (pings while the handle is not active, expiry checks).
    /// Default 1 minute, Orleans' default minimum reminder period.
    /// </summary>
    public TimeSpan CheckPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Checks the values and names every one that is out of range.</summary>
    public IEnumerable<string> Validate()
    {
        foreach (var (name, value) in new[] { (nameof(Duration), Duration), (nameof(PingInterval), PingInterval), (nameof(CheckPeriod), CheckPeriod) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return $"{Section}:{name} must be positive (got {value}).";
            }
        }

        if (PingInterval * 2 > Duration)
        {
            yield return $"{Section}:PingInterval ({PingInterval}) must be at most half of Lease ({Duration}), so one lost ping does not lapse a lease.";
        }

        if (PingInterval + CheckPeriod >= Duration)
        {
            yield return $"{Section}:PingInterval + CheckPeriod ({PingInterval + CheckPeriod}) must be below Lease ({Duration}): a handle woken by its reminder must still ping in time.";
        }
    }
}
