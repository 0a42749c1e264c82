namespace OcapDgc;

/// <summary>The event ids of every log line the DGC writes, in one place.</summary>
public enum DgcLogEvent
{
    /// <summary>A frame could not be handed to the receiving handle.</summary>
    FrameNotDelivered = 1001,

    /// <summary>An export refused one operation of an inbound batch.</summary>
    ExportOpRefused = 2001,

    /// <summary>A kernel call was refused.</summary>
    CallRefused = 3001,

    /// <summary>An inbound operation or frame was refused.</summary>
    InboundRefused = 3002,

    /// <summary>The kernel has not registered for callbacks.</summary>
    NoKernel = 3003,

    /// <summary>A kernel callback failed.</summary>
    KernelCallbackFailed = 3004,

    /// <summary>Something of an ended session was ignored.</summary>
    StaleIgnored = 3005,

    /// <summary>A remote's lease lapsed.</summary>
    LeaseLapsed = 3006,

    /// <summary>A remote restarted.</summary>
    PeerRestarted = 3007,

    /// <summary>A session ended.</summary>
    SessionEnded = 3008,

    /// <summary>Reconciliation found lasting differences and ends the session.</summary>
    ReconcileFailed = 3009,

    /// <summary>Reconciliation fenced off lost messages and released their sends.</summary>
    LostSendsReleased = 3012,

    /// <summary>A message that waited to be delivered was refused: an object it sends back may have been let go.</summary>
    LateMessageRefused = 3013,

    /// <summary>A remote handle's write was refused because another activation of it wrote since: this one deactivates.</summary>
    HandleSuperseded = 3014,

    /// <summary>A remote handle's operation failed part way (a call it made failed): this activation writes nothing more and deactivates, as after a crash.</summary>
    HandleStoppedPartWay = 3017,

    /// <summary>An effect for the kernel was recorded (debug level).</summary>
    EffectRecorded = 3015,

    /// <summary>An effect was told to the kernel (debug level).</summary>
    EffectTold = 3016,

    /// <summary>An export became reachable or unreachable (debug level).</summary>
    ExportReachability = 2002,
}
