using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>The pair's part in cycle detection: it names refs in cycle frames and watches refs move.</summary>
public sealed partial class RemotePair
{
    /// <summary>How many buckets the pair's record of moved refs has (by kref hash; a collision only makes a trace give up).</summary>
    private const int MoveBuckets = 256;

    // Per activation: which buckets of krefs last saw a ref sent or received here, and when (a counter).
    private readonly long[] _moves = new long[MoveBuckets];
    private readonly DateTimeOffset[] _movedAt = new DateTimeOffset[MoveBuckets];
    private readonly long _activation = Random.Shared.NextInt64(1, long.MaxValue);
    private long _moveClock;

    // Positions of the remote's message stream that cycle replies waited for, and how often (see MessagesArrived).
    private (long Stream, long Seq, int Waits) _cycleWait;

    /// <summary>
    /// The facts of import <paramref name="kref"/> a trace compares between its rounds; null if it is not an
    /// import of the remote's current session. Read-only.
    /// </summary>
    public ImportFacts? CycleFacts(string kref) =>
        CList.TryGetImportId(kref, out var id) ? FactsOf(id) : null;

    /// <summary>
    /// Suspects for cycle detection: imports the kernel has not dropped and no ref of whose bucket was sent or
    /// received here for <paramref name="quietFor"/> (or at all in this activation). Read-only.
    /// </summary>
    public IEnumerable<string> CycleCandidates(TimeSpan quietFor)
    {
        var before = Now - quietFor;
        return State.Imports.Values.Where(i => i.Reachable && _movedAt[Bucket(i.Kref)] <= before).Select(i => i.Kref);
    }

    /// <summary>Sends a cycle ask about this kernel's export <paramref name="exportKref"/>; false if the pair cannot name it (not exported to the remote now, or no session).</summary>
    public async Task<bool> SendCycleAskAsync(long trace, long confirm, string exportKref)
    {
        if (!Sessions.Open || !CList.TryGetExportId(exportKref, out var id))
        {
            return false;
        }

        await SendRawAsync(WireCodec.Encode(new CycleAskFrame(trace, confirm, WireRef.ToSenderExport(id)) { Session = Sessions.Header }));
        return true;
    }

    /// <summary>
    /// Sends a cycle reply about the remote's export <paramref name="wireId"/> (this kernel's import), with how
    /// far this activation's application messages to the remote got, so the remote can tell they all arrived.
    /// </summary>
    public async Task<bool> SendCycleReplyAsync(long trace, long confirm, long wireId, bool live, string[] pending, long receipts)
    {
        if (!Sessions.Open)
        {
            return false;
        }

        var frame = new CycleReplyFrame(trace, confirm, WireRef.ToReceiverExport(wireId), live, pending, receipts, _messageStream, _messageStream == 0 ? 0 : _lastMessageSeq);
        await SendRawAsync(WireCodec.Encode(frame with { Session = Sessions.Header }));
        return true;
    }

    /// <summary>Refs of these krefs were sent or received here: a trace that read their facts before gives up.</summary>
    private void NoteRefsMoved(IEnumerable<string> krefs)
    {
        var stamp = ++_moveClock;
        var now = Now;
        foreach (var kref in krefs)
        {
            _moves[Bucket(kref)] = stamp;
            _movedAt[Bucket(kref)] = now;
        }
    }

    private ImportFacts? FactsOf(long id) =>
        State.Imports.TryGetValue(id, out var entry)
            ? new ImportFacts(entry.Kref, id, entry.Receipts, entry.Reachable, State.PeerEpoch, _activation, _moves[Bucket(entry.Kref)])
            : null;

    private static int Bucket(string kref) => (int)((uint)StringComparer.Ordinal.GetHashCode(kref) % MoveBuckets);

    /// <summary>A cycle frame from the remote: refs resolved in this pair's c-list only, then handed to the kernel's cycle collector.</summary>
    private async Task ReceiveCycleAsync(WireFrame frame)
    {
        if (_env is not ICyclePairEnvironment cycles)
        {
            return;
        }

        switch (frame)
        {
            case CycleAskFrame ask:
                // The remote's export: one of this kernel's imports, of the remote's current session only.
                var facts = Sessions.PeerRefsValid(ask.Session) ? FactsOf(ask.Ref.Id) : null;
                await cycles.OnCycleAskAsync(ask.Trace, ask.Confirm, ask.Ref.Id, facts);
                break;
            case CycleReplyFrame reply:
                if (!Sessions.LocalRefsValid(reply.Session) || !State.Exports.TryGetValue(reply.Ref.Id, out var export))
                {
                    Counters.StaleOps++;
                    return;
                }

                await cycles.OnCycleReplyAsync(reply.Trace, reply.Confirm, export.Kref, reply.Live, [.. reply.Pending], reply.Receipts, MessagesArrived(reply.AfterStream, reply.AfterSeq));
                break;
        }
    }

    /// <summary>
    /// Whether every application message of the remote's stream up to <paramref name="seq"/> was delivered (or
    /// given up). A message that never comes (lost) would keep every trace through this pair undecided, so, as a
    /// batch's barrier does, the wait is given up once replies have waited for the same position
    /// <see cref="CycleWaitLimit"/> times: the messages up to it that have not arrived are refused from then on
    /// (written with the pair's state), and the reply counts as caught up.
    /// </summary>
    private bool MessagesArrived(long stream, long seq)
    {
        if (stream == 0 || seq == 0 || stream < State.PeerMessageStream || (stream == State.PeerMessageStream && State.MessageFloor >= seq))
        {
            return true;
        }

        _cycleWait = _cycleWait.Stream == stream && _cycleWait.Seq == seq ? _cycleWait with { Waits = _cycleWait.Waits + 1 } : (stream, seq, 1);
        if (_cycleWait.Waits < CycleWaitLimit)
        {
            return false;
        }

        Messages.Fence(stream, seq);
        _dirty = true;
        _cycleWait = default;
        return true;
    }

    /// <summary>How many cycle replies wait for the same missing messages before they are given up as lost.</summary>
    private const int CycleWaitLimit = 3;
}
