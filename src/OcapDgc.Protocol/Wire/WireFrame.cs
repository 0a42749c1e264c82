namespace OcapDgc.Wire;

/// <summary>
/// The session a frame belongs to, carried by every frame. Epochs and streams are drawn from the
/// sending kernel's counter, which never goes back, so "newer" is simply "greater".
/// </summary>
/// <param name="Incarnation">The sending kernel's incarnation; it grows each time the kernel restarts without its memory.</param>
/// <param name="Epoch">The sender's export session towards the receiver: every <c>ro+N</c> in the frame is scoped to it.</param>
/// <param name="Peer">The receiver's export session as the sender last learned it: every <c>ro-N</c> in the frame is scoped to it (0: none yet).</param>
public sealed record SessionHeader(long Incarnation, long Epoch, long Peer)
{
    /// <summary>No session (only for frames built by hand, e.g. in tests).</summary>
    public static SessionHeader None { get; } = new(0, 0, 0);
}

/// <summary>One message on the transport between two kernels' remote handles.</summary>
public abstract record WireFrame
{
    /// <summary>The session the frame belongs to.</summary>
    public SessionHeader Session { get; init; } = SessionHeader.None;
}

/// <summary>
/// <c>dgc:batch</c>: a sequenced batch of GC operations, applied by the receiver exactly once and in order.
/// </summary>
/// <param name="Stream">The sender's batch stream; a new stream starts at sequence 1 when the sender's handle state is created afresh.</param>
/// <param name="Seq">This batch's sequence number within the stream.</param>
/// <param name="Acked">Every batch up to this one was acknowledged, so a receiver that lost its record of the stream starts after it.</param>
/// <param name="Ops">The operations, in order.</param>
/// <param name="AfterStream">With <paramref name="AfterSeq"/>, a barrier: the receiver applies the batch only after
/// every application message of the sender's message stream <paramref name="AfterStream"/> up to
/// <paramref name="AfterSeq"/> was delivered or given up as lost (and refuses older streams from then on), so a
/// drop never overtakes a message that sent the same object back. 0: no barrier.</param>
/// <param name="AfterSeq">See <paramref name="AfterStream"/>.</param>
public sealed record BatchFrame(long Stream, long Seq, long Acked, IReadOnlyList<DgcOp> Ops, long AfterStream = 0, long AfterSeq = 0) : WireFrame;

/// <summary><c>dgc:ack</c>: every batch of <see cref="Stream"/> up to <see cref="Seq"/> has been applied.</summary>
public sealed record AckFrame(long Stream, long Seq) : WireFrame;

/// <summary><c>dgc:bringOutYourDead</c>: the sender ran BOYD and asks the receiver to collect and flush too. Never echoed.</summary>
public sealed record BringOutYourDeadFrame : WireFrame;

/// <summary>
/// <c>dgc:ping</c>: the importer renews its lease on the receiver's exports (one per remote per
/// interval, however many refs it holds) and describes its import set.
/// </summary>
/// <param name="Stream">The importer's batch stream.</param>
/// <param name="AsOf">The last batch of that stream sent before the digest was taken: the digest already reflects every operation up to it.</param>
/// <param name="Imports">How many imports the importer holds in the receiver's current session.</param>
/// <param name="Digest">Order-independent digest of (wire id, reachable) over those imports; see <see cref="ImportDigest"/>.</param>
public sealed record PingFrame(long Stream, long AsOf, int Imports, string Digest) : WireFrame;

/// <summary>What the exporter found when it compared a ping's digest with its own table.</summary>
public enum PongStatus
{
    /// <summary>The import set matches the export table.</summary>
    Match = 0,

    /// <summary>The exporter has not applied every batch the ping counted on: resend the unacknowledged ones.</summary>
    Behind = 1,

    /// <summary>The sets differ: send the full import list (<c>dgc:imports</c>) so the two sides reconcile.</summary>
    Mismatch = 2,

    /// <summary>
    /// The session the sender named is over (or the sender restarted): the frame's session header names
    /// the current one. Also sent unasked, as a greeting after a restart.
    /// </summary>
    NewSession = 3,
}

/// <summary><c>dgc:pong</c>: answers a ping; its session header tells the importer the exporter's current session.</summary>
public sealed record PongFrame(PongStatus Status) : WireFrame;

/// <summary>One entry of a <c>dgc:imports</c> list: an import (the receiver's export) and whether the importer still reaches it.</summary>
public sealed record ImportListEntry(WireRef Ref, bool Reachable);

/// <summary><c>dgc:imports</c>: the importer's whole import set, sent after a mismatched ping or a fence, so the exporter can reconcile.</summary>
/// <param name="Stream">The importer's batch stream.</param>
/// <param name="AsOf">The last batch of that stream the list already reflects.</param>
/// <param name="Entries">Every import in the exporter's current session.</param>
/// <param name="FenceStream">With <paramref name="FenceSeq"/>: the exporter's message stream and number up to which the importer now refuses any message not yet delivered (0: no fence).</param>
/// <param name="FenceSeq">See <paramref name="FenceStream"/>.</param>
/// <param name="AppliedStream">With <paramref name="AppliedSeq"/>: how far the importer had applied the exporter's batch
/// stream when it made the list (-1: not said, an older peer). The exporter compares the list only if that
/// covers every batch it sealed, so a list made before one of its retires, and delayed, is not compared.</param>
/// <param name="AppliedSeq">See <paramref name="AppliedStream"/>.</param>
public sealed record ImportListFrame(long Stream, long AsOf, IReadOnlyList<ImportListEntry> Entries, long FenceStream = 0, long FenceSeq = 0, long AppliedStream = -1, long AppliedSeq = 0) : WireFrame;

/// <summary>
/// <c>dgc:fence</c>: the exporter declares every application message of its stream up to
/// <see cref="Seq"/> that has not arrived yet lost. The importer refuses them from now on and answers
/// with its import list, so refs carried only by those messages can be released one by one.
/// </summary>
public sealed record FenceFrame(long Stream, long Seq) : WireFrame;

/// <summary>An application message (any method not starting with <c>dgc:</c>) carrying references.</summary>
/// <param name="Stream">The sender's message stream (one per activation of its handle, drawn from its kernel's counter).</param>
/// <param name="Seq">The message's number in that stream; the receiver delivers each number once, so a duplicate never counts a receipt twice.</param>
/// <param name="Method">The application method.</param>
/// <param name="Body">The application payload.</param>
/// <param name="Refs">The references it carries, signed from the receiver's side.</param>
public sealed record AppFrame(long Stream, long Seq, string Method, string Body, IReadOnlyList<WireRef> Refs) : WireFrame;
