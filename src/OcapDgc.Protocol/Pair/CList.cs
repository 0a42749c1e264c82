namespace OcapDgc;

/// <summary>
/// The pair's c-list over <see cref="PairState.Exports"/> and <see cref="PairState.Imports"/>: wire id to
/// kref both ways, and for each export when it was last sent and which application message carried it.
/// </summary>
/// <remarks>The kref indexes and the last-send records are in memory, rebuilt or forgotten on activation.</remarks>
public sealed class CList
{
    private readonly PairState _state;

    // Not persisted: derived from the state (indexes) or kept per activation (last sends).
    private readonly Dictionary<string, long> _exportIdByKref = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _importIdByKref = new(StringComparer.Ordinal);
    private readonly Dictionary<long, LastSend> _lastSends = [];

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
        }

        return id;
    }

    /// <summary>Adds import <paramref name="id"/> under the fresh local <paramref name="kref"/>.</summary>
    public ImportEntry AddImport(long id, string kref)
    {
        var entry = new ImportEntry { Kref = kref };
        _state.Imports[id] = entry;
        _importIdByKref[kref] = id;
        _state.HighestImportId = Math.Max(_state.HighestImportId, id);
        return entry;
    }

    /// <summary>The remote no longer recognizes this export: it leaves the c-list.</summary>
    public void ForgetExport(long id)
    {
        if (_state.Exports.Remove(id, out var entry))
        {
            _exportIdByKref.Remove(entry.Kref);
        }

        _lastSends.Remove(id);
    }

    /// <summary>This kernel forgets an import.</summary>
    public void ForgetImport(long id)
    {
        if (_state.Imports.Remove(id, out var entry))
        {
            _importIdByKref.Remove(entry.Kref);
        }
    }

    /// <summary>Forgets every export (their session ended).</summary>
    public void ClearExports()
    {
        _state.Exports.Clear();
        _exportIdByKref.Clear();
        _lastSends.Clear();
    }

    /// <summary>Forgets every import (their session ended).</summary>
    public void ClearImports()
    {
        _state.Imports.Clear();
        _importIdByKref.Clear();
        _state.HighestImportId = 0;
    }

    /// <summary>Export <paramref name="id"/> was sent at <paramref name="at"/>; the carrying message is not known yet.</summary>
    public void RecordSend(long id, DateTimeOffset at) => _lastSends[id] = new LastSend(at, CarriedBy: 0);

    /// <summary>Application message <paramref name="seq"/> carries export <paramref name="id"/>.</summary>
    public void RecordCarrier(long id, long seq)
    {
        if (_lastSends.TryGetValue(id, out var last))
        {
            _lastSends[id] = last with { CarriedBy = seq };
        }
    }

    /// <summary>When export <paramref name="id"/> was last sent in this activation, and by which message (0: not known).</summary>
    public LastSend? LastSendOf(long id) => _lastSends.TryGetValue(id, out var last) ? last : null;

    /// <summary>Rebuilds the in-memory indexes from the state (after activation or a clear).</summary>
    public void Reindex()
    {
        _exportIdByKref.Clear();
        _importIdByKref.Clear();
        _lastSends.Clear();
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

/// <summary>When an export was last sent to the remote, and which application message carried it (0: not known, e.g. kernel-carried).</summary>
public readonly record struct LastSend(DateTimeOffset At, long CarriedBy);
