namespace OcapDgc;

/// <summary>
/// The pair's lease timing: when the remote last renewed its lease on this kernel's exports, and when
/// this kernel last pinged the remote to renew its own.
/// </summary>
/// <remarks>In memory: a reactivated handle gives its remote a full lease (an exporter that was down cannot hold that against it).</remarks>
public sealed class LeaseClock(TimeSpan lease, TimeSpan pingInterval, DateTimeOffset now)
{
    /// <summary>When this activation started.</summary>
    public DateTimeOffset ActivatedAt { get; } = now;

    /// <summary>When the remote last renewed its lease.</summary>
    public DateTimeOffset RenewedAt { get; private set; } = now;

    /// <summary>When the remote's view of its imports last agreed with this kernel's exports (or this kernel last asked for it).</summary>
    public DateTimeOffset AgreedAt { get; private set; } = now;

    /// <summary>When this kernel last pinged the remote.</summary>
    public DateTimeOffset LastPing { get; private set; } = DateTimeOffset.MinValue;

    /// <summary>The lease length.</summary>
    public TimeSpan Lease => lease;

    /// <summary>The remote renewed (any frame naming the current session, or a fresh session).</summary>
    public void Renew(DateTimeOffset at) => RenewedAt = at;

    /// <summary>The remote's imports agree with this kernel's exports (a matching ping, or a reconciled list); or this kernel just asked for them.</summary>
    public void Agreed(DateTimeOffset at) => AgreedAt = at;

    /// <summary>
    /// Whether the remote's imports have not been seen to agree for a whole lease: then this kernel asks for
    /// them, so refs lost on the way are found even when the remote imports nothing and never pings.
    /// </summary>
    public bool AgreementDue(DateTimeOffset at) => at - AgreedAt > lease;

    /// <summary>This kernel pinged the remote.</summary>
    public void Pinged(DateTimeOffset at) => LastPing = at;

    /// <summary>Whether the remote has been silent for longer than the lease.</summary>
    public bool Lapsed(DateTimeOffset at) => at - RenewedAt > lease;

    /// <summary>Whether a ping is due.</summary>
    public bool PingDue(DateTimeOffset at) => at - LastPing >= pingInterval;
}
