using Microsoft.Extensions.Logging;
using OcapDgc.Hosting;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IExportGrain" />
public sealed partial class ExportGrain(
    [PersistentState("export", DgcStorage.Name)] IPersistentState<ExportState> state,
    ILogger<ExportGrain> logger) : Grain, IExportGrain
{
    private string Kref => DgcIds.SplitKey(this.GetPrimaryKeyString()).Second;

    /// <inheritdoc />
    public async Task RecordSentAsync(string remote, long count)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var holds = state.State.Holds;
        if (!holds.TryGetValue(remote, out var hold))
        {
            holds[remote] = hold = new RemoteHold();
        }

        hold.Count += count;
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ApplyAsync(string remote, long stream, long seq, DgcOpKind[] ops, long[] counts)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(counts);
        if (ops.Length != counts.Length)
        {
            throw new ArgumentException("ops and counts must be of the same length.", nameof(counts));
        }

        var holds = state.State.Holds;
        if (!holds.TryGetValue(remote, out var hold))
        {
            var error = $"{Kref}: {remote} holds no reference to it (never exported to {remote}, or already retired).";
            LogRejected(logger, remote, seq, error);
            return new ExportApplyResult(false, false, [error], false);
        }

        if (stream < hold.LastStream || (stream == hold.LastStream && seq <= hold.LastSeq))
        {
            // A batch replayed after a crash of the handle: every operation in it is already here.
            return new ExportApplyResult(false, false, [], false, hold.Count);
        }

        var wasReachable = state.State.Reachable;
        var errors = new List<string>();
        var forgotten = false;
        for (var i = 0; i < ops.Length && !forgotten; i++)
        {
            switch (ops[i])
            {
                case DgcOpKind.AddRef:
                    hold.Confirmed = true;
                    break;
                case DgcOpKind.DropRef when counts[i] > hold.Count:
                    errors.Add($"{Kref}: {remote} released {counts[i]} but holds only {hold.Count} (over-release refused).");
                    break;
                case DgcOpKind.DropRef:
                    hold.Count -= counts[i];
                    break;
                case DgcOpKind.Retire when hold.Count > 0:
                    // The retire crossed a re-send: the remote will import the object afresh, so it stays.
                    LogRetireCrossedResend(logger, Kref, remote, hold.Count);
                    break;
                case DgcOpKind.Retire:
                    holds.Remove(remote);
                    forgotten = true;
                    break;
            }
        }

        foreach (var e in errors)
        {
            LogRejected(logger, remote, seq, e);
        }

        if (!forgotten)
        {
            hold.LastStream = stream;
            hold.LastSeq = seq;
        }

        var (dropped, retired) = await SaveAsync(wasReachable);
        return new ExportApplyResult(dropped, retired, [.. errors], forgotten, forgotten ? 0 : hold.Count);
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ExpireRemoteAsync(string remote)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        var wasReachable = state.State.Reachable;
        if (!state.State.Holds.Remove(remote))
        {
            return new ExportApplyResult(false, false, [], false);
        }

        var (dropped, retired) = await SaveAsync(wasReachable);
        return new ExportApplyResult(dropped, retired, [], true);
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult> ReleaseLostSendsAsync(string remote, bool forget)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        if (forget)
        {
            return await ExpireRemoteAsync(remote);
        }

        if (!state.State.Holds.TryGetValue(remote, out var hold))
        {
            return new ExportApplyResult(false, false, [], true);
        }

        var wasReachable = state.State.Reachable;
        hold.Count = 0;
        var (dropped, retired) = await SaveAsync(wasReachable);
        return new ExportApplyResult(dropped, retired, [], false, 0);
    }

    private async Task<(bool Dropped, bool Retired)> SaveAsync(bool wasReachable)
    {
        var dropped = wasReachable && !state.State.Reachable;
        var retired = state.State.Holds.Count == 0;
        if (retired)
        {
            await state.ClearStateAsync();
            DeactivateOnIdle();
        }
        else
        {
            await state.WriteStateAsync();
        }

        return (dropped, retired);
    }

    /// <inheritdoc />
    public async Task<string[]> DeleteAsync()
    {
        var holds = state.State.Holds;
        var holders = holds.Where(h => h.Value.Count > 0).Select(h => h.Key).ToArray();
        if (holders.Length > 0)
        {
            throw new DgcException(DgcError.StillReachable, $"{Kref} is still reachable from {string.Join(", ", holders)}; it can be deleted only after they drop it.");
        }

        var recognizers = holds.Keys.ToArray();
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
        var holds = state.State.Holds;
        if (holds.Count == 0)
        {
            // Looking at a released export must not keep an activation alive.
            DeactivateOnIdle();
        }

        return Task.FromResult(new ExportSnapshot(
            Kref,
            holds.ToDictionary(h => h.Key, h => h.Value.Count, StringComparer.Ordinal),
            state.State.Reachable,
            holds.Count > 0,
            [.. holds.Where(h => h.Value.Confirmed).Select(h => h.Key)]));
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Refused an operation of batch {Seq} from {Remote}: {Error}")]
    private static partial void LogRejected(ILogger logger, string remote, long seq, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Retire of {Kref} from {Remote} crossed a re-send ({Count} still held); kept")]
    private static partial void LogRetireCrossedResend(ILogger logger, string kref, string remote, long count);
}
