using Microsoft.Extensions.Logging;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IExportGrain" />
/// <remarks>
/// A shell over <see cref="ExportLedger"/>, which holds the rules: this grain validates the caller's
/// arguments, persists the state after each change and clears it (and deactivates) once no remote
/// recognizes the object. It owns the row once the row is <see cref="ExportState.Shared"/> (two remotes came
/// to recognize the object); before that the kernel's <see cref="ExportShardGrain"/> writes it, and this grain
/// reads the row again before it answers or changes anything.
/// </remarks>
public sealed partial class ExportGrain(
    [PersistentState(DgcStateNames.Export, DgcStorage.Name)] IPersistentState<ExportState> state,
    ILogger<ExportGrain> logger) : Grain, IExportGrain
{
    private ExportLedger Ledger => new(DgcIds.SplitKey(this.GetPrimaryKeyString()).Second, state.State);

    /// <summary>One change of the ledger: its result, and whether it changed the state (then it is written).</summary>
    private delegate ExportApplyResult LedgerChange(ExportLedger ledger, out bool changed);

    /// <inheritdoc />
    public async Task RecordSentAsync(string remote, long count)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        await OwnAsync();
        var was = TracedReachability();
        Ledger.RecordSent(remote, count);
        state.State.Shared = true;
        await state.WriteStateAsync();
        TraceReachability(was, "a send", remote);
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ApplyAsync(string remote, long stream, long seq, DgcOpKind[] ops, long[] counts)
    {
        var result = await ChangeAsync((ExportLedger l, out bool c) => l.Apply(remote, stream, seq, ops, counts, out c), $"batch {stream}/{seq}", remote);
        ExportLog.Refused(logger, remote, seq, result);
        return result;
    }

    /// <inheritdoc />
    public Task<ExportApplyResult> ExpireRemoteAsync(string remote)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        return ChangeAsync((ExportLedger l, out bool c) => l.ExpireRemote(remote, out c), "a session end", remote);
    }

    /// <inheritdoc />
    public Task<ExportApplyResult> ReleaseLostSendsAsync(string remote, bool forget)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        return ChangeAsync((ExportLedger l, out bool c) => l.ReleaseLostSends(remote, forget, out c), "a release of lost sends", remote);
    }

    /// <summary>
    /// Applies <paramref name="change"/>; if it would change nothing by this activation's state, and that state was not
    /// just read, decides again on the stored state (<see cref="ReloadedAsync"/>); writes the state if it changed.
    /// </summary>
    private async Task<ExportApplyResult> ChangeAsync(LedgerChange change, string what, string remote)
    {
        var fresh = await OwnAsync();
        var was = TracedReachability();
        var result = change(Ledger, out var changed);
        if (!changed && !fresh && await ReloadedAsync())
        {
            was = TracedReachability();
            result = change(Ledger, out changed);
        }

        return changed ? await SaveAsync(result, was, what, remote) : result;
    }

    /// <inheritdoc />
    public async Task<string[]> DeleteAsync()
    {
        // Whether a remote still reaches it is decided on what is stored, not on what this activation last saw.
        await state.ReadStateAsync();
        var recognizers = Ledger.Delete();
        if (state.RecordExists)
        {
            await state.ClearStateAsync();
        }

        DeactivateOnIdle();
        return recognizers;
    }

    /// <inheritdoc />
    public async Task<ExportSnapshot> GetSnapshotAsync()
    {
        // A row the export shard owns is written without this grain: read it again.
        await OwnAsync();
        return Answer();
    }

    /// <inheritdoc />
    public async Task<ExportSnapshot> GetStoredSnapshotAsync()
    {
        await state.ReadStateAsync();
        return Answer();
    }

    private ExportSnapshot Answer()
    {
        if (state.State.Holds.Count == 0 || !state.State.Shared)
        {
            // Looking at a released export, or one its shard owns, must not keep an activation alive.
            DeactivateOnIdle();
        }

        return Ledger.Snapshot();
    }

    /// <summary>
    /// Re-reads the stored state; whether it differed from this activation's. A call that would change nothing (a
    /// replay, or a remote this activation has no hold for) writes nothing, so no ETag check would catch a stale
    /// activation answering it: after a silo dies, Orleans can briefly keep a second activation of this grain, whose
    /// state misses what the other one wrote since. It would report "nothing to release" and the hold would stay
    /// counted for good. So such a call looks again before it answers (rare: replays and repeats only).
    /// </summary>
    private async Task<bool> ReloadedAsync()
    {
        var before = state.Etag;
        await state.ReadStateAsync();
        return !string.Equals(before, state.Etag, StringComparison.Ordinal);
    }

    /// <summary>Writes the state, or clears it (no row left) once no remote recognizes the object.</summary>
    private async Task<ExportApplyResult> SaveAsync(ExportApplyResult result, bool? wasReachable, string what, string remote)
    {
        TraceReachability(wasReachable, what, remote);
        if (result.Retired)
        {
            await state.ClearStateAsync();
            DeactivateOnIdle();
        }
        else
        {
            state.State.Shared = true;
            await state.WriteStateAsync();
        }

        return result;
    }

    private bool? TracedReachability() => ExportLog.Traced(logger, state.State);

    private void TraceReachability(bool? wasReachable, string what, string remote) =>
        ExportLog.Reachability(logger, this.GetPrimaryKeyString(), state.State, wasReachable, what, remote);

    /// <summary>
    /// Before a change: while the row is not <see cref="ExportState.Shared"/>, the kernel's export shard owns it and
    /// writes it without this grain, so this activation's copy may be old; it reads the row again. Whether it did.
    /// </summary>
    private async Task<bool> OwnAsync()
    {
        if (state.State.Shared)
        {
            return false;
        }

        await state.ReadStateAsync();
        return true;
    }
}
