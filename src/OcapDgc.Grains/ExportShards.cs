using OcapDgc.Internal;

namespace OcapDgc;

/// <summary>
/// A kernel's export shards (<see cref="IExportShardGrain"/>), and the one way to call them: a list of exports
/// split by shard, one call per shard that has any, all at once, with the answers put back in the list's order.
/// The DGC's grains use it, and so does the reference kernel to read its exports' stored state (a read through
/// the export grain would activate it).
/// </summary>
/// <param name="grains">The grain factory.</param>
/// <param name="kernel">The kernel whose exports these are.</param>
public sealed class ExportShards(IGrainFactory grains, string kernel)
{
    // Resolved once: GetGrain resolves the interface type through reflection on every call.
    private readonly IExportShardGrain[] _shards =
        [.. Enumerable.Range(0, DgcIds.ExportShards).Select(i => grains.GetGrain<IExportShardGrain>(DgcIds.ExportShardKey(kernel, i)))];

    /// <summary>
    /// Calls <paramref name="call"/> once per shard with that shard's items (each kref once; an item naming a kref
    /// again gets the same answer); one answer per item, in order. If a call fails, this fails once all have ended.
    /// </summary>
    public async Task<TResult[]> CallAsync<TItem, TResult>(IReadOnlyList<TItem> items, Func<TItem, string> krefOf, Func<IExportShardGrain, TItem[], Task<TResult[]>> call)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        var copyOf = new int[items.Count];
        var groups = new List<int>?[DgcIds.ExportShards];
        for (var i = 0; i < items.Count; i++)
        {
            var kref = krefOf(items[i]);
            if (first.TryGetValue(kref, out var earlier))
            {
                copyOf[i] = earlier;
                continue;
            }

            first[kref] = copyOf[i] = i;
            (groups[DgcIds.ExportShardOf(kref)] ??= []).Add(i);
        }

        var results = new TResult[items.Count];
        await Task.WhenAll(groups.Select(async (group, shard) =>
        {
            if (group is null)
            {
                return;
            }

            var answers = await call(_shards[shard], [.. group.Select(i => items[i])]);
            for (var j = 0; j < group.Count; j++)
            {
                results[group[j]] = answers[j];
            }
        }));
        for (var i = 0; i < items.Count; i++)
        {
            results[i] = results[copyOf[i]];
        }

        return results;
    }

    /// <summary>The stored state of each export (see <see cref="IExportShardGrain.GetStoredSnapshotsAsync"/>).</summary>
    public Task<ExportSnapshot[]> SnapshotsAsync(IReadOnlyList<string> krefs) =>
        CallAsync(krefs, k => k, (s, part) => s.GetStoredSnapshotsAsync(part));
}
