using OcapDgc.Wire;

namespace OcapDgc.Internal;

/// <summary>
/// The way in to a kernel's exports, for the DGC's own grains: one of <see cref="DgcIds.ExportShards"/> per
/// kernel, keyed <c>kernel/shard</c> (see <see cref="DgcIds.ExportShardKey"/>); an export belongs to shard
/// <see cref="DgcIds.ExportShardOf"/> of its kref. A remote handle makes one call per shard for a whole message
/// or batch, not one per export.
/// </summary>
/// <remarks>
/// <para>
/// Each export's state is the <see cref="IExportGrain"/> row of its kref, whoever writes it. While at most one
/// remote recognizes the export, the shard applies the rules (<see cref="ExportLedger"/>) and writes that row
/// itself, so an object exported to one remote costs no grain activation of its own. When a send reaches a
/// second remote, the shard marks the row <see cref="ExportState.Shared"/> and from then on passes every call
/// for it to the kref's <see cref="IExportGrain"/>, the owner of counts across remotes, until the object is
/// retired (no remote recognizes it) and its row is gone.
/// </para>
/// <para>
/// Every call takes a list of distinct krefs, validated first (a bad one refuses the call, changing nothing),
/// and answers one result per kref in the same order. Exports are independent: if the call fails, some may have
/// taken it and some not, exactly as if each had been called alone; a batch is skipped by an export that took
/// it before, so the caller repeats the call.
/// </para>
/// <para>DGC-internal: called by the kernel's remote handles, its manager and its cycle collector, never by kernels.</para>
/// </remarks>
[Alias("ocap-dgc.IExportShardGrain")]
public interface IExportShardGrain : IGrainWithStringKey
{
    /// <summary>Counts <paramref name="counts"/>[i] sends of <paramref name="krefs"/>[i] to <paramref name="remote"/>, durably, before the message leaves (see <see cref="IExportGrain.RecordSentAsync"/>).</summary>
    [Alias("record-sent")]
    Task RecordSentAsync(string remote, string[] krefs, long[] counts);

    /// <summary>Applies inbound batch <paramref name="seq"/> of stream <paramref name="stream"/> from <paramref name="remote"/> to each export it names (see <see cref="IExportGrain.ApplyAsync"/>).</summary>
    [Alias("apply")]
    Task<ExportApplyResult[]> ApplyAsync(string remote, long stream, long seq, ExportOps[] exports);

    /// <summary>Removes <paramref name="remote"/>'s hold on each export (see <see cref="IExportGrain.ExpireRemoteAsync"/>).</summary>
    [Alias("expire")]
    Task<ExportApplyResult[]> ExpireRemoteAsync(string remote, string[] krefs);

    /// <summary>Releases <paramref name="remote"/>'s lost sends of each export (see <see cref="IExportGrain.ReleaseLostSendsAsync"/>).</summary>
    [Alias("release-lost")]
    Task<ExportApplyResult[]> ReleaseLostSendsAsync(string remote, string[] krefs, bool[] forget);

    /// <summary>
    /// The owning kernel deletes these objects (see <see cref="IExportGrain.DeleteAsync"/>): per kref, the remotes
    /// that could still recognize it. Refused with <see cref="DgcError.StillReachable"/> if one is reachable.
    /// </summary>
    [Alias("delete")]
    Task<string[][]> DeleteAsync(string[] krefs);

    /// <summary>Each export's state as stored now, read again: what a decision may rest on (see <see cref="IExportGrain.GetStoredSnapshotAsync"/>).</summary>
    [Alias("stored-snapshots")]
    Task<ExportSnapshot[]> GetStoredSnapshotsAsync(string[] krefs);
}
