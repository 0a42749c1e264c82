using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>Durable state of one (local kernel, remote kernel) pair.</summary>
[GenerateSerializer, Alias("ocap-dgc.RemoteHandleState")]
public sealed class RemoteHandleState
{
    /// <summary>The next wire id for an export to this remote. Ids are never reused, so a wire ref never names two objects.</summary>
    [Id(0)]
    public long NextExportId { get; set; } = 1;

    /// <summary>Export side of the c-list: wire id (ro+N as the remote reads it) to local kref.</summary>
    [Id(1)]
    public Dictionary<long, string> Exports { get; set; } = [];

    /// <summary>Import table: the remote's wire id to the import.</summary>
    [Id(2)]
    public Dictionary<long, ImportEntry> Imports { get; set; } = [];

    /// <summary>Operations waiting for the next batch.</summary>
    [Id(3)]
    public List<DgcOp> Queue { get; set; } = [];

    /// <summary>Sequence number of the next outbound batch.</summary>
    [Id(4)]
    public long NextSeq { get; set; } = 1;

    /// <summary>Outbound batches not yet acknowledged, kept to be sent again.</summary>
    [Id(5)]
    public List<SentBatch> Unacked { get; set; } = [];

    /// <summary>Highest inbound batch applied; batches at or below it are duplicates.</summary>
    [Id(6)]
    public long HighestApplied { get; set; }

    /// <summary>Whether the kernel's manager knows this remote.</summary>
    [Id(7)]
    public bool Registered { get; set; }
}

/// <summary>One import from the remote.</summary>
[GenerateSerializer, Alias("ocap-dgc.ImportEntry")]
public sealed class ImportEntry
{
    /// <summary>The local kref the kernel uses for it.</summary>
    [Id(0)]
    public string Kref { get; set; } = "";

    /// <summary>Receipts not yet released by a dropRef.</summary>
    [Id(1)]
    public long Receipts { get; set; }

    /// <summary>False once the kernel dropped it (it may still recognize it until it retires it).</summary>
    [Id(2)]
    public bool Reachable { get; set; }
}

/// <summary>An outbound batch kept until acknowledged.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.SentBatch")]
public sealed record SentBatch([property: Id(0)] long Seq, [property: Id(1)] string Json);
