namespace OcapDgc;

/// <summary>
/// The pair's c-list over <see cref="PairState.Exports"/> and <see cref="PairState.Imports"/>: wire id to
/// kref both ways, and for each export when it was last sent and which application message carried it.
/// </summary>
/// <remarks>
/// The kref indexes are in memory, rebuilt on activation. Every change to an entry is marked in
/// <see cref="PairState.Changes"/>, so the next write stores just that entry.
/// </remarks>
public sealed class CList
{
    private readonly PairState _state;

    // Not persisted: derived from the state. Hashed by the krefs' numbers (NumberedKeys): a kernel's fresh objects
    // come in order, and their entries then go next to each other instead of to random places in a table of millions.
    private readonly Dictionary<string, long> _exportIdByKref = new(NumberedKeyComparer.Instance);
    private readonly Dictionary<string, long> _importIdByKref = new(NumberedKeyComparer.Instance);

    /// <summary>Indexes <paramref name="state"/>.</summary>
    public CList(PairState state)
    {
        _state = state;
        Reindex();
    }

    /// <summary>Whether anything is exported to or imported from the remote.</summary>
    public bool HoldsAnything => _state.Exports.Count > 0 || _state.Imports.Count > 0;

    /// <summary>The export wire id of <paramref name="kref"/>, if it is exported to the remote.</summary>
    public bool TryGetExportId(string kref, out long id) => _exportIdByKref.TryGetValue(kref, out id);

    /// <summary>The remote's wire id of import <paramref name="kref"/>, if it is one.</summary>
    public bool TryGetImportId(string kref, out long id) => _importIdByKref.TryGetValue(kref, out id);

    /// <summary>The wire id of <paramref name="kref"/> as an export, allocating one (never reused) if it is new.</summary>
    public long ExportIdOf(string kref, out bool added)
    {
        added = !_exportIdByKref.TryGetValue(kref, out var id);
        if (added)
        {
            id = _state.NextExportId++;
            _state.Exports[id] = new ExportEntry { Kref = kref };
            _exportIdByKref[kref] = id;
            _state.Changes.Export(id);
        }

        return id;
    }

    /// <summary>Adds import <paramref name="id"/> under the fresh local <paramref name="kref"/>.</summary>
    public ImportEntry AddImport(long id, string kref)
    {
        var entry = new ImportEntry { Kref = kref };
        _state.Imports[id] = entry;
        _importIdByKref[kref] = id;
        _state.Changes.Import(id);
        _state.HighestImportId = Math.Max(_state.HighestImportId, id);
        return entry;
    }

    /// <summary>The remote no longer recognizes this export: it leaves the c-list.</summary>
    public void ForgetExport(long id)
    {
        if (_state.Exports.Remove(id, out var entry))
        {
            _exportIdByKref.Remove(entry.Kref);
            _state.Changes.Export(id);
        }
    }

    /// <summary>This kernel forgets an import.</summary>
    public void ForgetImport(long id)
    {
        if (_state.Imports.Remove(id, out var entry))
        {
            _importIdByKref.Remove(entry.Kref);
            _state.Changes.Import(id);
        }
    }

    /// <summary>Export <paramref name="id"/> changed in place: the next write stores it.</summary>
    public void Touched(long id) => _state.Changes.Export(id);

    /// <summary>Import <paramref name="id"/> changed in place: the next write stores it.</summary>
    public void TouchedImport(long id) => _state.Changes.Import(id);

    /// <summary>Forgets every export (their session ended).</summary>
    public void ClearExports()
    {
        _state.Exports.Clear();
        _exportIdByKref.Clear();
        _state.Changes.ExportsCleared();
    }

    /// <summary>Forgets every import (their session ended).</summary>
    public void ClearImports()
    {
        _state.Imports.Clear();
        _importIdByKref.Clear();
        _state.Changes.ImportsCleared();
        _state.HighestImportId = 0;
    }

    /// <summary>
    /// Export <paramref name="id"/> is sent at <paramref name="at"/> in message <paramref name="carrierSeq"/>
    /// of application message stream <paramref name="carrierStream"/> (0, 0: a message the kernel carries
    /// itself, which cannot be fenced off). Recorded in the entry, so it is written with the send.
    /// </summary>
    public void RecordSend(long id, DateTimeOffset at, long carrierStream, long carrierSeq)
    {
        var entry = _state.Exports[id];
        entry.LastSentTicks = at.UtcTicks;
        entry.CarrierStream = carrierStream;
        entry.CarrierSeq = carrierSeq;
        _state.Changes.Export(id);
    }

    /// <summary>When export <paramref name="id"/> was last sent, and in which message (a stream of 0: not known); null if not recorded.</summary>
    public LastSend? LastSendOf(long id) =>
        _state.Exports.TryGetValue(id, out var e) && e.LastSentTicks > 0
            ? new LastSend(new DateTimeOffset(e.LastSentTicks, TimeSpan.Zero), e.CarrierStream, e.CarrierSeq)
            : null;

    /// <summary>Rebuilds the in-memory indexes from the state (after activation or a clear).</summary>
    public void Reindex()
    {
        _exportIdByKref.Clear();
        _importIdByKref.Clear();
        foreach (var (id, entry) in _state.Exports)
        {
            _exportIdByKref[entry.Kref] = id;
        }

        foreach (var (id, entry) in _state.Imports)
        {
            _importIdByKref[entry.Kref] = id;
        }
    }
}

/// <summary>When an export was last sent to the remote, and which application message carried it (stream 0: not known, e.g. kernel-carried).</summary>
public readonly record struct LastSend(DateTimeOffset At, long CarrierStream, long CarrierSeq);
