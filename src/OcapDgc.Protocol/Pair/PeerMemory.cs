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
