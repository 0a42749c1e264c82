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
public sealed class InboundSequencer(PairState state, int window, long maxBufferedBytes = long.MaxValue)
{
    // Not persisted: the sender resends whatever was buffered here.
    private readonly SortedDictionary<long, (BatchFrame Batch, long Bytes)> _buffer = [];
    private long _bufferedBytes;

    /// <summary>Batches waiting for a gap to close.</summary>
    public int Buffered => _buffer.Count;

    /// <summary>Bytes of the batches waiting for a gap (their frames' length).</summary>
    public long BufferedBytes => _bufferedBytes;

    /// <summary>
    /// Classifies <paramref name="batch"/> (<paramref name="bytes"/>: its frame's length); <paramref name="changed"/>
    /// says whether the durable state moved.
    /// </summary>
    public BatchVerdict Accept(BatchFrame batch, out bool changed, long bytes = 0)
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
            Clear();
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
            if (batch.Seq - state.HighestApplied <= window && _bufferedBytes + bytes <= maxBufferedBytes && _buffer.TryAdd(batch.Seq, (batch, bytes)))
            {
                _bufferedBytes += bytes;
            }

            return BatchVerdict.Buffered;
        }

        return BatchVerdict.Apply;
    }

    /// <summary>Batch <paramref name="seq"/> was applied.</summary>
    public void Applied(long seq) => state.HighestApplied = seq;

    /// <summary>The buffered batch that comes next, if any.</summary>
    public BatchFrame? TakeNext()
    {
        if (!_buffer.Remove(state.HighestApplied + 1, out var next))
        {
            return null;
        }

        _bufferedBytes -= next.Bytes;
        return next.Batch;
    }

    /// <summary>Drops buffered batches that are no longer ahead.</summary>
    public void DropApplied() => DropBufferedUpTo(state.HighestApplied);

    /// <summary>Forgets the buffer (the state was cleared).</summary>
    public void Clear()
    {
        _buffer.Clear();
        _bufferedBytes = 0;
    }

    private void DropBufferedUpTo(long seq)
    {
        foreach (var old in _buffer.Keys.Where(k => k <= seq).ToList())
        {
            _buffer.Remove(old, out var dropped);
            _bufferedBytes -= dropped.Bytes;
        }
    }
}
