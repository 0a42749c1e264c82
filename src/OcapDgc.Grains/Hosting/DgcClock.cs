namespace OcapDgc.Hosting;

/// <summary>
/// The DGC's clock: a keyed <see cref="TimeProvider"/> used for leases, pings and retransmission, kept
/// apart from the one Orleans uses so tests can advance it without disturbing the runtime.
/// </summary>
public static class DgcClock
{
    /// <summary>Service key of the DGC's <see cref="TimeProvider"/>.</summary>
    public const string Key = "ocap-dgc-clock";
}
