namespace OcapDgc;

/// <summary>Durable state of one export: per remote that can recognize it, its hold.</summary>
[GenerateSerializer, SuppressReferenceTracking, Alias("ocap-dgc.ExportState")]
public sealed class ExportState
{
    /// <summary>
    /// Remote kernel id to its hold. A remote is present while it can recognize the object. The default comparer
    /// (ordinal for strings): a row then stores no comparer, a quarter of its bytes.
    /// </summary>
    [Id(0)]
    public Dictionary<string, RemoteHold> Holds { get; set; } = [];

    /// <summary>The remote whose batch (<see cref="DroppedByStream"/>, <see cref="DroppedBySeq"/>) last made the object unreachable, so a replay of that batch says "dropped" again.</summary>
    [Id(1)]
    public string? DroppedBy { get; set; }

    /// <summary>See <see cref="DroppedBy"/>.</summary>
    [Id(2)]
    public long DroppedByStream { get; set; }

    /// <summary>See <see cref="DroppedBy"/>.</summary>
    [Id(3)]
    public long DroppedBySeq { get; set; }

    /// <summary>
    /// Whether the export grain of this kref owns the state (a second remote came to recognize the object); until
    /// then the kernel's export shard does, and the export grain is not activated for it. Only the shard sets it;
    /// it stays set until the state is cleared.
    /// </summary>
    [Id(4)]
    public bool Shared { get; set; }

    /// <summary>Whether some remote can reach the object; "export dropped" fires when this falls to false.</summary>
    public bool Reachable => Holds.Values.Any(h => h.Count > 0);
}

/// <summary>One remote's hold on an export.</summary>
[GenerateSerializer, SuppressReferenceTracking, Alias("ocap-dgc.RemoteHold")]
public sealed class RemoteHold
{
    /// <summary>Times sent to the remote minus receipts it released. The remote can reach the object while this is above zero.</summary>
    [Id(0)]
    public long Count { get; set; }

    /// <summary>The last inbound batch from the remote applied here (within <see cref="LastStream"/>), so a replay is not applied twice.</summary>
    [Id(2)]
    public long LastSeq { get; set; }

    /// <summary>The remote's batch stream that <see cref="LastSeq"/> belongs to.</summary>
    [Id(3)]
    public long LastStream { get; set; }
}
