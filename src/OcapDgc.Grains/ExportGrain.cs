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

    /// <inheritdoc />
    public async Task RecordSentAsync(string remote, long count)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        Ledger.RecordSent(remote, count);
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ApplyAsync(string remote, long stream, long seq, DgcOpKind[] ops, long[] counts)
    {
        var result = Ledger.Apply(remote, stream, seq, ops, counts, out var changed);
        foreach (var e in result.Errors)
        {
            LogRejected(logger, remote, seq, e);
        }

        return changed ? await SaveAsync(result) : result;
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ExpireRemoteAsync(string remote)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        var result = Ledger.ExpireRemote(remote, out var changed);
        return changed ? await SaveAsync(result) : result;
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ReleaseLostSendsAsync(string remote, bool forget)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        var result = Ledger.ReleaseLostSends(remote, forget, out var changed);
        return changed ? await SaveAsync(result) : result;
    }

    /// <inheritdoc />
    public async Task<string[]> DeleteAsync()
    {
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

    /// <summary>Writes the state, or clears it (no row left) once no remote recognizes the object.</summary>
    private async Task<ExportApplyResult> SaveAsync(ExportApplyResult result)
    {
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

    [LoggerMessage(EventId = (int)DgcLogEvent.ExportOpRefused, Level = LogLevel.Warning, Message = "Refused an operation of batch {Seq} from {Remote}: {Error}")]
    private static partial void LogRejected(ILogger logger, string remote, long seq, string error);
}
