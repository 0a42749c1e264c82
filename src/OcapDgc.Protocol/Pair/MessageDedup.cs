namespace OcapDgc;

/// <summary>
/// Delivers each application message of the remote once, over <see cref="PairState.PeerMessageStream"/>,
/// <see cref="PairState.MessageFloor"/> and <see cref="PairState.MessagesSeen"/>: numbers already
/// delivered, messages of an older stream, and messages fenced off by reconciliation are refused. Gaps
/// (lost messages) are remembered up to <c>gapLimit</c> numbers, then given up as lost.
/// </summary>
public sealed class MessageDedup(PairState state, int gapLimit)
{
    /// <summary>Whether message <paramref name="seq"/> of <paramref name="stream"/> is new; if so it is recorded.</summary>
    public bool FirstDelivery(long stream, long seq)
    {
        if (stream < state.PeerMessageStream)
        {
            return false;
        }

        if (stream > state.PeerMessageStream)
        {
            state.PeerMessageStream = stream;
            state.MessageFloor = 0;
            state.MessagesSeen.Clear();
        }

        if (seq <= state.MessageFloor || !state.MessagesSeen.Add(seq))
        {
            return false;
        }

        RaiseFloor();
        if (state.MessagesSeen.Count > gapLimit)
        {
            var floor = state.MessagesSeen.Order().ElementAt(state.MessagesSeen.Count - gapLimit) - 1;
            state.MessagesSeen.RemoveWhere(n => n <= floor);
            state.MessageFloor = floor;
        }

        return true;
    }

    /// <summary>
    /// The exporter declared its messages up to <paramref name="seq"/> of <paramref name="stream"/> lost
    /// if not yet here: refuse them from now on.
    /// </summary>
    public void Fence(long stream, long seq)
    {
        if (stream > state.PeerMessageStream)
        {
            state.PeerMessageStream = stream;
            state.MessagesSeen.Clear();
            state.MessageFloor = seq;
        }
        else if (stream == state.PeerMessageStream && seq > state.MessageFloor)
        {
            state.MessageFloor = seq;
            state.MessagesSeen.RemoveWhere(n => n <= seq);
            RaiseFloor();
        }
    }

    /// <summary>
    /// Whether every message of <paramref name="stream"/> up to <paramref name="seq"/> was delivered or
    /// given up (a batch's barrier). A stream newer than any seen starts here, so older streams are
    /// refused from now on: the sender left them.
    /// </summary>
    public bool Reached(long stream, long seq)
    {
        if (stream == 0 || stream < state.PeerMessageStream)
        {
            return true;
        }

        if (stream > state.PeerMessageStream)
        {
            Fence(stream, 0);
        }

        return state.MessageFloor >= seq;
    }

    private void RaiseFloor()
    {
        while (state.MessagesSeen.Remove(state.MessageFloor + 1))
        {
            state.MessageFloor++;
        }
    }
}
