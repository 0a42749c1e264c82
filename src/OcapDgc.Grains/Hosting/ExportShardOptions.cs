namespace OcapDgc.Hosting;

/// <summary>
/// How the export shards keep rows (section <c>Dgc:ExportShards</c>), validated at start-up by
/// <see cref="ExportShardOptionsValidator"/>.
/// </summary>
public sealed class ExportShardOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Dgc:ExportShards";

    /// <summary>The cache size when none is configured and the storage is not this process's memory.</summary>
    public const int DefaultCachedRows = 8192;

    /// <summary>
    /// Export rows each shard keeps in memory (about 300 bytes each), so an export in use costs no storage read;
    /// beyond it the oldest are read again when next used. Not set: <see cref="DefaultCachedRows"/>, or 0 with the
    /// one-silo in-memory storage (<c>UseDgcInMemoryStorage(singleSilo: true)</c>), where a read is a lookup in this
    /// process's memory and a cache would only keep every row twice. 0: no cache.
    /// </summary>
    public int? CachedRows { get; set; }

    /// <summary>The cache size in effect.</summary>
    public int EffectiveCachedRows => CachedRows ?? DefaultCachedRows;
}
