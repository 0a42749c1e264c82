namespace OcapDgc.Wire;

/// <summary>One message on the transport between two kernels' remote handles.</summary>
public abstract record WireFrame;

/// <summary><c>dgc:batch</c>: a sequenced batch of GC operations, applied by the receiver exactly once and in order.</summary>
public sealed record BatchFrame(long Seq, IReadOnlyList<DgcOp> Ops) : WireFrame;

/// <summary><c>dgc:ack</c>: every batch with a sequence number up to <see cref="Seq"/> has been applied.</summary>
public sealed record AckFrame(long Seq) : WireFrame;

/// <summary><c>dgc:bringOutYourDead</c>: the sender ran BOYD and asks the receiver to collect and flush too. Never echoed.</summary>
public sealed record BringOutYourDeadFrame : WireFrame;

/// <summary>An application message (any method not starting with <c>dgc:</c>) carrying references.</summary>
public sealed record AppFrame(string Method, string Body, IReadOnlyList<WireRef> Refs) : WireFrame;
