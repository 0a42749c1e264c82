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

    /// <summary>
    /// Export wire ids carry the export session they belong to: the high 32 bits are the epoch, the low 32
    /// bits count exports within it. So an id is never reused across sessions or clears (epochs never go
    /// back), and a ref the kernel carried itself, with no frame around it, still says which session of its
    /// exporter it belongs to.
    /// </summary>
    public static long FirstExportId(long epoch)
    {
        if (epoch is < 1 or > int.MaxValue)
        {
            throw new InvalidOperationException($"Epoch {epoch} is outside the range wire ids can carry (1-{int.MaxValue}).");
        }

        return (epoch << 32) + 1;
    }

    /// <summary>The export session a wire id belongs to (see <see cref="FirstExportId"/>).</summary>
    public static long EpochOf(long wireId) => wireId >> 32;

    /// <summary>Opens the session with what the kernel's manager drew: incarnation, and a fresh epoch that also names the batch stream.</summary>
    public void Start(SessionStart start)
    {
        state.Incarnation = start.Incarnation;
        NewEpoch(start.Epoch);
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

        return AdoptEpoch(h.Epoch) || changed;
    }

    /// <summary>Adopts the remote's export session <paramref name="epoch"/> if it is newer; returns whether it was.</summary>
    public bool AdoptEpoch(long epoch)
    {
        if (epoch <= state.PeerEpoch)
        {
            return false;
        }

        state.PeerEpoch = epoch;
        state.HighestImportId = 0;
        return true;
    }

    /// <summary>A new export epoch: every <c>ro+N</c> of the old one is void at the remote from now on.</summary>
    public void NewEpoch(long epoch)
    {
        state.NextExportId = FirstExportId(epoch);
        state.Epoch = epoch;
    }

    /// <summary>Whether <paramref name="wireId"/>, an export of the remote's, belongs to the remote's session as this pair knows it.</summary>
    public bool IsCurrentPeerId(long wireId) => EpochOf(wireId) == state.PeerEpoch;

    /// <summary>Whether <paramref name="wireId"/>, an export of this kernel's, belongs to its current export session.</summary>
    public bool IsCurrentLocalId(long wireId) => EpochOf(wireId) == state.Epoch;

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
