using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>What to do with an inbound batch.</summary>
public enum BatchVerdict
{
    /// <summary>A late copy from a stream the remote has left: acknowledge it, apply nothing.</summary>
    StaleStream,

    /// <summary>Already applied: acknowledge again.</summary>
    Duplicate,

    /// <summary>Ahead of a gap: kept (within the window) until the gap is filled.</summary>
    Buffered,

    /// <summary>The next one in order: apply it, then any buffered successors.</summary>
    Apply,
}

/// <summary>
/// The inbound side of the batch stream over <see cref="PairState.PeerStream"/> and
/// <see cref="PairState.HighestApplied"/>: each batch is applied exactly once and in order; batches ahead
/// of a gap wait in a reorder buffer of at most <c>window</c> batches.
/// </summary>
public sealed class InboundSequencer(PairState state, int window)
{
    // Not persisted: the sender resends whatever was buffered here.
    private readonly SortedDictionary<long, BatchFrame> _buffer = [];

    /// <summary>Batches waiting for a gap to close.</summary>
    public int Buffered => _buffer.Count;

    /// <summary>Classifies <paramref name="batch"/>; <paramref name="changed"/> says whether the durable state moved.</summary>
    public BatchVerdict Accept(BatchFrame batch, out bool changed)
    {
        changed = false;
        if (batch.Stream < state.PeerStream)
        {
            return BatchVerdict.StaleStream;
        }

        if (batch.Stream > state.PeerStream)
        {
            // A new stream (the remote's state was created afresh), or one this handle lost track of when
            // it cleared: everything up to Acked was acknowledged, so it was applied here before.
            state.PeerStream = batch.Stream;
            state.HighestApplied = batch.Acked;
            _buffer.Clear();
            changed = true;
        }
        else if (batch.Acked > state.HighestApplied)
        {
            // Only after this handle lost its record (it cleared while a late, older copy was on the way).
            state.HighestApplied = batch.Acked;
            DropBufferedUpTo(batch.Acked);
            changed = true;
        }

        if (batch.Seq <= state.HighestApplied)
        {
            return BatchVerdict.Duplicate;
        }

        if (batch.Seq > state.HighestApplied + 1)
        {
            if (batch.Seq - state.HighestApplied <= window)
            {
                _buffer.TryAdd(batch.Seq, batch);
            }

            return BatchVerdict.Buffered;
        }

        return BatchVerdict.Apply;
    }

    /// <summary>Batch <paramref name="seq"/> was applied.</summary>
    public void Applied(long seq) => state.HighestApplied = seq;

    /// <summary>The buffered batch that comes next, if any.</summary>
    public BatchFrame? TakeNext() => _buffer.Remove(state.HighestApplied + 1, out var next) ? next : null;

    /// <summary>Drops buffered batches that are no longer ahead.</summary>
    public void DropApplied() => DropBufferedUpTo(state.HighestApplied);

    /// <summary>Forgets the buffer (the state was cleared).</summary>
    public void Clear() => _buffer.Clear();

    private void DropBufferedUpTo(long seq)
    {
        foreach (var old in _buffer.Keys.Where(k => k <= seq).ToList())
        {
            _buffer.Remove(old);
        }
    }
}
