using System.Text.Json;

namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>
/// One pair's stored rows in the simulation (the grain storage): the snapshot and journal entries as JSON,
/// so nothing stored changes with the live state. <see cref="Image"/> reads the state as a load would.
/// </summary>
public sealed class SimRows : IPairRows
{
    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false };

    private byte[]? _snapshot;
    private readonly SortedDictionary<long, byte[]> _entries = [];

    /// <summary>The state as stored, kept up to date row by row (what <see cref="Image"/> would read, but cheap).</summary>
    public PairState? Current { get; private set; }

    /// <summary>Whether any row is stored.</summary>
    public bool Any => _snapshot is not null || _entries.Count > 0;

    /// <summary>Rows written (snapshots and entries).</summary>
    public long Writes { get; private set; }

    /// <summary>Bytes written.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>How many entry rows are stored.</summary>
    public int EntryCount => _entries.Count;

    /// <summary>Counts down row writes and deletes; the one that reaches zero throws instead (0: off).</summary>
    public int FailAt { get; set; }

    public Task<PairState?> ReadSnapshotAsync() => Task.FromResult(_snapshot is null ? null : JsonSerializer.Deserialize<PairState>(_snapshot, Json));

    public Task WriteSnapshotAsync(PairState state)
    {
        Tick();
        _snapshot = JsonSerializer.SerializeToUtf8Bytes(state, Json);
        (Writes, BytesWritten) = (Writes + 1, BytesWritten + _snapshot.Length);
        Current = state.JournalClearing ? null : JsonSerializer.Deserialize<PairState>(_snapshot, Json);
        return Task.CompletedTask;
    }

    public Task DeleteSnapshotAsync()
    {
        Tick();
        _snapshot = null;
        Current = null;
        return Task.CompletedTask;
    }

    /// <summary>The simulation runs one activation of each pair at a time: always current.</summary>
    public Task<bool> IsCurrentAsync() => Task.FromResult(true);

    public Task<PairDelta?> ReadEntryAsync(long number) =>
        Task.FromResult(_entries.TryGetValue(number, out var b) ? JsonSerializer.Deserialize<PairDelta>(b, Json) : null);

    public Task WriteEntryAsync(long number, PairDelta delta)
    {
        Tick();
        if (_entries.ContainsKey(number))
        {
            throw new InvalidOperationException($"journal entry {number} written twice");
        }

        if (_snapshot is null)
        {
            throw new InvalidOperationException($"journal entry {number} written with no snapshot to fence it");
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(delta, Json);
        _entries[number] = bytes;
        (Writes, BytesWritten) = (Writes + 1, BytesWritten + bytes.Length);
        Current ??= new PairState();
        JsonSerializer.Deserialize<PairDelta>(bytes, Json)!.ApplyTo(Current);
        return Task.CompletedTask;
    }

    public Task DeleteEntryAsync(long number)
    {
        Tick();
        _entries.Remove(number);
        return Task.CompletedTask;
    }

    /// <summary>The state a load would read, without finishing anything (null: nothing stored, or a clear under way).</summary>
    public PairState? Image()
    {
        var state = _snapshot is null ? new PairState() : JsonSerializer.Deserialize<PairState>(_snapshot, Json)!;
        if (state.JournalClearing)
        {
            return null;
        }

        var any = _snapshot is not null;
        for (var n = state.JournalVersion + 1; _entries.TryGetValue(n, out var b); n++)
        {
            JsonSerializer.Deserialize<PairDelta>(b, Json)!.ApplyTo(state);
            any = true;
        }

        return any ? state : null;
    }

    /// <summary>
    /// A state in a canonical form (sorted tables and sets, and without the journal's own fields), so two
    /// states with the same content compare equal whatever order they were built in.
    /// </summary>
    public static string Canonical(PairState s)
    {
        var header = PairHeader.Of(s);
        header.MessagesSeen.Sort();
        return JsonSerializer.Serialize(new
        {
            header,
            exports = s.Exports.OrderBy(e => e.Key).Select(e => new object[] { e.Key, e.Value }),
            imports = s.Imports.OrderBy(e => e.Key).Select(e => new object[] { e.Key, e.Value }),
            revoked = s.Revoked.Order(StringComparer.Ordinal),
            queue = s.Queue,
            unacked = s.Unacked,
            outbox = s.Outbox,
        }, Json);
    }

    private void Tick()
    {
        if (FailAt > 0 && --FailAt == 0)
        {
            throw new SimCrashException("the storage failed at a row");
        }
    }
}
