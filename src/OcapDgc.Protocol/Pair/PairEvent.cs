namespace OcapDgc;

/// <summary>Why this kernel's export session towards a remote ended.</summary>
public enum SessionEnd
{
    /// <summary>The remote did not renew its lease in time.</summary>
    LeaseLapsed,

    /// <summary>The remote restarted (a new incarnation).</summary>
    PeerRestarted,

    /// <summary>Reconciliation found a difference no lost message explains.</summary>
    Reconciled,

    /// <summary>This kernel restarted.</summary>
    LocalRestart,
}

/// <summary>
/// Something a pair did that operators and metrics care about. The pair reports; the grain logs and
/// counts (the protocol itself writes no log and touches no meter).
/// </summary>
public abstract record PairEvent;

/// <summary>A kernel call was refused; nothing changed.</summary>
public sealed record CallRefused(DgcError Code, string Reason) : PairEvent;

/// <summary>Inbound operations or a frame from the remote were refused.</summary>
public sealed record InboundRefused(int Count, string Reason) : PairEvent;

/// <summary>
/// An application message that waited to be delivered (its callback failed) was refused at a later delivery: it sends
/// back <see cref="Returned"/>, one of this kernel's own objects, which the kernel may have let go meanwhile.
/// </summary>
public sealed record LateMessageRefused(string MessageId, string Returned, string Reason) : PairEvent;

/// <summary>Inbound operations named an ended session and were ignored.</summary>
public sealed record StaleIgnored(int Count, string Reason) : PairEvent;

/// <summary>The remote's lease lapsed.</summary>
public sealed record LeaseLapsed(TimeSpan Silent, int Exports) : PairEvent;

/// <summary>The remote restarted.</summary>
public sealed record PeerRestarted(long OldIncarnation, long NewIncarnation) : PairEvent;

/// <summary>This kernel's export session towards the remote ended.</summary>
public sealed record SessionEnded(SessionEnd Why, int Exports, long OldEpoch, long NewEpoch) : PairEvent;

/// <summary>Reconciliation found differences; <see cref="First"/> names one.</summary>
public sealed record ReconcileFailed(int Count, string First) : PairEvent;

/// <summary>Reconciliation fenced off lost messages and released just their sends.</summary>
public sealed record LostSendsReleased(int Count) : PairEvent;

/// <summary>An effect for the kernel was recorded (written with the change that caused it), for a diagnosis.</summary>
public sealed record EffectRecorded(PendingEffect Effect) : PairEvent;

/// <summary>An effect was told to the kernel, with the krefs it still held when told (a late one may have been trimmed), for a diagnosis.</summary>
public sealed record EffectTold(string Id, EffectKind Kind, string[] Krefs) : PairEvent;

/// <summary>Refs were counted out to the remote.</summary>
public sealed record RefsExported(int Count) : PairEvent;

/// <summary>Receipts of imported refs were counted.</summary>
public sealed record RefsImported(int Count) : PairEvent;

/// <summary>A batch went on the wire (a retransmission included).</summary>
public sealed record BatchSent : PairEvent;

/// <summary>An inbound batch was applied.</summary>
public sealed record BatchApplied : PairEvent;
