using System.Globalization;
using OcapDgc.Hosting;
using Orleans.Storage;

namespace OcapDgc.Storage;

/// <summary>
/// A remote handle's rows in the DGC's grain storage: the snapshot under <see cref="DgcStateNames.RemoteHandle"/>
/// and journal entry N under <see cref="DgcStateNames.RemoteHandleEntry"/>, all keyed by the handle's grain id.
/// Keeps each row's ETag, so every write and delete is checked against what this activation read or wrote.
/// Where the storage offers it (<see cref="IDgcJournalStorage"/>: both of the DGC's own do), an entry is
/// appended fenced by the snapshot row, which gets a new ETag with it: so once another activation of the
/// same handle wrote anything, this one can write nothing more, not even an entry (see
/// <see cref="IDgcJournalStorage"/>).
/// </summary>
/// <param name="storage">The DGC's grain storage.</param>
/// <param name="grainId">The remote handle.</param>
public sealed class GrainPairRows(IGrainStorage storage, GrainId grainId) : IPairRows
{
    // Not persisted: the ETags of the rows this activation read or wrote.
    private readonly GrainState<PairState> _snapshot = new();
    private readonly Dictionary<long, string?> _entryTags = [];

    /// <inheritdoc />
    public async Task<PairState?> ReadSnapshotAsync()
    {
        await storage.ReadStateAsync(DgcStateNames.RemoteHandle, grainId, _snapshot);
        return _snapshot.RecordExists ? _snapshot.State : null;
    }

    /// <inheritdoc />
    public Task WriteSnapshotAsync(PairState state)
    {
        _snapshot.State = state;
        return storage.WriteStateAsync(DgcStateNames.RemoteHandle, grainId, _snapshot);
    }

    /// <inheritdoc />
    public async Task DeleteSnapshotAsync()
    {
        if (_snapshot.RecordExists)
        {
            await storage.ClearStateAsync(DgcStateNames.RemoteHandle, grainId, _snapshot);
        }

        _snapshot.State = new PairState();
    }

    /// <inheritdoc />
    /// <remarks>Only a storage that can read a row's ETag alone (<see cref="IDgcJournalStorage"/>) can tell; any other answers true.</remarks>
    public async Task<bool> IsCurrentAsync() =>
        storage is not IDgcJournalStorage journal
        || string.Equals(await journal.ReadTagAsync(DgcStateNames.RemoteHandle, grainId), _snapshot.RecordExists ? _snapshot.ETag : null, StringComparison.Ordinal);

    /// <inheritdoc />
    public async Task<PairDelta?> ReadEntryAsync(long number)
    {
        var row = new GrainState<PairDelta>();
        await storage.ReadStateAsync(DgcStateNames.RemoteHandleEntry(number), grainId, row);
        if (!row.RecordExists)
        {
            return null;
        }

        _entryTags[number] = row.ETag;
        return row.State;
    }

    /// <inheritdoc />
    public async Task WriteEntryAsync(long number, PairDelta delta)
    {
        var row = new GrainState<PairDelta>(delta);
        if (storage is IDgcJournalStorage journal && _snapshot.RecordExists)
        {
            await journal.AppendAsync(grainId, DgcStateNames.RemoteHandle, _snapshot, DgcStateNames.RemoteHandleEntry(number), row);
        }
        else
        {
            await storage.WriteStateAsync(DgcStateNames.RemoteHandleEntry(number), grainId, row);
        }

        _entryTags[number] = row.ETag;
    }

    /// <inheritdoc />
    public async Task DeleteEntryAsync(long number)
    {
        var name = DgcStateNames.RemoteHandleEntry(number);
        var row = new GrainState<PairDelta>();
        if (_entryTags.Remove(number, out var tag))
        {
            (row.ETag, row.RecordExists) = (tag, true);
        }
        else
        {
            // Not one this activation knows (left by a crash): look first, so a row that is not there costs no delete.
            await storage.ReadStateAsync(name, grainId, row);
            if (!row.RecordExists)
            {
                return;
            }
        }

        await storage.ClearStateAsync(name, grainId, row);
    }
}
