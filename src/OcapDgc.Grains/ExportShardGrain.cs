using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IExportShardGrain" />
/// <remarks>
/// It keeps no state of its own: each export's state is its <see cref="IExportGrain"/> row, read, changed by the
/// same <see cref="ExportLedger"/> rules and written back with that row's ETag, so a second activation of the
/// shard (Orleans can briefly keep one after a silo dies) or of the export grain cannot overwrite what the other
/// wrote: its write fails, it forgets its copy of the row and decides once more on the stored row. It caches up to
/// <see cref="ExportShardOptions.CachedRows"/> rows, so a busy export costs no read.
/// </remarks>
public sealed class ExportShardGrain(
    [FromKeyedServices(DgcStorage.Name)] IGrainStorage storage,
    IOptions<ExportShardOptions> options,
    ILogger<ExportShardGrain> logger) : Grain, IExportShardGrain
{
    /// <summary>Rows this shard keeps in memory at most; beyond it the oldest are read again when next used.</summary>
    private readonly int _cachedRows = options.Value.EffectiveCachedRows;

    // Not persisted: per activation.
    private readonly Dictionary<string, GrainState<ExportState>> _rows = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private string _kernel = "";
    private byte[] _keyPrefix = [];
    private int _shard;
    private GrainType _exportType;

    /// <summary>One change of the ledger: its result, and whether it changed the state (then it is written).</summary>
    private delegate ExportApplyResult LedgerChange(ExportLedger ledger, out bool changed);

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (kernel, shard) = DgcIds.SplitKey(this.GetPrimaryKeyString());
        DgcIds.ValidateKernelId(kernel, "kernel");
        if (!int.TryParse(shard, NumberStyles.None, CultureInfo.InvariantCulture, out _shard) || _shard >= DgcIds.ExportShards)
        {
            throw new ArgumentException($"'{shard}' is not an export shard number (0 to {DgcIds.ExportShards - 1}).");
        }

        _kernel = kernel;
        _keyPrefix = Encoding.UTF8.GetBytes(DgcIds.ExportKey(kernel, ""));
        _exportType = GrainFactory.GetGrain<IExportGrain>(DgcIds.ExportKey(kernel, "ko0")).GetGrainId().Type;
        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task RecordSentAsync(string remote, string[] krefs, long[] counts)
    {
        Validate(remote, krefs, counts?.Length);
        if (counts!.Any(c => c < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(counts), "Every count of sends must be at least 1.");
        }

        return Task.WhenAll(krefs.Select((k, i) => RecordSentAsync(remote, k, counts![i])));
    }

    /// <inheritdoc />
    public async Task<ExportApplyResult[]> ApplyAsync(string remote, long stream, long seq, ExportOps[] exports)
    {
        ArgumentNullException.ThrowIfNull(exports);
        Validate(remote, [.. exports.Select(e => e?.Kref!)], exports.Length);
        foreach (var e in exports)
        {
            if (e.Ops is null || e.Counts is null || e.Ops.Length != e.Counts.Length)
            {
                throw new ArgumentException($"{e.Kref}: ops and counts must be given, of the same length.", nameof(exports));
            }
        }

        var results = await Task.WhenAll(exports.Select(e => ChangeAsync(
            e.Kref,
            (ExportLedger l, out bool c) => l.Apply(remote, stream, seq, e.Ops, e.Counts, out c),
            x => x.ApplyAsync(remote, stream, seq, e.Ops, e.Counts),
            $"batch {stream}/{seq}",
            remote)));
        foreach (var r in results)
        {
            ExportLog.Refused(logger, remote, seq, r);
        }

        return results;
    }

    /// <inheritdoc />
    public Task<ExportApplyResult[]> ExpireRemoteAsync(string remote, string[] krefs)
    {
        Validate(remote, krefs, krefs?.Length);
        return Task.WhenAll(krefs!.Select(k => ChangeAsync(
            k,
            (ExportLedger l, out bool c) => l.ExpireRemote(remote, out c),
            x => x.ExpireRemoteAsync(remote),
            "a session end",
            remote)));
    }

    /// <inheritdoc />
    public Task<ExportApplyResult[]> ReleaseLostSendsAsync(string remote, string[] krefs, bool[] forget)
    {
        Validate(remote, krefs, forget?.Length);
        return Task.WhenAll(krefs.Select((k, i) => ChangeAsync(
            k,
            (ExportLedger l, out bool c) => l.ReleaseLostSends(remote, forget![i], out c),
            x => x.ReleaseLostSendsAsync(remote, forget![i]),
            "a release of lost sends",
            remote)));
    }

    /// <inheritdoc />
    public async Task<string[][]> DeleteAsync(string[] krefs)
    {
        ValidateKrefs(krefs);

        // Whether a remote still reaches one is decided on what is stored, and before anything is deleted.
        var rows = await Task.WhenAll(krefs.Select(ReadAsync));
        var reachable = krefs.Where((_, i) => rows[i].State!.Reachable).ToArray();
        if (reachable.Length > 0)
        {
            throw new DgcException(DgcError.StillReachable, $"Still reachable from a remote, so not deleted: {string.Join(", ", reachable)}.");
        }

        return await Task.WhenAll(krefs.Select(async (k, i) =>
        {
            var row = rows[i];
            Forget(k);
            if (row.State!.Shared)
            {
                return await Export(k).DeleteAsync();
            }

            var recognizers = new ExportLedger(k, row.State!).Delete();
            if (row.RecordExists)
            {
                await storage.ClearStateAsync(DgcStateNames.Export, IdOf(k), row);
            }

            return recognizers;
        }));
    }

    /// <inheritdoc />
    public async Task<ExportSnapshot[]> GetStoredSnapshotsAsync(string[] krefs)
    {
        ValidateKrefs(krefs);
        var rows = await Task.WhenAll(krefs.Select(ReadAsync));
        for (var i = 0; i < krefs.Length; i++)
        {
            // As fresh as it gets: later calls start from it.
            Remember(krefs[i], rows[i]);
        }

        return [.. krefs.Select((k, i) => new ExportLedger(k, rows[i].State!).Snapshot())];
    }

    /// <summary>
    /// Counts sends of one export. A send to a second remote hands the export over to its export grain: the row is
    /// marked <see cref="ExportState.Shared"/> (written first, so no later write of this shard can land on it), and
    /// the send is counted there.
    /// </summary>
    private async Task RecordSentAsync(string remote, string kref, long count)
    {
        if (!_rows.ContainsKey(kref))
        {
            // Not cached: most often a fresh export, with no row yet. Its row is then made without a read, by a write
            // that the storage accepts only while no row is stored (no ETag). If one is, the write is refused, stores
            // nothing, and the send is decided on the stored row.
            try
            {
                var fresh = new GrainState<ExportState> { State = new ExportState() };
                Remember(kref, fresh);
                await RecordSentAsync(remote, kref, count, fresh);
                return;
            }
            catch (InconsistentStateException)
            {
            }
        }

        await AgainIfStaleAsync(async () =>
        {
            await RecordSentAsync(remote, kref, count, (await RowAsync(kref)).Row);
            return true;
        });
    }

    private async Task RecordSentAsync(string remote, string kref, long count, GrainState<ExportState> row)
    {
        if (!row.State!.Shared && row.State!.Holds.Count > 0 && !row.State!.Holds.ContainsKey(remote))
        {
            row.State!.Shared = true;
            await WriteAsync(kref, row);
        }

        if (row.State!.Shared)
        {
            await Export(kref).RecordSentAsync(remote, count);
            return;
        }

        var was = ExportLog.Traced(logger, row.State!);
        new ExportLedger(kref, row.State!).RecordSent(remote, count);
        await WriteAsync(kref, row);
        ExportLog.Reachability(logger, DgcIds.ExportKey(_kernel, kref), row.State!, was, "a send", remote);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to one export: here while the shard owns its row, at its export grain
    /// (<paramref name="forward"/>) once the row is shared. If it would change nothing by the cached row, it decides
    /// again on the row as stored (a second activation may have written it since: answering "nothing to release"
    /// from an old copy would leave a hold counted for good). Writes the row if it changed, or clears it once no
    /// remote recognizes the object.
    /// </summary>
    private Task<ExportApplyResult> ChangeAsync(string kref, LedgerChange change, Func<IExportGrain, Task<ExportApplyResult>> forward, string what, string remote) =>
        AgainIfStaleAsync(() => ChangeOnceAsync(kref, change, forward, what, remote));

    /// <summary>
    /// Runs <paramref name="step"/>, and once more if a write was refused on its ETag: the cached row was older than
    /// the stored one (another activation wrote it since), was forgotten, and the step decides again on the stored row.
    /// Nothing of a refused write was stored, so deciding again counts nothing twice.
    /// </summary>
    private static async Task<T> AgainIfStaleAsync<T>(Func<Task<T>> step)
    {
        try
        {
            return await step();
        }
        catch (InconsistentStateException)
        {
            return await step();
        }
    }

    private async Task<ExportApplyResult> ChangeOnceAsync(string kref, LedgerChange change, Func<IExportGrain, Task<ExportApplyResult>> forward, string what, string remote)
    {
        var (row, cached) = await RowAsync(kref);
        if (!row.State!.Shared)
        {
            var was = ExportLog.Traced(logger, row.State!);
            var result = change(new ExportLedger(kref, row.State!), out var changed);
            if (!changed && !cached)
            {
                // Decided on the row as stored just now.
                return result;
            }

            if (!changed)
            {
                var stored = await ReadAsync(kref);
                if (string.Equals(stored.ETag, row.ETag, StringComparison.Ordinal))
                {
                    return result;
                }

                Remember(kref, row = stored);
                if (!row.State!.Shared)
                {
                    was = ExportLog.Traced(logger, row.State!);
                    result = change(new ExportLedger(kref, row.State!), out changed);
                    if (!changed)
                    {
                        return result;
                    }
                }
            }

            if (!row.State!.Shared)
            {
                await SaveAsync(kref, row, result.Retired);
                ExportLog.Reachability(logger, DgcIds.ExportKey(_kernel, kref), row.State!, was, what, remote);
                return result;
            }
        }

        var forwarded = await forward(Export(kref));
        if (forwarded.Retired)
        {
            // The export grain cleared the row.
            Forget(kref);
        }

        return forwarded;
    }

    /// <summary>The row, cached or read (then <c>Cached</c> is false: it is the row as stored just now).</summary>
    private async Task<(GrainState<ExportState> Row, bool Cached)> RowAsync(string kref)
    {
        if (_rows.TryGetValue(kref, out var row))
        {
            return (row, true);
        }

        row = await ReadAsync(kref);
        Remember(kref, row);
        return (row, false);
    }

    /// <summary>The row as stored now (an empty state if there is none).</summary>
    private async Task<GrainState<ExportState>> ReadAsync(string kref)
    {
        var row = new GrainState<ExportState>();
        await storage.ReadStateAsync(DgcStateNames.Export, IdOf(kref), row);
        if (!row.RecordExists || row.State is null)
        {
            row.State = new ExportState();
        }

        return row;
    }

    /// <summary>Writes the row, or clears it (no row left) once no remote recognizes the object.</summary>
    private async Task SaveAsync(string kref, GrainState<ExportState> row, bool retired)
    {
        if (!retired)
        {
            await WriteAsync(kref, row);
            return;
        }

        Forget(kref);
        if (row.RecordExists)
        {
            await storage.ClearStateAsync(DgcStateNames.Export, IdOf(kref), row);
        }
    }

    private async Task WriteAsync(string kref, GrainState<ExportState> row)
    {
        try
        {
            await storage.WriteStateAsync(DgcStateNames.Export, IdOf(kref), row);
        }
        catch
        {
            // Refused (another activation wrote it since) or failed: this copy may be wrong either way.
            Forget(kref);
            throw;
        }
    }

    private void Remember(string kref, GrainState<ExportState> row)
    {
        if (_cachedRows == 0)
        {
            return;
        }

        _rows[kref] = row;
        _order.Enqueue(kref);
        while (_rows.Count > _cachedRows && _order.TryDequeue(out var oldest))
        {
            if (!string.Equals(oldest, kref, StringComparison.Ordinal))
            {
                _rows.Remove(oldest);
            }
        }

        if (_order.Count > 2 * _cachedRows)
        {
            // Krefs remembered again since they were queued: queue each once.
            var live = _rows.Keys.ToList();
            _order.Clear();
            live.ForEach(_order.Enqueue);
        }
    }

    private void Forget(string kref) => _rows.Remove(kref);

    /// <summary>The export grain's id of <paramref name="kref"/>: its key <c>kernel/kref</c> (<see cref="DgcIds.ExportKey"/>) encoded directly, without the string.</summary>
    private GrainId IdOf(string kref)
    {
        var key = new byte[_keyPrefix.Length + Encoding.UTF8.GetByteCount(kref)];
        _keyPrefix.CopyTo(key, 0);
        Encoding.UTF8.GetBytes(kref, key.AsSpan(_keyPrefix.Length));
        return GrainId.Create(_exportType, new IdSpan(key));
    }

    private IExportGrain Export(string kref) => GrainFactory.GetGrain<IExportGrain>(DgcIds.ExportKey(_kernel, kref));

    private void Validate(string remote, string[] krefs, int? length)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        ValidateKrefs(krefs);
        if (length != krefs.Length)
        {
            throw new ArgumentException("Every kref needs exactly one entry in each list.", nameof(krefs));
        }
    }

    private void ValidateKrefs(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kref in krefs)
        {
            DgcIds.ValidateKref(kref, nameof(krefs));
            if (!seen.Add(kref))
            {
                throw new ArgumentException($"{kref} is named twice; each export once per call.", nameof(krefs));
            }

            if (DgcIds.ExportShardOf(kref) != _shard)
            {
                throw new ArgumentException($"{kref} belongs to export shard {DgcIds.ExportShardOf(kref)}, not {_shard}.", nameof(krefs));
            }
        }
    }
}
