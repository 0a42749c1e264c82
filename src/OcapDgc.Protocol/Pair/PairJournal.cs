namespace OcapDgc;

/// <summary>
/// Rows of one pair's stored state: a snapshot (the whole <see cref="PairState"/>) and numbered journal
/// entries (<see cref="PairDelta"/>s). Each call reads, writes or deletes one row, atomically; deleting a
/// row that is not there does nothing.
/// </summary>
public interface IPairRows
{
    /// <summary>The snapshot, or null if there is none.</summary>
    Task<PairState?> ReadSnapshotAsync();

    /// <summary>Writes the snapshot (replacing the one there).</summary>
    Task WriteSnapshotAsync(PairState state);

    /// <summary>Deletes the snapshot.</summary>
    Task DeleteSnapshotAsync();

    /// <summary>Journal entry <paramref name="number"/>, or null if there is none.</summary>
    Task<PairDelta?> ReadEntryAsync(long number);

    /// <summary>
    /// Writes journal entry <paramref name="number"/>. A store that can should do it fenced by the snapshot,
    /// atomically: only if the snapshot is still the one last read or written through these rows, marking it
    /// changed, and replacing any row of that number (only a stray could be there); otherwise it throws and
    /// changes nothing. <see cref="PairJournal"/> writes an entry only after a snapshot exists.
    /// </summary>
    Task WriteEntryAsync(long number, PairDelta delta);

    /// <summary>Deletes journal entry <paramref name="number"/>.</summary>
    Task DeleteEntryAsync(long number);

    /// <summary>
    /// Whether the stored snapshot is still the one last read or written through these rows (no other activation
    /// of the same pair wrote since). A store that cannot tell cheaply answers true.
    /// </summary>
    Task<bool> IsCurrentAsync();
}

/// <summary>
/// Stores a <see cref="PairState"/> so that a write costs what changed, not what the pair holds: each
/// write appends one journal entry (the <see cref="PairDelta"/> since the last write), one row, written
/// atomically. Once the entries since the snapshot weigh as much as the state itself (or there are
/// <see cref="MaxEntries"/> of them), the next write is a new snapshot instead, and the entries it
/// includes are deleted; so the bytes written stay within a small factor of the bytes changed, and a
/// load reads at most <see cref="MaxEntries"/> entries.
/// </summary>
/// <remarks>
/// Crash safety: the snapshot names the last entry it includes (<see cref="PairState.JournalVersion"/>)
/// and the lowest one that may still be stored (<see cref="PairState.JournalFloor"/>); a load applies the
/// entries after it, in order, up to the first missing number, and deletes those it includes. Clearing
/// first writes a small snapshot marked <see cref="PairState.JournalClearing"/>, then deletes the entries,
/// then the snapshot: a crash part way is finished by the next load, and no entry is ever left without a
/// snapshot that accounts for it. A failed write makes the next one a snapshot (the journal cannot tell
/// whether the failed entry was stored, so the snapshot covers its number too). A new journal's first
/// write is a snapshot, so every entry has a snapshot to be fenced by (see <see cref="IPairRows.WriteEntryAsync"/>):
/// a second activation over the same rows cannot then interleave its entries with the first one's.
/// </remarks>
public sealed class PairJournal(IPairRows rows, int maxEntries = PairJournal.DefaultMaxEntries)
{
    /// <summary>The default <see cref="MaxEntries"/>.</summary>
    public const int DefaultMaxEntries = 1024;

    // Not persisted: per activation.
    private long _version;        // the last entry written or read (or the snapshot's version)
    private long _snapshotVersion;
    private long _floor = 1;      // the lowest entry that may be stored
    private long _weightSince;    // weight of the entries after the snapshot
    private bool _broken;         // a write failed: the next write is a snapshot
    private bool _compacted;      // the entries the last snapshot includes were deleted (said in the next entry)
    private bool _exists;         // some row is stored
    private bool _hasSnapshot;    // a snapshot row is stored (entries are written only after one)

    /// <summary>Entries after which the next write is a snapshot.</summary>
    public int MaxEntries => maxEntries;

    /// <summary>Snapshots written by this journal (for tests and the benchmark).</summary>
    public long SnapshotsWritten { get; private set; }

    /// <summary>Entries written by this journal.</summary>
    public long EntriesWritten { get; private set; }

    /// <summary>Reads the state: the snapshot and the entries after it (a fresh state if none), and finishes an interrupted clear or compaction.</summary>
    public async Task<PairState> LoadAsync()
    {
        var state = await rows.ReadSnapshotAsync();
        if (state is { JournalClearing: true })
        {
            await DeleteEntriesAsync(state.JournalFloor, state.JournalVersion);
            await rows.DeleteSnapshotAsync();
            state = null;
        }

        _exists = _hasSnapshot = state is not null;
        state ??= new PairState();
        _snapshotVersion = _version = state.JournalVersion;
        _floor = state.JournalFloor is > 0 and var f ? f : _version + 1;
        var cleaned = false;
        for (var n = _version + 1; await rows.ReadEntryAsync(n) is { } delta; n++)
        {
            cleaned |= n == _snapshotVersion + 1 && delta.Compacted;
            delta.ApplyTo(state);
            _version = n;
            _weightSince += delta.Weight;
            _exists = true;
        }

        if (_floor <= _snapshotVersion)
        {
            if (!cleaned)
            {
                // A compaction stopped before it deleted the entries its snapshot includes.
                await DeleteEntriesAsync(_floor, _snapshotVersion);
            }

            _floor = _snapshotVersion + 1;
            _compacted = true;
        }

        state.Changes.Reset(state);
        return state;
    }

    /// <summary>Whether no other activation of the pair wrote its rows since this journal last read or wrote them (<see cref="IPairRows.IsCurrentAsync"/>).</summary>
    public Task<bool> IsCurrentAsync() => rows.IsCurrentAsync();

    /// <summary>Writes what changed in <paramref name="state"/> since it was loaded or last written.</summary>
    public async Task WriteAsync(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var delta = state.Changes.Take(state);
        var number = _version + 1;
        _version = number;
        try
        {
            if (_broken || !_hasSnapshot || _weightSince + delta.Weight > Math.Max(Weight(state), 256) || number - _snapshotVersion > maxEntries)
            {
                await SnapshotAsync(state, number);
            }
            else
            {
                delta.Compacted = _compacted;
                await rows.WriteEntryAsync(number, delta);
                EntriesWritten++;
                _weightSince += delta.Weight;
                _compacted = false;
            }

            _exists = true;
        }
        catch
        {
            _broken = true;
            throw;
        }
    }

    /// <summary>Deletes every row of the state; the next write starts a new journal.</summary>
    public async Task ClearAsync()
    {
        if (_exists)
        {
            // Marked first, so a crash part way is finished by the next load and leaves no entry behind.
            var tombstone = new PairState { JournalClearing = true, JournalFloor = _floor, JournalVersion = _version };
            await rows.WriteSnapshotAsync(tombstone);
            await DeleteEntriesAsync(tombstone.JournalFloor, tombstone.JournalVersion);
            await rows.DeleteSnapshotAsync();
        }

        _version = _snapshotVersion = _weightSince = 0;
        _floor = 1;
        _broken = _compacted = _exists = _hasSnapshot = false;
    }

    private async Task SnapshotAsync(PairState state, long number)
    {
        state.JournalVersion = number;
        state.JournalFloor = _floor;
        await rows.WriteSnapshotAsync(state);
        SnapshotsWritten++;
        _hasSnapshot = true;
        _snapshotVersion = number;
        _weightSince = 0;
        _broken = false;

        // The entries it includes are not needed any more (there is none numbered as the snapshot); the next
        // entry says they are gone.
        await DeleteEntriesAsync(_floor, number - 1);
        _floor = number + 1;
        _compacted = true;
    }

    private async Task DeleteEntriesAsync(long from, long to)
    {
        for (var n = from; n <= to; n++)
        {
            await rows.DeleteEntryAsync(n);
        }
    }

    private static long Weight(PairState s) =>
        1 + s.Exports.Count + s.Imports.Count + s.Revoked.Count + s.Queue.Count + s.Unacked.Count + s.Outbox.Count + s.EndingSession.Count + s.MessagesSeen.Count;
}
