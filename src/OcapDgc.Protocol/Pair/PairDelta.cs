using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// What changed in a <see cref="PairState"/> since it was last written: the c-list entries and revoked
/// krefs that changed, the growth or shrinkage of its lists, and the small fields whole. Writing this
/// instead of the whole state makes a write proportional to what changed, not to what the pair holds
/// (see <see cref="PairJournal"/>). Applied in order to the state it was taken from, it gives the state
/// it was taken at.
/// </summary>
[GenerateSerializer, Alias("ocap-dgc.PairDelta")]
public sealed class PairDelta
{
    /// <summary>The small fields, whole.</summary>
    [Id(0)]
    public PairHeader Header { get; set; } = new();

    /// <summary>Whether every export was forgotten first (a session ended).</summary>
    [Id(1)]
    public bool ExportsCleared { get; set; }

    /// <summary>Exports added or changed.</summary>
    [Id(2)]
    public Dictionary<long, ExportEntry> ExportsSet { get; set; } = [];

    /// <summary>Exports forgotten.</summary>
    [Id(3)]
    public List<long> ExportsRemoved { get; set; } = [];

    /// <summary>Whether every import was forgotten first (the remote's session ended).</summary>
    [Id(4)]
    public bool ImportsCleared { get; set; }

    /// <summary>Imports added or changed.</summary>
    [Id(5)]
    public Dictionary<long, ImportEntry> ImportsSet { get; set; } = [];

    /// <summary>Imports forgotten.</summary>
    [Id(6)]
    public List<long> ImportsRemoved { get; set; } = [];

    /// <summary>Whether every revoked kref was forgotten first.</summary>
    [Id(7)]
    public bool RevokedCleared { get; set; }

    /// <summary>Krefs revoked.</summary>
    [Id(8)]
    public List<string> RevokedAdded { get; set; } = [];

    /// <summary>Revoked krefs forgotten.</summary>
    [Id(9)]
    public List<string> RevokedRemoved { get; set; } = [];

    /// <summary>The operation queue.</summary>
    [Id(10)]
    public ListDelta<DgcOp> Queue { get; set; } = new();

    /// <summary>The unacknowledged batches.</summary>
    [Id(11)]
    public ListDelta<SentBatch> Unacked { get; set; } = new();

    /// <summary>The effects not yet acknowledged by the kernel.</summary>
    [Id(12)]
    public ListDelta<PendingEffect> Outbox { get; set; } = new();

    /// <summary>Whether the entries the snapshot before this one includes were deleted before this was written.</summary>
    [Id(13)]
    public bool Compacted { get; set; }

    /// <summary>How many c-list entries, krefs and list items this delta carries: the journal compares it with the state's size.</summary>
    public long Weight =>
        1 + ExportsSet.Count + ExportsRemoved.Count + ImportsSet.Count + ImportsRemoved.Count + RevokedAdded.Count + RevokedRemoved.Count
        + Queue.Items.Count + Unacked.Items.Count + Outbox.Items.Count + Header.EndingSession.Count + Header.MessagesSeen.Count;

    /// <summary>Applies this delta to <paramref name="state"/>, the state as of the delta before it.</summary>
    public void ApplyTo(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Header.ApplyTo(state);
        Apply(state.Exports, ExportsCleared, ExportsSet, ExportsRemoved);
        Apply(state.Imports, ImportsCleared, ImportsSet, ImportsRemoved);
        if (RevokedCleared)
        {
            state.Revoked.Clear();
        }

        state.Revoked.ExceptWith(RevokedRemoved);
        state.Revoked.UnionWith(RevokedAdded);
        Queue.ApplyTo(state.Queue);
        Unacked.ApplyTo(state.Unacked);
        Outbox.ApplyTo(state.Outbox);
    }

    private static void Apply<T>(Dictionary<long, T> table, bool cleared, Dictionary<long, T> set, List<long> removed)
    {
        if (cleared)
        {
            table.Clear();
        }

        foreach (var id in removed)
        {
            table.Remove(id);
        }

        foreach (var (id, entry) in set)
        {
            table[id] = entry;
        }
    }
}

/// <summary>
/// How a list changed: <see cref="DropFront"/> items left its front (acknowledged, delivered or sealed)
/// and <see cref="Items"/> were appended; or, with <see cref="Replace"/>, it is <see cref="Items"/> now.
/// </summary>
/// <typeparam name="T">The item type (immutable records).</typeparam>
[GenerateSerializer, Alias("ocap-dgc.ListDelta`1")]
public sealed class ListDelta<T>
{
    /// <summary>Whether the list is <see cref="Items"/> now, whatever it was.</summary>
    [Id(0)]
    public bool Replace { get; set; }

    /// <summary>How many items left the front of the list (without <see cref="Replace"/>).</summary>
    [Id(1)]
    public int DropFront { get; set; }

    /// <summary>Items appended (or, with <see cref="Replace"/>, the whole list).</summary>
    [Id(2)]
    public List<T> Items { get; set; } = [];

    /// <summary>Applies the change to <paramref name="list"/>.</summary>
    public void ApplyTo(List<T> list)
    {
        ArgumentNullException.ThrowIfNull(list);
        if (Replace)
        {
            list.Clear();
        }
        else
        {
            list.RemoveRange(0, Math.Min(DropFront, list.Count));
        }

        list.AddRange(Items);
    }
}

/// <summary>Finds a <see cref="ListDelta{T}"/>.</summary>
public static class ListDelta
{
    /// <summary>
    /// The change from <paramref name="before"/> (the list as last written) to <paramref name="now"/>: the
    /// common shapes (appended, taken from the front, both) are found in one pass; anything else replaces.
    /// </summary>
    public static ListDelta<T> Between<T>(List<T> before, List<T> now)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(now);
        var comparer = EqualityComparer<T>.Default;
        var drop = before.Count;
        if (now.Count > 0)
        {
            // The first item of the list now, if it was written before, is where what is left of the old list starts.
            drop = before.FindIndex(x => comparer.Equals(x, now[0]));
            if (drop < 0)
            {
                drop = before.Count;
            }
        }

        var kept = before.Count - drop;
        if (kept > now.Count)
        {
            return new ListDelta<T> { Replace = true, Items = [.. now] };
        }

        for (var i = 0; i < kept; i++)
        {
            if (!comparer.Equals(before[drop + i], now[i]))
            {
                return new ListDelta<T> { Replace = true, Items = [.. now] };
            }
        }

        return new ListDelta<T> { DropFront = drop, Items = now.GetRange(kept, now.Count - kept) };
    }
}

/// <summary>The small fields of a <see cref="PairState"/>, written whole in every <see cref="PairDelta"/>.</summary>
[GenerateSerializer, Alias("ocap-dgc.PairHeader")]
public sealed class PairHeader
{
    /// <summary>See <see cref="PairState.NextExportId"/>.</summary>
    [Id(0)] public long NextExportId { get; set; }

    /// <summary>See <see cref="PairState.NextSeq"/>.</summary>
    [Id(1)] public long NextSeq { get; set; }

    /// <summary>See <see cref="PairState.HighestApplied"/>.</summary>
    [Id(2)] public long HighestApplied { get; set; }

    /// <summary>See <see cref="PairState.Incarnation"/>.</summary>
    [Id(3)] public long Incarnation { get; set; }

    /// <summary>See <see cref="PairState.Epoch"/>.</summary>
    [Id(4)] public long Epoch { get; set; }

    /// <summary>See <see cref="PairState.Stream"/>.</summary>
    [Id(5)] public long Stream { get; set; }

    /// <summary>See <see cref="PairState.PeerIncarnation"/>.</summary>
    [Id(6)] public long PeerIncarnation { get; set; }

    /// <summary>See <see cref="PairState.PeerEpoch"/>.</summary>
    [Id(7)] public long PeerEpoch { get; set; }

    /// <summary>See <see cref="PairState.PeerStream"/>.</summary>
    [Id(8)] public long PeerStream { get; set; }

    /// <summary>See <see cref="PairState.HighestImportId"/>.</summary>
    [Id(9)] public long HighestImportId { get; set; }

    /// <summary>See <see cref="PairState.PeerMessageStream"/>.</summary>
    [Id(10)] public long PeerMessageStream { get; set; }

    /// <summary>See <see cref="PairState.MessageFloor"/>.</summary>
    [Id(11)] public long MessageFloor { get; set; }

    /// <summary>See <see cref="PairState.MessagesSeen"/>.</summary>
    [Id(12)] public List<long> MessagesSeen { get; set; } = [];

    /// <summary>See <see cref="PairState.NextEffect"/>.</summary>
    [Id(13)] public long NextEffect { get; set; }

    /// <summary>See <see cref="PairState.EndingSession"/>.</summary>
    [Id(14)] public List<string> EndingSession { get; set; } = [];

    /// <summary>See <see cref="PairState.EndingWhy"/>.</summary>
    [Id(15)] public SessionEnd EndingWhy { get; set; }

    /// <summary>See <see cref="PairState.LeaseRenewedAt"/>.</summary>
    [Id(16)] public DateTimeOffset LeaseRenewedAt { get; set; }

    /// <summary>See <see cref="PairState.Applying"/>.</summary>
    [Id(17)] public string? Applying { get; set; }

    /// <summary>The small fields of <paramref name="state"/> now.</summary>
    public static PairHeader Of(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return new PairHeader
        {
            NextExportId = state.NextExportId,
            NextSeq = state.NextSeq,
            HighestApplied = state.HighestApplied,
            Incarnation = state.Incarnation,
            Epoch = state.Epoch,
            Stream = state.Stream,
            PeerIncarnation = state.PeerIncarnation,
            PeerEpoch = state.PeerEpoch,
            PeerStream = state.PeerStream,
            HighestImportId = state.HighestImportId,
            PeerMessageStream = state.PeerMessageStream,
            MessageFloor = state.MessageFloor,
            MessagesSeen = [.. state.MessagesSeen],
            NextEffect = state.NextEffect,
            EndingSession = [.. state.EndingSession],
            EndingWhy = state.EndingWhy,
            LeaseRenewedAt = state.LeaseRenewedAt,
            Applying = state.Applying,
        };
    }

    /// <summary>Sets the small fields of <paramref name="state"/>.</summary>
    public void ApplyTo(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.NextExportId = NextExportId;
        state.NextSeq = NextSeq;
        state.HighestApplied = HighestApplied;
        state.Incarnation = Incarnation;
        state.Epoch = Epoch;
        state.Stream = Stream;
        state.PeerIncarnation = PeerIncarnation;
        state.PeerEpoch = PeerEpoch;
        state.PeerStream = PeerStream;
        state.HighestImportId = HighestImportId;
        state.PeerMessageStream = PeerMessageStream;
        state.MessageFloor = MessageFloor;
        state.MessagesSeen = [.. MessagesSeen];
        state.NextEffect = NextEffect;
        state.EndingSession = [.. EndingSession];
        state.EndingWhy = EndingWhy;
        state.LeaseRenewedAt = LeaseRenewedAt;
        state.Applying = Applying;
    }
}

/// <summary>
/// What changed in a <see cref="PairState"/> since its last write (not persisted): the c-list and revoked
/// entries are marked where they change; the lists are compared with copies taken at the last write.
/// </summary>
public sealed class PairChanges
{
    private readonly HashSet<long> _exports = [];
    private readonly HashSet<long> _imports = [];
    private readonly HashSet<string> _revokedAdded = new(StringComparer.Ordinal);
    private readonly HashSet<string> _revokedRemoved = new(StringComparer.Ordinal);
    private bool _exportsCleared;
    private bool _importsCleared;
    private bool _revokedCleared;
    private readonly List<DgcOp> _queue = [];
    private readonly List<SentBatch> _unacked = [];
    private readonly List<PendingEffect> _outbox = [];

    /// <summary>Export <paramref name="id"/> was added, changed or removed.</summary>
    public void Export(long id) => _exports.Add(id);

    /// <summary>Import <paramref name="id"/> was added, changed or removed.</summary>
    public void Import(long id) => _imports.Add(id);

    /// <summary>Every export was removed.</summary>
    public void ExportsCleared()
    {
        _exportsCleared = true;
        _exports.Clear();
    }

    /// <summary>Every import was removed.</summary>
    public void ImportsCleared()
    {
        _importsCleared = true;
        _imports.Clear();
    }

    /// <summary><paramref name="kref"/> was revoked.</summary>
    public void Revoked(string kref)
    {
        _revokedRemoved.Remove(kref);
        _revokedAdded.Add(kref);
    }

    /// <summary><paramref name="kref"/> is no longer revoked.</summary>
    public void Unrevoked(string kref)
    {
        _revokedAdded.Remove(kref);
        _revokedRemoved.Add(kref);
    }

    /// <summary>No kref is revoked any more.</summary>
    public void RevokedCleared()
    {
        _revokedCleared = true;
        _revokedAdded.Clear();
        _revokedRemoved.Clear();
    }

    /// <summary>Takes what changed since the last call (or since <see cref="Reset"/>) and starts afresh.</summary>
    public PairDelta Take(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var delta = new PairDelta
        {
            Header = PairHeader.Of(state),
            ExportsCleared = _exportsCleared,
            ImportsCleared = _importsCleared,
            RevokedCleared = _revokedCleared,
            Queue = ListDelta.Between(_queue, state.Queue),
            Unacked = ListDelta.Between(_unacked, state.Unacked),
            Outbox = ListDelta.Between(_outbox, state.Outbox),

            // Sized once: a message's hundreds of entries would otherwise grow them through every size on the way.
            ExportsSet = new(_exports.Count),
            ImportsSet = new(_imports.Count),
        };
        foreach (var id in _exports)
        {
            if (state.Exports.TryGetValue(id, out var entry))
            {
                delta.ExportsSet[id] = entry.Copy();
            }
            else if (!_exportsCleared)
            {
                delta.ExportsRemoved.Add(id);
            }
        }

        foreach (var id in _imports)
        {
            if (state.Imports.TryGetValue(id, out var entry))
            {
                delta.ImportsSet[id] = entry.Copy();
            }
            else if (!_importsCleared)
            {
                delta.ImportsRemoved.Add(id);
            }
        }

        delta.RevokedAdded.AddRange(_revokedAdded.Where(state.Revoked.Contains));
        if (!_revokedCleared)
        {
            delta.RevokedRemoved.AddRange(_revokedRemoved.Where(k => !state.Revoked.Contains(k)));
        }

        Reset(state);
        return delta;
    }

    /// <summary>Nothing changed since <paramref name="state"/> was last read or written whole.</summary>
    public void Reset(PairState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _exports.Clear();
        _imports.Clear();
        _revokedAdded.Clear();
        _revokedRemoved.Clear();
        _exportsCleared = _importsCleared = _revokedCleared = false;
        // Copied into the same lists each time (a delta never keeps them): a write then allocates nothing for them.
        CopyInto(_queue, state.Queue);
        CopyInto(_unacked, state.Unacked);
        CopyInto(_outbox, state.Outbox);
    }

    private static void CopyInto<T>(List<T> copy, List<T> list)
    {
        copy.Clear();
        copy.AddRange(list);
    }
}
