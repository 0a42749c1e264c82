using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// Outbound GC operations over <see cref="PairState.Queue"/>, <see cref="PairState.Unacked"/> and
/// <see cref="PairState.NextSeq"/>: queued operations are sealed into sequenced batches of at most
/// <c>maxBatchSize</c>, kept until acknowledged, and sent again on request.
/// </summary>
public sealed class Outbound(PairState state, int maxBatchSize)
{
    /// <summary>Whether operations are queued or batches await acknowledgement.</summary>
    public bool HasWork => state.Queue.Count > 0 || state.Unacked.Count > 0;

    /// <summary>Whether the queue reached the batch size bound.</summary>
    public bool IsFull => state.Queue.Count >= maxBatchSize;

    /// <summary>The last batch sealed in this stream.</summary>
    public long LastSealed => state.NextSeq - 1;

    /// <summary>Queues one operation.</summary>
    public void Enqueue(DgcOp op) => state.Queue.Add(op);

    /// <summary>Removes queued operations that name an ended session.</summary>
    public void Purge(Predicate<DgcOp> match) => state.Queue.RemoveAll(match);

    /// <summary>Whether any queued operation matches.</summary>
    public bool AnyQueued(Predicate<DgcOp> match) => state.Queue.Exists(match);

    /// <summary>
    /// Seals the queue into batches under <paramref name="header"/> and returns how many. The caller
    /// persists the state before sending them: a crash then resends each with the same number.
    /// </summary>
    public int Seal(SessionHeader header, long afterStream = 0, long afterSeq = 0)
    {
        if (state.Queue.Count == 0)
        {
            return 0;
        }

        var sealedCount = 0;
        var acked = (state.Unacked.Count > 0 ? state.Unacked[0].Seq : state.NextSeq) - 1;
        foreach (var chunk in state.Queue.Chunk(maxBatchSize))
        {
            var seq = state.NextSeq++;
            state.Unacked.Add(new SentBatch(seq, WireCodec.Encode(new BatchFrame(state.Stream, seq, acked, chunk, afterStream, afterSeq) { Session = header })));
            sealedCount++;
        }

        state.Queue.Clear();
        return sealedCount;
    }

    /// <summary>
    /// The frames to send after sealing <paramref name="sealedCount"/> batches: those, and with
    /// <paramref name="resend"/> every older unacknowledged one too. A resent batch keeps its session (its
    /// refs are scoped to it) but states how far acknowledgements have got since, so a receiver that
    /// cleared its state in between starts after them, not before.
    /// </summary>
    public List<string> FramesToSend(int sealedCount, bool resend)
    {
        var unacked = state.Unacked;
        var firstFresh = unacked.Count - sealedCount;
        var ackedNow = unacked.Count > 0 ? unacked[0].Seq - 1 : 0;
        var frames = new List<string>();
        for (var i = resend ? 0 : firstFresh; i < unacked.Count; i++)
        {
            frames.Add(i < firstFresh ? Refresh(unacked[i], ackedNow) : unacked[i].Json);
        }

        return frames;
    }

    /// <summary>A cumulative acknowledgement of <paramref name="seq"/> in <paramref name="stream"/>.</summary>
    public void Acknowledge(long stream, long seq)
    {
        if (stream == state.Stream)
        {
            state.Unacked.RemoveAll(b => b.Seq <= seq);
        }
    }

    /// <summary>Forgets everything queued and unacknowledged (this kernel restarted).</summary>
    public void Reset()
    {
        state.Queue.Clear();
        state.Unacked.Clear();
    }

    private static string Refresh(SentBatch batch, long acked)
    {
        var frame = (BatchFrame)WireCodec.Decode(batch.Json);
        return frame.Acked >= acked ? batch.Json : WireCodec.Encode(frame with { Acked = acked });
    }
}
