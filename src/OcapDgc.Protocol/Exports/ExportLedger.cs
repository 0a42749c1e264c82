using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// The rules of one exported object across all its remotes, over its <see cref="ExportState"/>: counts
/// sends, applies a remote's inbound operations exactly once, and decides "dropped" (no remote can reach
/// it) and "retired" (no remote can even recognize it). The export grain persists the state after each
/// call that changed it and clears it once <see cref="ExportState.Holds"/> is empty; the simulation runs
/// the same rules in memory.
/// </summary>
/// <param name="kref">The exported object, for messages.</param>
/// <param name="state">The state to read and change.</param>
public sealed class ExportLedger(string kref, ExportState state)
{
    /// <summary>The state this ledger works on.</summary>
    public ExportState State => state;

    /// <summary>Counts <paramref name="count"/> sends to <paramref name="remote"/>.</summary>
    public void RecordSent(string remote, long count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (!state.Holds.TryGetValue(remote, out var hold))
        {
            state.Holds[remote] = hold = new RemoteHold();
        }

        hold.Count += count;
    }

    /// <summary>
    /// Applies, in order, the operations of inbound batch <paramref name="seq"/> of stream
    /// <paramref name="stream"/> from <paramref name="remote"/>. A batch at or below the last one applied
    /// for that remote is ignored (a replay after a crash). Invalid operations are refused one by one
    /// and listed in <see cref="ExportApplyResult.Errors"/>, state unchanged by them.
    /// <paramref name="changed"/> says whether the state must be written.
    /// </summary>
    public ExportApplyResult Apply(string remote, long stream, long seq, IReadOnlyList<DgcOpKind> ops, IReadOnlyList<long> counts, out bool changed)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(counts);
        if (ops.Count != counts.Count)
        {
            throw new ArgumentException("ops and counts must be of the same length.", nameof(counts));
        }

        changed = false;
        var holds = state.Holds;
        if (!holds.TryGetValue(remote, out var hold))
        {
            // The remote forgot the object already (the handle calls only for exports in its c-list): this is a
            // batch replayed after a crash that came before the handle recorded its application. Its effects are
            // said again: dropped if this batch made it unreachable, retired if nobody recognizes it (which says
            // dropped too: once the object is forgotten, who dropped it last is no longer kept).
            return new ExportApplyResult(DroppedBy(remote, stream, seq), holds.Count == 0, [], true, 0, Replay: true, Reachable: state.Reachable);
        }

        if (stream < hold.LastStream || (stream == hold.LastStream && seq <= hold.LastSeq))
        {
            // A batch replayed after a crash of the handle: every operation in it is already here. If it is
            // the last one applied and it made the object unreachable, that is said again (the handle may
            // have crashed before recording it).
            var again = stream == hold.LastStream && seq == hold.LastSeq && DroppedBy(remote, stream, seq);
            return new ExportApplyResult(again, false, [], false, hold.Count, Replay: true, Reachable: state.Reachable);
        }

        var wasReachable = state.Reachable;
        var errors = new List<string>();
        var forgotten = false;
        for (var i = 0; i < ops.Count && !forgotten; i++)
        {
            switch (ops[i])
            {
                case DgcOpKind.AddRef:
                    // Confirmation is the remote handle's to record; it changes no count.
                    break;
                case DgcOpKind.DropRef when counts[i] > hold.Count:
                    errors.Add($"{kref}: {remote} released {counts[i]} but holds only {hold.Count} (over-release refused).");
                    break;
                case DgcOpKind.DropRef:
                    hold.Count -= counts[i];
                    break;
                case DgcOpKind.Retire when hold.Count > 0:
                    // The retire crossed a re-send: the remote will import the object afresh, so it stays.
                    break;
                case DgcOpKind.Retire:
                    holds.Remove(remote);
                    forgotten = true;
                    break;
            }
        }

        if (!forgotten)
        {
            hold.LastStream = stream;
            hold.LastSeq = seq;
        }

        NoteDropped(wasReachable, remote, stream, seq);
        changed = true;
        return Outcome(wasReachable, [.. errors], forgotten, forgotten ? 0 : hold.Count);
    }

    /// <summary>
    /// Removes <paramref name="remote"/>'s hold whatever its count (a lapsed lease, a restart, a broken
    /// session). Other remotes' holds stay. <paramref name="changed"/> says whether anything was removed.
    /// </summary>
    public ExportApplyResult ExpireRemote(string remote, out bool changed)
    {
        var wasReachable = state.Reachable;
        changed = state.Holds.Remove(remote);
        if (!changed)
        {
            // Nothing to remove: done before (a handle finishing a session end after a crash); said again.
            return new ExportApplyResult(DroppedBy(remote, ExpiredMark, 0), state.Holds.Count == 0, [], true, 0, Replay: true, Reachable: state.Reachable);
        }

        NoteDropped(wasReachable, remote, ExpiredMark, 0);
        return Outcome(wasReachable, [], true, 0);
    }

    /// <summary>
    /// Reconciliation proved the rest of <paramref name="remote"/>'s count was sent in messages that will
    /// never be delivered: the count goes to zero, and with <paramref name="forget"/> the hold goes too.
    /// </summary>
    public ExportApplyResult ReleaseLostSends(string remote, bool forget, out bool changed)
    {
        if (forget)
        {
            return ExpireRemote(remote, out changed);
        }

        if (!state.Holds.TryGetValue(remote, out var hold))
        {
            changed = false;
            return new ExportApplyResult(DroppedBy(remote, ExpiredMark, 0), state.Holds.Count == 0, [], true, 0, Replay: true, Reachable: state.Reachable);
        }

        if (hold.Count == 0)
        {
            // Released before (a handle repeating a release after a crash): said again.
            changed = false;
            return new ExportApplyResult(DroppedBy(remote, LostMark, 0), false, [], false, 0, Replay: true, Reachable: state.Reachable);
        }

        var wasReachable = state.Reachable;
        hold.Count = 0;
        NoteDropped(wasReachable, remote, LostMark, 0);
        changed = true;
        return Outcome(wasReachable, [], false, 0);
    }

    /// <summary>
    /// The owning kernel deletes the object: refused while any remote can reach it. Returns the remotes
    /// that could still recognize it (they are told to retire it) and forgets them all.
    /// </summary>
    public string[] Delete()
    {
        var holders = state.Holds.Where(h => h.Value.Count > 0).Select(h => h.Key).ToArray();
        if (holders.Length > 0)
        {
            throw new DgcException(DgcError.StillReachable, $"{kref} is still reachable from {string.Join(", ", holders)}; it can be deleted only after they drop it.");
        }

        var recognizers = state.Holds.Keys.ToArray();
        state.Holds.Clear();
        return recognizers;
    }

    /// <summary>A snapshot for inspection and tests.</summary>
    public ExportSnapshot Snapshot() => new(
        kref,
        state.Holds.ToDictionary(h => h.Key, h => h.Value.Count, StringComparer.Ordinal),
        state.Reachable,
        state.Holds.Count > 0,
        state.DroppedBy,
        state.DroppedByStream,
        state.DroppedBySeq);

    /// <summary>What made an object unreachable, when not an inbound batch (stream, seq): the remote's session ended.</summary>
    public const long ExpiredMark = -1;

    /// <summary>What made an object unreachable, when not an inbound batch (stream, seq): the remote's lost sends were released.</summary>
    public const long LostMark = -2;

    /// <summary>Records what made the object unreachable, if this did, so a repeat of it after a crash says so again.</summary>
    private void NoteDropped(bool wasReachable, string remote, long stream, long seq)
    {
        if (wasReachable && !state.Reachable)
        {
            (state.DroppedBy, state.DroppedByStream, state.DroppedBySeq) = (remote, stream, seq);
        }
    }

    /// <summary>Whether the object is unreachable, and that operation of that remote made it so.</summary>
    private bool DroppedBy(string remote, long stream, long seq) =>
        !state.Reachable && state.DroppedBy == remote && state.DroppedByStream == stream && state.DroppedBySeq == seq;

    private ExportApplyResult Outcome(bool wasReachable, string[] errors, bool forgotten, long count) =>
        new(wasReachable && !state.Reachable, state.Holds.Count == 0, errors, forgotten, count);
}
