using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>What reconciliation decided about an import list.</summary>
public enum ReconcileAction
{
    /// <summary>Not comparable yet (batches in flight either way), or differences young enough to be in flight; the next ping tries again.</summary>
    None,

    /// <summary>The two views are the same.</summary>
    Agreed,

    /// <summary>The list is malformed (it names the remote's own exports).</summary>
    Refuse,

    /// <summary>A difference nothing explains, or a lost message that cannot be fenced: end the session.</summary>
    EndSession,

    /// <summary>Refs were lost in messages known by number: fence those messages off first.</summary>
    Fence,

    /// <summary>The list reflects the fence: release just the lost sends.</summary>
    ReleaseLost,
}

/// <summary>The reconciler's decision, with what it needs.</summary>
public sealed record ReconcileDecision(ReconcileAction Action, string Detail = "", int Count = 0, long FenceSeq = 0, IReadOnlyList<long>? Lost = null, IReadOnlyDictionary<long, bool>? Theirs = null, long FenceStream = 0);

/// <summary>
/// Compares the remote's view of its imports with this kernel's export table: the digest a ping carries,
/// and the whole list a mismatch asks for. A difference that a message still in flight can explain waits;
/// one that has lasted a lease means the carrying message was lost.
/// </summary>
public sealed class Reconciler(PairState state, CList clist, TimeSpan lease)
{
    /// <summary>
    /// Whether every batch the remote had sealed in <paramref name="stream"/> up to <paramref name="asOf"/>
    /// is applied here (<paramref name="exactly"/>: and nothing after it). A stream this side has not seen
    /// yet is in step only if nothing was sealed in it: the remote clears its state only once all its
    /// older batches were acknowledged.
    /// </summary>
    private bool AppliedUpTo(long stream, long asOf, bool exactly) =>
        stream == state.PeerStream
            ? (exactly ? state.HighestApplied == asOf : state.HighestApplied >= asOf)
            : stream > state.PeerStream && asOf == 0;

    /// <summary>Whether the importer had applied every batch this side sealed when it made the list (a list that does not say is taken as it is).</summary>
    private bool SawEverythingSealed(ImportListFrame list) =>
        list.AppliedStream < 0 || state.NextSeq == 1 || (list.AppliedStream == state.Stream && list.AppliedSeq >= state.NextSeq - 1);

    /// <summary>The pong status that answers <paramref name="ping"/>.</summary>
    public PongStatus Compare(PingFrame ping)
    {
        if (state.Epoch == 0 || ping.Session.Peer != state.Epoch)
        {
            return PongStatus.NewSession;
        }

        if (ping.Stream < state.PeerStream || !AppliedUpTo(ping.Stream, ping.AsOf, exactly: false))
        {
            return PongStatus.Behind;
        }

        var mine = clist.ExportDigest();
        return ping.Imports == state.Exports.Count && string.Equals(ping.Digest, mine, StringComparison.Ordinal)
            ? PongStatus.Match
            : PongStatus.Mismatch;
    }

    /// <summary>
    /// Decides on the remote's full import list. <paramref name="outboundPending"/> says whether this side
    /// has batches naming the remote's exports in flight.
    /// </summary>
    public ReconcileDecision Decide(ImportListFrame list, bool outboundPending, DateTimeOffset now, DateTimeOffset activatedAt)
    {
        // Comparable only with the exporter at exactly the list's point in the remote's batch stream: a
        // list ahead waits for batches in flight; a list behind (delayed) is older than what was applied.
        if (list.Session.Peer != state.Epoch || !AppliedUpTo(list.Stream, list.AsOf, exactly: true)
            || state.Unacked.Count > 0 || outboundPending || !SawEverythingSealed(list))
        {
            return new ReconcileDecision(ReconcileAction.None);
        }

        var theirs = new Dictionary<long, bool>();
        foreach (var e in list.Entries)
        {
            if (e.Ref.SenderExport)
            {
                return new ReconcileDecision(ReconcileAction.Refuse, $"dgc:imports must list this kernel's exports (ro-N), got {e.Ref}.");
            }

            theirs[e.Ref.Id] = e.Reachable;
        }

        var unexplained = theirs.Where(t => !state.Exports.TryGetValue(t.Key, out var entry) || (t.Value && !entry.Reachable)).ToList();
        if (unexplained.Count > 0)
        {
            return new ReconcileDecision(ReconcileAction.EndSession, $"{WireRef.ToReceiverExport(unexplained[0].Key)} held there but not counted here", unexplained.Count);
        }

        var differs = theirs.Count != state.Exports.Count
            || state.Exports.Any(e => !theirs.TryGetValue(e.Key, out var reachable) || reachable != e.Value.Reachable);
        if (!differs)
        {
            return new ReconcileDecision(ReconcileAction.Agreed);
        }

        var lost = state.Exports
            .Where(e => (!theirs.TryGetValue(e.Key, out var reachable) || (e.Value.Reachable && !reachable))
                && now - (clist.LastSendOf(e.Key)?.At ?? activatedAt) >= lease)
            .Select(e => e.Key)
            .ToList();
        if (lost.Count == 0)
        {
            return new ReconcileDecision(ReconcileAction.None);
        }

        var carriers = lost.Select(id => clist.LastSendOf(id) ?? default).ToList();
        if (carriers.Exists(c => c.CarrierStream == 0))
        {
            // Which message carried a ref last is not known (a kernel that carries its own messages, or a row
            // written before carriers were recorded): it cannot be fenced off, so only a new session makes
            // the release safe.
            return new ReconcileDecision(ReconcileAction.EndSession, $"{WireRef.ToReceiverExport(lost[0])} sent but never received; no fence possible", lost.Count);
        }

        // One fence covers them all: fencing a stream up to a number also refuses every older stream of
        // the sender (an earlier activation's), whose carriers the newest stream's fence thus covers too.
        var fenceStream = carriers.Max(c => c.CarrierStream);
        var fenceSeq = carriers.Where(c => c.CarrierStream == fenceStream).Max(c => c.CarrierSeq);
        return list.FenceStream == fenceStream && fenceSeq <= list.FenceSeq
            ? new ReconcileDecision(ReconcileAction.ReleaseLost, Count: lost.Count, Lost: lost, Theirs: theirs)
            : new ReconcileDecision(ReconcileAction.Fence, FenceSeq: fenceSeq, FenceStream: fenceStream);
    }
}
