namespace OcapDgc.Hosting;

/// <summary>
/// Per-remote session leases. Bound from <c>Dgc:Lease</c> and checked at start-up by
/// <see cref="LeaseOptionsValidator"/>. An importer renews its lease on an exporter with one
/// <c>dgc:ping</c> per <see cref="PingInterval"/>, however many refs it holds; the exporter's lease reminder runs every <see cref="CheckPeriod"/> and releases the holds
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
}
