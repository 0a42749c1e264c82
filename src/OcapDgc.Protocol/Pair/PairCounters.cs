namespace OcapDgc;

/// <summary>What one pair did since it was created: per activation of its grain, not durable.</summary>
public sealed class PairCounters
{
    /// <summary>Batches put on the wire, retransmissions included.</summary>
    public long BatchesSent { get; set; }

    /// <summary>Inbound batches applied.</summary>
    public long BatchesApplied { get; set; }

    /// <summary>Inbound batches already applied, acknowledged again.</summary>
    public long DuplicateBatches { get; set; }

    /// <summary>Kernel calls and inbound operations refused.</summary>
    public long Rejected { get; set; }

    /// <summary>Frames sent.</summary>
    public long FramesSent { get; set; }

    /// <summary>Frames received.</summary>
    public long FramesReceived { get; set; }

    /// <summary>Leases of the remote that lapsed.</summary>
    public long LeaseExpiries { get; set; }

    /// <summary>Pings sent.</summary>
    public long PingsSent { get; set; }

    /// <summary>Reconciliations that released holds (a fence, or a session end).</summary>
    public long Reconciliations { get; set; }

    /// <summary>Inbound operations and refs that named an ended session.</summary>
    public long StaleOps { get; set; }

    /// <summary>Application messages that arrived again and were not delivered.</summary>
    public long DuplicateMessages { get; set; }

    /// <summary>Application messages refused at a late delivery: an object of this kernel they send back may have been let go.</summary>
    public long LateMessagesRefused { get; set; }
}
