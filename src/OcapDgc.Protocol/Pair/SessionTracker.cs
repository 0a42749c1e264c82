using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>What a frame's session header means for the pair.</summary>
/// <param name="Stale">The frame is from an incarnation of the remote that has been succeeded: drop it.</param>
/// <param name="PeerRestarted">The remote restarted: its holds go and its imports are revoked, at once.</param>
/// <param name="PeerEpochEnded">The remote started a new export session: imports of the old one are revoked.</param>
/// <param name="Renews">The frame names this kernel's current export session, so it renews the remote's lease.</param>
public readonly record struct SessionVerdict(bool Stale, bool PeerRestarted, bool PeerEpochEnded, bool Renews);

/// <summary>
/// The pair's sessions over <see cref="PairState"/>: this kernel's incarnation, export epoch and batch
/// stream, and the remote's as last seen. Epochs and streams come from one counter per kernel that never
/// goes back, so "newer" is simply "greater".
/// </summary>
public sealed class SessionTracker(PairState state)
{
    /// <summary>Whether the pair has drawn its session yet.</summary>
    public bool Open => state.Incarnation != 0;

    /// <summary>The header every outbound frame carries.</summary>
    public SessionHeader Header => new(state.Incarnation, state.Epoch, state.PeerEpoch);

    /// <summary>Opens the session with what the kernel's manager drew: incarnation, and a fresh epoch that also names the batch stream.</summary>
    public void Start(SessionStart start)
    {
        state.Incarnation = start.Incarnation;
        state.Epoch = start.Epoch;
        state.Stream = start.Epoch;
        state.NextSeq = 1;
    }

    /// <summary>Classifies an inbound header (nothing changes).</summary>
    public SessionVerdict Classify(SessionHeader h) => new(
        Stale: h.Incarnation < state.PeerIncarnation,
        PeerRestarted: h.Incarnation > state.PeerIncarnation && state.PeerIncarnation != 0,
        // On the first word from the remote (PeerEpoch 0) nothing ended: imports made before it (a kernel
        // that carries its own messages, with ImportRefsAsync) belong to the session it names.
        PeerEpochEnded: h.Epoch > state.PeerEpoch && state.PeerEpoch != 0,
        Renews: state.Epoch != 0 && h.Peer == state.Epoch);

    /// <summary>Adopts the header's incarnation and epoch where they are newer; returns whether anything changed.</summary>
    public bool Adopt(SessionHeader h)
    {
        var changed = false;
        if (h.Incarnation > state.PeerIncarnation)
        {
            state.PeerIncarnation = h.Incarnation;
            changed = true;
        }

        if (h.Epoch > state.PeerEpoch)
        {
            state.PeerEpoch = h.Epoch;
            state.HighestImportId = 0;
            changed = true;
        }

        return changed;
    }

    /// <summary>A new export epoch: every <c>ro+N</c> of the old one is void at the remote from now on.</summary>
    public void NewEpoch(long epoch) => state.Epoch = epoch;

    /// <summary>This kernel restarted: a new incarnation, and a new stream starting at the new epoch.</summary>
    public void Restart(long incarnation)
    {
        state.Incarnation = incarnation;
        state.Stream = state.Epoch;
        state.NextSeq = 1;
    }

    /// <summary>Whether a frame's refs of this kernel's exports (<c>ro-N</c>) are scoped to the current export session.</summary>
    public bool LocalRefsValid(SessionHeader h) => h.Peer == state.Epoch;

    /// <summary>Whether a frame's refs of the remote's exports (<c>ro+N</c>) are scoped to the remote's current session.</summary>
    public bool PeerRefsValid(SessionHeader h) => h.Epoch == state.PeerEpoch;
}
