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

    /// <summary>When this kernel last pinged the remote.</summary>
    public DateTimeOffset LastPing { get; private set; } = DateTimeOffset.MinValue;

    /// <summary>The lease length.</summary>
    public TimeSpan Lease => lease;

    /// <summary>The remote renewed (any frame naming the current session, or a fresh session).</summary>
    public void Renew(DateTimeOffset at) => RenewedAt = at;

    /// <summary>This kernel pinged the remote.</summary>
    public void Pinged(DateTimeOffset at) => LastPing = at;

    /// <summary>Whether the remote has been silent for longer than the lease.</summary>
    public bool Lapsed(DateTimeOffset at) => at - RenewedAt > lease;

    /// <summary>Whether a ping is due.</summary>
    public bool PingDue(DateTimeOffset at) => at - LastPing >= pingInterval;
}
