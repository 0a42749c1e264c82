using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// Everything a <see cref="RemotePair"/> does outside its own state, passed in: the kernel's manager
/// (sessions, krefs), the export owners (one per kref, across all remotes), persistence of the pair's
/// state, the transport, the kernel's callbacks, the lease reminder and diagnostics. The remote handle
/// grain implements it with grain calls, storage and timers; the simulation in memory.
/// </summary>
public interface IPairEnvironment
{
    /// <summary>Registers the remote with the kernel's manager and draws the kernel's incarnation and a fresh epoch.</summary>
    Task<SessionStart> OpenSessionAsync();

    /// <summary>A fresh epoch (or stream number) from the kernel's counter, which never goes back.</summary>
    Task<long> NextEpochAsync();

    /// <summary>Fresh krefs for new imports.</summary>
    Task<string[]> AllocateKrefsAsync(int count);

    /// <summary>The pair holds nothing any more and cleared its state: the manager forgets the remote but keeps <paramref name="memory"/>.</summary>
    Task ForgetRemoteAsync(PeerMemory memory);

    /// <summary>The pair is about to clear its state: the manager keeps <paramref name="memory"/> now (the remote stays listed), so a crash before <see cref="ForgetRemoteAsync"/> loses nothing of it.</summary>
    Task RememberRemoteAsync(PeerMemory memory);

    /// <summary>What the manager kept of the remote when the pair last cleared, if anything, and whether it still lists the remote.</summary>
    Task<PeerRecall> RecallRemoteAsync();

    /// <summary>Counts sends to the remote, durably: for each export kref, how many times this message carries it.</summary>
    Task RecordSentAsync(IReadOnlyDictionary<string, long> sends);

    /// <summary>
    /// Applies a batch's operations, export by export (see <see cref="ExportLedger.Apply"/>); one result per entry
    /// of <paramref name="exports"/>, in order. If it throws, some exports may have taken the batch and others not
    /// (each skips it when it comes again).
    /// </summary>
    Task<ExportApplyResult[]> ApplyToExportsAsync(long stream, long seq, IReadOnlyList<ExportOps> exports);

    /// <summary>Removes the remote's hold on each export (see <see cref="ExportLedger.ExpireRemote"/>); one result per kref, in order.</summary>
    Task<ExportApplyResult[]> ExpireExportsAsync(IReadOnlyList<string> krefs);

    /// <summary>Releases the lost sends of each export (see <see cref="ExportLedger.ReleaseLostSends"/>); one result per kref, in order.</summary>
    Task<ExportApplyResult[]> ReleaseLostSendsAsync(IReadOnlyList<string> krefs, IReadOnlyList<bool> forget);

    /// <summary>Exports' states as their owners have them stored now, read again (to tell whether a late "dropped" or "retired" still holds, or a waiting message may still be delivered): never an older copy a second activation of an owner kept. One per kref, in order.</summary>
    Task<ExportSnapshot[]> GetExportsAsync(IReadOnlyList<string> krefs);

    /// <summary>Writes the pair's state durably.</summary>
    Task WriteStateAsync(PairState state);

    /// <summary>
    /// Throws, changing nothing, if another activation of this pair wrote its state since this one last read or
    /// wrote it (a duplicate a silo crash left behind): what this one holds in memory is stale. Called before
    /// effects that wait from earlier are delivered to the kernel, which a stale activation must not do.
    /// </summary>
    Task EnsureCurrentAsync();

    /// <summary>Deletes the pair's stored state, if any (the pair holds nothing).</summary>
    Task ClearStateAsync();

    /// <summary>Sends one frame to the remote, best effort.</summary>
    Task SendFrameAsync(string json);

    /// <summary>
    /// Tells the kernel; returns whether its callback returned (false: it failed, or no kernel is
    /// registered; an effect is then delivered again later). The kernel may call back into the pair from within.
    /// </summary>
    Task<bool> NotifyKernelAsync(KernelNotice notice);

    /// <summary>Turns the lease reminder on (the pair holds something) or off.</summary>
    Task SetLeaseReminderAsync(bool enabled);

    /// <summary>Something for logs and metrics.</summary>
    void Report(PairEvent e);
}
