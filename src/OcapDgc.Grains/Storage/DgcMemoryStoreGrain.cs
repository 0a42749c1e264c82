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

    /// <summary>How many states this partition holds (for tests and inspection).</summary>
    [Alias("count")]
    Task<int> CountAsync();
}

/// <summary>A serialized grain state and its ETag. Immutable: passed between grains without a copy.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.StoredState")]
public sealed record StoredState([property: Id(0)] ReadOnlyMemory<byte> Data, [property: Id(1)] string? ETag);

/// <inheritdoc cref="IDgcMemoryStoreGrain" />
[KeepAlive]
internal sealed class DgcMemoryStoreGrain : Grain, IDgcMemoryStoreGrain
{
    private readonly Dictionary<string, StoredState> _states = new(StringComparer.Ordinal);
    private long _version;

    public Task<StoredState?> ReadAsync(string key) => Task.FromResult(_states.GetValueOrDefault(key));

    public Task<string?> WriteAsync(string key, string? etag, StoredState data)
    {
        if (!Matches(key, etag))
        {
            return Task.FromResult<string?>(null);
        }

        var next = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _states[key] = data with { ETag = next };
        return Task.FromResult<string?>(next);
    }

    public Task<bool> ClearAsync(string key, string? etag)
    {
        if (!Matches(key, etag))
        {
            return Task.FromResult(false);
        }

        _states.Remove(key);
        return Task.FromResult(true);
    }

    public Task<int> CountAsync() => Task.FromResult(_states.Count);

    private bool Matches(string key, string? etag) =>
        _states.TryGetValue(key, out var current) ? current.ETag == etag : etag is null;
}
