namespace OcapDgc;

/// <summary>
/// What a pair remembers of its remote after it cleared its state (it held nothing): the remote's
/// incarnation and export session as last seen, the highest import id of that session, how far the
/// remote's application messages were delivered, and how far its batch stream was applied. The kernel's manager keeps it per remote, so a late
/// copy of an old message, or one of an ended session, is refused even after the pair was cleared or the
/// kernel restarted; without it a cleared pair would take that copy for new.
/// </summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.PeerMemory")]
public sealed record PeerMemory(
    [property: Id(0)] long PeerIncarnation,
    [property: Id(1)] long PeerEpoch,
    [property: Id(2)] long HighestImportId,
    [property: Id(3)] long PeerMessageStream,
    [property: Id(4)] long MessageFloor,
    [property: Id(5)] long PeerStream,
    [property: Id(6)] long HighestApplied)
{
    /// <summary>What <paramref name="state"/> knows of its remote; a gap in its messages counts as lost from now on.</summary>
    public static PeerMemory Of(PairState state) => new(
        state.PeerIncarnation,
        state.PeerEpoch,
        state.HighestImportId,
        state.PeerMessageStream,
        state.MessagesSeen.Count > 0 ? Math.Max(state.MessageFloor, state.MessagesSeen.Max()) : state.MessageFloor,
        state.PeerStream,
        state.HighestApplied);

    /// <summary>Restores it into a fresh state.</summary>
    public void RestoreInto(PairState state)
    {
        state.PeerIncarnation = PeerIncarnation;
        state.PeerEpoch = PeerEpoch;
        state.HighestImportId = HighestImportId;
        state.PeerMessageStream = PeerMessageStream;
        state.MessageFloor = MessageFloor;
        state.PeerStream = PeerStream;
        state.HighestApplied = HighestApplied;
    }
}

/// <summary>
/// What the kernel's manager has of a remote when a pair with no state of its own activates: what the pair's last
/// activation left when it cleared (<see cref="Memory"/>, if anything), and whether the remote is still on the
/// manager's list (<see cref="Listed"/>): a pair with no row that is still listed died after clearing its row (or
/// after opening a session, before its first write), before its manager forgot the remote.
/// </summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.PeerRecall")]
public sealed record PeerRecall(
    [property: Id(0)] PeerMemory? Memory,
    [property: Id(1)] bool Listed);
