using Microsoft.Extensions.Logging;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IExportGrain" />
/// <remarks>
/// A shell over <see cref="ExportLedger"/>, which holds the rules: this grain validates the caller's
/// arguments, persists the state after each change and clears it (and deactivates) once no remote
/// recognizes the object.
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
        var was = TracedReachability();
        Ledger.RecordSent(remote, count);
        await state.WriteStateAsync();
        TraceReachability(was, "a send", remote);
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ApplyAsync(string remote, long stream, long seq, DgcOpKind[] ops, long[] counts)
    {
        var result = await ChangeAsync((ExportLedger l, out bool c) => l.Apply(remote, stream, seq, ops, counts, out c), $"batch {stream}/{seq}", remote);
        foreach (var e in result.Errors)
        {
            LogRejected(logger, remote, seq, e);
        }

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
    /// Applies <paramref name="change"/>; if it would change nothing by this activation's state, decides again on the
    /// stored state (<see cref="ReloadedAsync"/>); writes the state if it changed.
    /// </summary>
    private async Task<ExportApplyResult> ChangeAsync(LedgerChange change, string what, string remote)
    {
        var was = TracedReachability();
        var result = change(Ledger, out var changed);
        if (!changed && await ReloadedAsync())
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
    public Task<ExportSnapshot> GetSnapshotAsync()
    {
        if (state.State.Holds.Count == 0)
        {
            // Looking at a released export must not keep an activation alive.
            DeactivateOnIdle();
        }

        return Task.FromResult(Ledger.Snapshot());
    }

    /// <inheritdoc />
    public async Task<ExportSnapshot> GetStoredSnapshotAsync()
    {
        await state.ReadStateAsync();
        return await GetSnapshotAsync();
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
            await state.WriteStateAsync();
        }

        return result;
    }

    /// <summary>Whether the export is reachable now, when the debug-level trace is on (null otherwise: nothing to compare, nothing computed).</summary>
    private bool? TracedReachability() => logger.IsEnabled(LogLevel.Debug) ? state.State.Reachable : null;

    /// <summary>For a diagnosis (debug level only): the export became reachable or unreachable, by what, and its holds now.</summary>
    private void TraceReachability(bool? wasReachable, string what, string remote)
    {
        if (wasReachable is not { } was || was == state.State.Reachable)
        {
            return;
        }

        var (export, now) = (this.GetPrimaryKeyString(), state.State.Reachable ? "reachable" : "unreachable");
        var holds = string.Join(" ", state.State.Holds.Select(h => $"{h.Key}={h.Value.Count}"));
        LogReachability(logger, export, now, what, remote, holds);
    }

    [LoggerMessage(EventId = (int)DgcLogEvent.ExportReachability, Level = LogLevel.Debug, Message = "{Export}: {Now} after {What} of {Remote}; holds {Holds}")]
    private static partial void LogReachability(ILogger logger, string export, string now, string what, string remote, string holds);

    [LoggerMessage(EventId = (int)DgcLogEvent.ExportOpRefused, Level = LogLevel.Warning, Message = "Refused an operation of batch {Seq} from {Remote}: {Error}")]
    private static partial void LogRejected(ILogger logger, string remote, long seq, string error);
}
