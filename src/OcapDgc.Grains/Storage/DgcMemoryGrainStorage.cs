using Orleans.Serialization;
using Orleans.Storage;

namespace OcapDgc.Storage;

/// <summary>
/// The embedded default's grain storage: states live in memory, serialized with Orleans' binary
/// serializer, in <see cref="IDgcMemoryStoreGrain"/> partitions spread over the cluster like Orleans'
/// own memory storage. Two things differ from <c>AddMemoryGrainStorage</c>, both for the DGC's access
/// pattern of many small, short-lived states: a cleared state leaves nothing behind (Orleans keeps a
/// tombstone per key forever), and the state is written in Orleans' binary format rather than JSON.
/// A grain's state is always a copy: what it changes without writing never reaches the store.
/// With <c>singleSilo</c> (the embedded default: one silo) the partitions live in this object instead of
/// in grains, so a read or write is a dictionary operation rather than a grain call, and states are spread
/// and hashed by <see cref="NumberedStateKeys"/>; such a store must not be used by a cluster of more than one
/// silo (each silo would have its own).
/// </summary>
public sealed class DgcMemoryGrainStorage(IGrainFactory grains, Serializer serializer, bool singleSilo = false) : IGrainStorage, IDgcJournalStorage
{
    /// <summary>Partitions of the store; each applies its operations one at a time.</summary>
    public const int Partitions = 16;

    // Resolved once: GetGrain resolves the interface type through reflection on every call.
    private readonly IDgcMemoryStoreGrain[] _partitions =
        [.. Enumerable.Range(0, Partitions).Select(i => grains.GetGrain<IDgcMemoryStoreGrain>(i))];

    // One silo: keyed by (state name, grain id), not by a joined string, and without an object per state
    // (a state costs its bytes, its grain id and a dictionary slot: at a million refs every byte counts);
    // spread and hashed so that the rows of a kernel's consecutively numbered objects sit side by side.
    private static readonly NumberedStateKeys LocalKeys = new(Partitions);
    private readonly MemoryPartition<(string, GrainId)>[]? _local = singleSilo ? [.. Enumerable.Range(0, Partitions).Select(_ => new MemoryPartition<(string, GrainId)>(LocalKeys))] : null;

    /// <summary>Whether the partitions live in this silo's memory rather than in grains.</summary>
    public bool SingleSilo => _local is not null;

    private long _bytesWritten;

    /// <summary>Serialized bytes written so far (the benchmark reports them per reference operation).</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var (found, data, etag) = await ReadAsync(stateName, grainId).ConfigureAwait(false);
        if (!found)
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }

        grainState.State = serializer.Deserialize<T>(data);
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var data = serializer.SerializeToArray(grainState.State);
        Interlocked.Add(ref _bytesWritten, data.Length);
        var etag = (_local is { } local
                ? local[LocalKeys.StripeOf(grainId)].Write((stateName, grainId), grainState.ETag, data)
                : await Partition(grainId).WriteAsync(Key(stateName, grainId), grainState.ETag, new StoredState(data, null)).ConfigureAwait(false))
            ?? throw new InconsistentStateException($"ETag mismatch writing {Key(stateName, grainId)}: the state changed since this activation read it.", "unknown", grainState.ETag ?? "none");
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var cleared = _local is { } local
            ? local[LocalKeys.StripeOf(grainId)].Clear((stateName, grainId), grainState.ETag)
            : await Partition(grainId).ClearAsync(Key(stateName, grainId), grainState.ETag).ConfigureAwait(false);
        if (!cleared)
        {
            throw new InconsistentStateException($"ETag mismatch clearing {Key(stateName, grainId)}: the state changed since this activation read it.", "unknown", grainState.ETag ?? "none");
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    /// <inheritdoc />
    public async Task AppendAsync<THead, TEntry>(GrainId grainId, string headName, IGrainState<THead> head, string entryName, IGrainState<TEntry> entry)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(entry);
        var data = serializer.SerializeToArray(entry.State);
        var tags = head.ETag is not { } headTag
            ? null
            : _local is { } local
                ? local[LocalKeys.StripeOf(grainId)].Append((headName, grainId), headTag, (entryName, grainId), data)
                : await Partition(grainId).AppendAsync(Key(headName, grainId), headTag, Key(entryName, grainId), new StoredState(data, null)).ConfigureAwait(false);
        if (tags is null)
        {
            throw new InconsistentStateException($"ETag mismatch appending {Key(entryName, grainId)}: {headName} changed since this activation read or wrote it.", "unknown", head.ETag ?? "none");
        }

        Interlocked.Add(ref _bytesWritten, data.Length);
        (head.ETag, entry.ETag, entry.RecordExists) = (tags.Head, tags.Entry, true);
    }

    /// <inheritdoc />
    public async Task<string?> ReadTagAsync(string stateName, GrainId grainId)
    {
        var (found, _, etag) = await ReadAsync(stateName, grainId).ConfigureAwait(false);
        return found ? etag : null;
    }

    /// <summary>States held (for tests and inspection).</summary>
    public async Task<int> CountAsync() =>
        _local is { } local ? local.Sum(p => p.Count) : (await Task.WhenAll(_partitions.Select(p => p.CountAsync()))).Sum();

    private async Task<(bool Found, ReadOnlyMemory<byte> Data, string? ETag)> ReadAsync(string stateName, GrainId grainId)
    {
        if (_local is { } local)
        {
            var (data, version) = local[LocalKeys.StripeOf(grainId)].Read((stateName, grainId));
            return data is null ? (false, default, null) : (true, data, MemoryPartition<(string, GrainId)>.Tag(version));
        }

        var stored = await Partition(grainId).ReadAsync(Key(stateName, grainId)).ConfigureAwait(false);
        return stored is null ? (false, default, null) : (true, stored.Data, stored.ETag);
    }

    /// <summary>The partition that holds the states of grain <paramref name="id"/>.</summary>
    public static long PartitionOf(GrainId id) => id.GetUniformHashCode() % Partitions;

    private IDgcMemoryStoreGrain Partition(GrainId id) => _partitions[PartitionOf(id)];

    private static string Key(string stateName, GrainId id) => stateName + "|" + id;
}
