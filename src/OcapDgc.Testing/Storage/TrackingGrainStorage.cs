using Orleans.Storage;

namespace OcapDgc.Storage;

/// <summary>
/// Counts the storage entries the DGC grains hold in this silo: an entry is counted from its first
/// write (or a read that found it) until it is cleared. It lets the demo and the tests show that a
/// fully released export leaves no storage entry behind. It also counts the operations that reached
/// the backend, so the benchmark can report storage writes per reference operation.
/// </summary>
public sealed class DgcStorageTracker
{
    // Keyed by state name and grain id as they are (no string is built per operation), in stripes by grain id,
    // each with its own lock: many grains write at once, and a stripe that grows holds up only its own writers.
    // Spread and hashed as the one-silo memory store does (NumberedStateKeys): a fresh object's entry goes next to
    // the one before, not to a random place in a set of millions.
    private const int Stripes = 64;
    private static readonly NumberedStateKeys KeyHashing = new(Stripes);
    private readonly (Lock Gate, HashSet<(string StateName, GrainId Id)> Set)[] _live =
        [.. Enumerable.Range(0, Stripes).Select(_ => (new Lock(), new HashSet<(string, GrainId)>(KeyHashing)))];
    private long _reads;
    private long _writes;
    private long _clears;

    /// <summary>Reads passed to the backend so far.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Writes passed to the backend so far.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Clears (deletes) passed to the backend so far.</summary>
    public long Clears => Interlocked.Read(ref _clears);

    /// <summary>Live entries, all state names together.</summary>
    public int Count => Keys().Count();

    /// <summary>
    /// Live entries of one state name (see <see cref="Hosting.DgcStateNames"/>, e.g. <see cref="Hosting.DgcStateNames.Export"/>),
    /// with the journal entries stored under it (<c>remote~N</c> for <c>remote</c>).
    /// </summary>
    public int CountOf(string stateName)
    {
        var journal = stateName + "~";
        return Keys().Count(k => k.StateName == stateName || k.StateName.StartsWith(journal, StringComparison.Ordinal));
    }

    /// <summary>Whether the grain has a live entry of that state name (or a journal entry under it).</summary>
    public bool Has(string stateName, GrainId id)
    {
        var journal = stateName + "~";
        var (gate, set) = StripeOf(id);
        lock (gate)
        {
            return set.Contains((stateName, id)) || set.Any(k => k.Id == id && k.StateName.StartsWith(journal, StringComparison.Ordinal));
        }
    }

    internal void Add(string stateName, GrainId id)
    {
        var (gate, set) = StripeOf(id);
        lock (gate)
        {
            set.Add((stateName, id));
        }
    }

    internal void Remove(string stateName, GrainId id)
    {
        var (gate, set) = StripeOf(id);
        lock (gate)
        {
            set.Remove((stateName, id));
        }
    }

    private (Lock Gate, HashSet<(string StateName, GrainId Id)> Set) StripeOf(GrainId id) => _live[KeyHashing.StripeOf(id)];

    /// <summary>Every live entry, one stripe at a time (a copy of each).</summary>
    private IEnumerable<(string StateName, GrainId Id)> Keys()
    {
        foreach (var (gate, set) in _live)
        {
            (string, GrainId)[] keys;
            lock (gate)
            {
                keys = [.. set];
            }

            foreach (var k in keys)
            {
                yield return k;
            }
        }
    }

    internal void CountRead() => Interlocked.Increment(ref _reads);

    internal void CountWrite() => Interlocked.Increment(ref _writes);

    internal void CountClear() => Interlocked.Increment(ref _clears);
}

/// <summary>
/// Passes every call to the backend storage and records live entries in <see cref="DgcStorageTracker"/>. Made by
/// <see cref="Wrap"/>, which keeps the backend's fenced journal appends (<see cref="IDgcJournalStorage"/>) where it has them.
/// </summary>
public class TrackingGrainStorage(IGrainStorage backend, DgcStorageTracker tracker) : IGrainStorage
{
    /// <summary>Where the operations are counted.</summary>
    protected DgcStorageTracker Tracker => tracker;

    /// <summary>A tracking storage over <paramref name="backend"/>: a <see cref="TrackingJournalStorage"/> if the backend appends journal entries fenced, so wrapping it does not turn that off.</summary>
    public static TrackingGrainStorage Wrap(IGrainStorage backend, DgcStorageTracker tracker) =>
        backend is IDgcJournalStorage journal ? new TrackingJournalStorage(backend, journal, tracker) : new TrackingGrainStorage(backend, tracker);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        tracker.CountRead();
        await backend.ReadStateAsync(stateName, grainId, grainState).ConfigureAwait(false);
        if (grainState.RecordExists)
        {
            tracker.Add(stateName, grainId);
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        tracker.CountWrite();
        await backend.WriteStateAsync(stateName, grainId, grainState).ConfigureAwait(false);
        tracker.Add(stateName, grainId);
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        tracker.CountClear();
        await backend.ClearStateAsync(stateName, grainId, grainState).ConfigureAwait(false);
        tracker.Remove(stateName, grainId);
    }
}

/// <summary>A <see cref="TrackingGrainStorage"/> over a backend with fenced journal appends, which it passes on (counted as writes).</summary>
public sealed class TrackingJournalStorage(IGrainStorage backend, IDgcJournalStorage journal, DgcStorageTracker tracker)
    : TrackingGrainStorage(backend, tracker), IDgcJournalStorage
{
    /// <inheritdoc />
    public async Task AppendAsync<THead, TEntry>(GrainId grainId, string headName, IGrainState<THead> head, string entryName, IGrainState<TEntry> entry)
    {
        Tracker.CountWrite();
        await journal.AppendAsync(grainId, headName, head, entryName, entry).ConfigureAwait(false);
        Tracker.Add(entryName, grainId);
    }

    /// <inheritdoc />
    public Task<string?> ReadTagAsync(string stateName, GrainId grainId)
    {
        Tracker.CountRead();
        return journal.ReadTagAsync(stateName, grainId);
    }
}
