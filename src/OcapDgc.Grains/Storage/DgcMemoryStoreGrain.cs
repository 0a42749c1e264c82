namespace OcapDgc.Storage;

/// <summary>
/// One partition of the embedded default's in-memory store (see <see cref="DgcMemoryGrainStorage"/>).
/// It keeps serialized states by key, each with a version that serves as the ETag. Unlike Orleans'
/// own memory storage grain, clearing a state removes its key: a kernel that churns millions of
/// references must not keep one tombstone per reference it ever exported.
/// </summary>
[Alias("ocap-dgc.IDgcMemoryStoreGrain")]
public interface IDgcMemoryStoreGrain : IGrainWithIntegerKey
{
    /// <summary>The stored state, or null when there is none.</summary>
    [Alias("read")]
    Task<StoredState?> ReadAsync(string key);

    /// <summary>Stores <paramref name="data"/> if <paramref name="etag"/> is the current ETag (null: no state stored). Returns the new ETag, or null on a mismatch.</summary>
    [Alias("write")]
    Task<string?> WriteAsync(string key, string? etag, StoredState data);

    /// <summary>Removes the state if <paramref name="etag"/> is the current ETag (null: no state stored). Returns false on a mismatch.</summary>
    [Alias("clear")]
    Task<bool> ClearAsync(string key, string? etag);

    /// <summary>
    /// If <paramref name="headEtag"/> is the current ETag of <paramref name="headKey"/> (a stored state): gives it
    /// a new ETag and stores <paramref name="entry"/> under <paramref name="entryKey"/> (replacing what is there),
    /// both at once. Returns the two new ETags, or null on a mismatch (nothing changed).
    /// </summary>
    [Alias("append")]
    Task<AppendedTags?> AppendAsync(string headKey, string headEtag, string entryKey, StoredState entry);

    /// <summary>How many states this partition holds (for tests and inspection).</summary>
    [Alias("count")]
    Task<int> CountAsync();
}

/// <summary>A serialized grain state and its ETag. Immutable: passed between grains without a copy.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.StoredState")]
public sealed record StoredState([property: Id(0)] ReadOnlyMemory<byte> Data, [property: Id(1)] string? ETag);

/// <summary>The new ETags of a fenced append (<see cref="IDgcJournalStorage"/>): the head's and the entry's.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.AppendedTags")]
public sealed record AppendedTags([property: Id(0)] string Head, [property: Id(1)] string Entry);

/// <inheritdoc cref="IDgcMemoryStoreGrain" />
[KeepAlive]
internal sealed class DgcMemoryStoreGrain : Grain, IDgcMemoryStoreGrain
{
    private readonly MemoryPartition<string> _partition = new(StringComparer.Ordinal);

    public Task<StoredState?> ReadAsync(string key) =>
        Task.FromResult(_partition.Read(key) is ({ } data, var version) ? new StoredState(data, MemoryPartition<string>.Tag(version)) : null);

    public Task<string?> WriteAsync(string key, string? etag, StoredState data) =>
        Task.FromResult(_partition.Write(key, etag, data.Data.ToArray()));

    public Task<bool> ClearAsync(string key, string? etag) => Task.FromResult(_partition.Clear(key, etag));

    public Task<AppendedTags?> AppendAsync(string headKey, string headEtag, string entryKey, StoredState entry) =>
        Task.FromResult(_partition.Append(headKey, headEtag, entryKey, entry.Data.ToArray()));

    public Task<int> CountAsync() => Task.FromResult(_partition.Count);
}

/// <summary>
/// The states of one partition of the in-memory store, by key: the serialized bytes and a version that
/// serves as the ETag (kept as a number; the ETag string is made when asked). Held by a
/// <see cref="DgcMemoryStoreGrain"/>, or (one silo) by the storage itself. Safe to call concurrently.
/// </summary>
internal sealed class MemoryPartition<TKey>(IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    private readonly Dictionary<TKey, (byte[] Data, long Version)> _states = new(comparer);
    private readonly Lock _lock = new();
    private long _version;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _states.Count;
            }
        }
    }

    /// <summary>The ETag of <paramref name="version"/>.</summary>
    public static string Tag(long version) => version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public (byte[]? Data, long Version) Read(TKey key)
    {
        lock (_lock)
        {
            return _states.TryGetValue(key, out var s) ? s : (null, 0);
        }
    }

    /// <summary>Stores <paramref name="data"/> if <paramref name="etag"/> is the current ETag (null: none stored); the new ETag, or null on a mismatch.</summary>
    public string? Write(TKey key, string? etag, byte[] data)
    {
        lock (_lock)
        {
            if (!Matches(key, etag))
            {
                return null;
            }

            _states[key] = (data, ++_version);
            return Tag(_version);
        }
    }

    /// <summary>
    /// If <paramref name="headEtag"/> is the current ETag of <paramref name="headKey"/>: a new version for it, and
    /// <paramref name="data"/> stored under <paramref name="entryKey"/> whatever is there; the two new ETags, or
    /// null on a mismatch.
    /// </summary>
    public AppendedTags? Append(TKey headKey, string headEtag, TKey entryKey, byte[] data)
    {
        lock (_lock)
        {
            if (!Matches(headKey, headEtag))
            {
                return null;
            }

            var head = _states[headKey];
            _states[headKey] = (head.Data, ++_version);
            var headTag = Tag(_version);
            _states[entryKey] = (data, ++_version);
            return new AppendedTags(headTag, Tag(_version));
        }
    }

    /// <summary>Removes the state if <paramref name="etag"/> is the current ETag; false on a mismatch.</summary>
    public bool Clear(TKey key, string? etag)
    {
        lock (_lock)
        {
            if (!Matches(key, etag))
            {
                return false;
            }

            _states.Remove(key);
            return true;
        }
    }

    private bool Matches(TKey key, string? etag) =>
        _states.TryGetValue(key, out var current)
            ? etag is not null && long.TryParse(etag, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) && v == current.Version
            : etag is null;
}
