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

    // Not persisted either: the digests a ping compares, kept up to date with every change marked for the journal.
    private readonly RunningDigest _exportDigest = new();
    private readonly RunningDigest _importDigest = new();

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
            Touched(id);
        }

        return id;
    }

    /// <summary>Adds import <paramref name="id"/> under the fresh local <paramref name="kref"/>.</summary>
    public ImportEntry AddImport(long id, string kref)
    {
        var entry = new ImportEntry { Kref = kref };
        _state.Imports[id] = entry;
        _importIdByKref[kref] = id;
        TouchedImport(id);
        _state.HighestImportId = Math.Max(_state.HighestImportId, id);
        return entry;
    }

    /// <summary>The remote no longer recognizes this export: it leaves the c-list.</summary>
    public void ForgetExport(long id)
    {
        if (_state.Exports.Remove(id, out var entry))
        {
            _exportIdByKref.Remove(entry.Kref);
            _exportDigest.Removed(id, entry);
            _state.Changes.Export(id);
        }
    }

    /// <summary>This kernel forgets an import.</summary>
    public void ForgetImport(long id)
    {
        if (_state.Imports.Remove(id, out var entry))
        {
            _importIdByKref.Remove(entry.Kref);
            _importDigest.Removed(id, entry);
            _state.Changes.Import(id);
        }
    }

    /// <summary>Export <paramref name="id"/> changed in place: the next write stores it, the next digest counts it anew.</summary>
    public void Touched(long id)
    {
        _state.Changes.Export(id);
        _exportDigest.Changed(id);
    }

    /// <summary>Import <paramref name="id"/> changed in place: the next write stores it, the next digest counts it anew.</summary>
    public void TouchedImport(long id)
    {
        _state.Changes.Import(id);
        _importDigest.Changed(id);
    }

    /// <summary>The <see cref="Wire.ImportDigest"/> of the exports (wire id, reachable), as the exporter compares a ping's.</summary>
    public string ExportDigest() => _exportDigest.Of(_state.Exports);

    /// <summary>The <see cref="Wire.ImportDigest"/> of the imports (wire id, reachable), as a ping carries it.</summary>
    public string ImportsDigest() => _importDigest.Of(_state.Imports);

    /// <summary>How many imports the kernel has not dropped (kept up to date like the digest, not counted afresh).</summary>
    public int ReachableImports() => _importDigest.ReachableIn(_state.Imports);

    /// <summary>Forgets every export (their session ended).</summary>
    public void ClearExports()
    {
        _state.Exports.Clear();
        _exportIdByKref.Clear();
        _exportDigest.Cleared();
        _state.Changes.ExportsCleared();
    }

    /// <summary>Forgets every import (their session ended).</summary>
    public void ClearImports()
    {
        _state.Imports.Clear();
        _importIdByKref.Clear();
        _importDigest.Cleared();
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
        Touched(id);
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
        _exportDigest.Invalidate();
        _importDigest.Invalidate();
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
