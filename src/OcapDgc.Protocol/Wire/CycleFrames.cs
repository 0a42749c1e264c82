namespace OcapDgc.Wire;

/// <summary>
/// <c>dgc:cycleAsk</c>: the exporter asks the importer, within one back trace, whether its import of
/// <see cref="Ref"/> (the sender's export, <c>ro+N</c> as the importer reads it) is reachable from a root,
/// directly or through other kernels (see docs/protocol.md, "Cycles").
/// </summary>
/// <param name="Trace">The trace (a random number the initiator drew).</param>
/// <param name="Confirm">0 in the trace's first round; in the confirming round, its own random number.</param>
/// <param name="Ref">The sender's export the question is about (<c>ro+N</c>).</param>
public sealed record CycleAskFrame(long Trace, long Confirm, WireRef Ref) : WireFrame;

/// <summary>
/// <c>dgc:cycleReply</c>: the importer's answer to a <see cref="CycleAskFrame"/>, about
/// <see cref="Ref"/> (the receiver's export, <c>ro-N</c>).
/// </summary>
/// <param name="Trace">The trace.</param>
/// <param name="Confirm">The round (0: first).</param>
/// <param name="Ref">The receiver's export the answer is about (<c>ro-N</c>).</param>
/// <param name="Live">True: a root reaches it, or the importer could not tell (live or unknown); false: no root was found.</param>
/// <param name="Pending">With <paramref name="Live"/> false: nodes (<c>kernel/kref</c>) still being traced that the answer depends on.</param>
/// <param name="Receipts">The importer's receipts of the import when it answered (the exporter compares them with its count).</param>
/// <param name="AfterStream">With <paramref name="AfterSeq"/>: the importer's application message stream towards the exporter and the last message it had sent when it answered (0: none).</param>
/// <param name="AfterSeq">See <paramref name="AfterStream"/>.</param>
public sealed record CycleReplyFrame(long Trace, long Confirm, WireRef Ref, bool Live, IReadOnlyList<string> Pending, long Receipts, long AfterStream = 0, long AfterSeq = 0) : WireFrame;
