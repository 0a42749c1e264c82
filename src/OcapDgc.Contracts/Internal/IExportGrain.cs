using OcapDgc.Wire;

namespace OcapDgc.Internal;

/// <summary>
/// One exported object, keyed <c>kernel/kref</c> (see <see cref="DgcIds.ExportKey"/>). It keeps, durably,
/// for each remote that can recognize the object, how many times it was sent minus how many receipts
/// that remote released. When no remote can reach it the handle tells the kernel "export dropped"; when
/// none can recognize it, "export retired", and the grain clears its storage and deactivates.
/// </summary>
/// <remarks>
/// DGC-internal: called through the kernel's <see cref="IExportShardGrain"/>s, never by kernels. An object
/// exported to one remote only never activates its export grain: its shard keeps the same state in the same
/// row; the grain owns the row from the moment a second remote recognizes the object (see
/// <see cref="ExportState.Shared"/>). Its snapshots read the row again while the shard owns it. A kernel learns
/// about its exports from <see cref="IDgcKernel"/> callbacks and deletes them with
/// <see cref="IRemoteManagerGrain.DeleteExportsAsync"/>.
/// </remarks>
[Alias("ocap-dgc.IExportGrain")]
public interface IExportGrain : IGrainWithStringKey
{
    /// <summary>Counts <paramref name="count"/> sends to <paramref name="remote"/>, durably, before the message leaves.</summary>
    [Alias("record-sent")]
    Task RecordSentAsync(string remote, long count);

    /// <summary>
    /// Applies, in order, the operations of inbound batch <paramref name="seq"/> of batch stream
    /// <paramref name="stream"/> from <paramref name="remote"/> that name this object. A batch at or below
    /// the last one applied for that remote (streams compare first) is ignored, so a replay after a crash
    /// is not applied twice. Invalid operations are refused one by one, state unchanged.
    /// </summary>
    [Alias("apply")]
    Task<ExportApplyResult> ApplyAsync(string remote, long stream, long seq, DgcOpKind[] ops, long[] counts);

    /// <summary>
    /// The remote's lease lapsed, it restarted, or reconciliation found its session broken: removes its
    /// hold whatever the count. Nothing else changes; other remotes' holds stay.
    /// </summary>
    [Alias("expire")]
    Task<ExportApplyResult> ExpireRemoteAsync(string remote);

    /// <summary>
    /// Reconciliation proved that the rest of <paramref name="remote"/>'s count was sent in messages that
    /// will never be delivered: sets it to zero. With <paramref name="forget"/> (the remote does not even
    /// recognize the object) the hold goes too. Other remotes' holds stay.
    /// </summary>
    [Alias("release-lost")]
    Task<ExportApplyResult> ReleaseLostSendsAsync(string remote, bool forget);

    /// <summary>
    /// The owning kernel deletes the object. Refused with <see cref="DgcError.StillReachable"/> while any
    /// remote can reach it. Returns the remotes that could still recognize it; they are told to retire it.
    /// </summary>
    [Alias("delete")]
    Task<string[]> DeleteAsync();

    /// <summary>A snapshot for inspection and tests. Read-only, so it interleaves with a call in progress.</summary>
    [Alias("snapshot"), Orleans.Concurrency.AlwaysInterleave, Orleans.Concurrency.ReadOnly]
    Task<ExportSnapshot> GetSnapshotAsync();

    /// <summary>
    /// A snapshot of the stored state, read again first: what a decision may rest on (whether a late "dropped" still
    /// holds, whether a waiting message may still be delivered). After a silo dies, Orleans can briefly keep a second
    /// activation of this grain whose state misses what the other one wrote; <see cref="GetSnapshotAsync"/> would
    /// answer from it. Not interleaved: the read replaces the activation's state, so it waits for a call in progress.
    /// </summary>
    [Alias("stored-snapshot")]
    Task<ExportSnapshot> GetStoredSnapshotAsync();
}
