using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// Durable state of one (local kernel, remote kernel) pair, persisted by the remote handle grain
/// (its serialized alias is still the handle's, so rows written before the protocol moved stay readable). It exists only while the pair holds
/// something or has GC operations in flight; a fully released handle clears it (no row left behind).
/// </summary>
[GenerateSerializer, Alias("ocap-dgc.RemoteHandleState")]
public sealed class PairState
{
    /// <summary>The next wire id for an export to this remote. Ids are never reused, so a wire ref never names two objects.</summary>
    [Id(0)]
    public long NextExportId { get; set; } = 1;

    /// <summary>Export side of the c-list, in the current <see cref="Epoch"/>: wire id (ro+N as the remote reads it) to the export.</summary>
    [Id(1)]
    public Dictionary<long, ExportEntry> Exports { get; set; } = [];

    /// <summary>Import table, in the remote's session <see cref="PeerEpoch"/>: the remote's wire id to the import.</summary>
    [Id(2)]
    public Dictionary<long, ImportEntry> Imports { get; set; } = [];

    /// <summary>Operations waiting for the next batch.</summary>
    [Id(3)]
    public List<DgcOp> Queue { get; set; } = [];

    /// <summary>Sequence number of the next outbound batch in <see cref="Stream"/>.</summary>
    [Id(4)]
    public long NextSeq { get; set; } = 1;

    /// <summary>Outbound batches not yet acknowledged, kept (encoded, with their session) to be sent again.</summary>
    [Id(5)]
    public List<SentBatch> Unacked { get; set; } = [];

    /// <summary>Highest inbound batch of <see cref="PeerStream"/> applied; batches at or below it are duplicates.</summary>
    [Id(6)]
    public long HighestApplied { get; set; }

    /// <summary>The local kernel's incarnation this session belongs to; 0 until the handle first needs a session.</summary>
    [Id(7)]
    public long Incarnation { get; set; }

    /// <summary>This kernel's export session towards the remote; a new one starts when the remote's lease lapses.</summary>
    [Id(8)]
    public long Epoch { get; set; }

    /// <summary>This handle's outbound batch stream; a new one starts only when the state is created afresh.</summary>
    [Id(9)]
    public long Stream { get; set; }

    /// <summary>The remote kernel's incarnation, as last seen; a greater one means it restarted.</summary>
    [Id(10)]
    public long PeerIncarnation { get; set; }

    /// <summary>The remote's export session that <see cref="Imports"/> belong to.</summary>
    [Id(11)]
    public long PeerEpoch { get; set; }

    /// <summary>The remote's batch stream that <see cref="HighestApplied"/> counts in.</summary>
    [Id(12)]
    public long PeerStream { get; set; }

    /// <summary>Highest wire id imported in <see cref="PeerEpoch"/>: an absent id at or below it was already retired here.</summary>
    [Id(13)]
    public long HighestImportId { get; set; }

    /// <summary>Krefs of imports revoked when the remote's session changed; using one fails until the kernel retires it.</summary>
    [Id(14)]
    public HashSet<string> Revoked { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The remote's application message stream that <see cref="MessageFloor"/> and <see cref="MessagesSeen"/> count in.</summary>
    [Id(15)]
    public long PeerMessageStream { get; set; }

    /// <summary>Every application message numbered at or below this was delivered (or given up as lost).</summary>
    [Id(16)]
    public long MessageFloor { get; set; }

    /// <summary>Application messages above <see cref="MessageFloor"/> already delivered, so a duplicate is not delivered twice.</summary>
    [Id(17)]
    public HashSet<long> MessagesSeen { get; set; } = [];

    /// <summary>
    /// What applying batches, ending sessions and reconciling did that the kernel has not yet acknowledged
    /// (its callback has not returned): written with the state change that caused it, delivered until the
    /// kernel's callback returns, in order.
    /// </summary>
    [Id(18)]
    public List<PendingEffect> Outbox { get; set; } = [];

    /// <summary>The number of the next effect in <see cref="Stream"/>; with the stream it makes the effect's id.</summary>
    [Id(19)]
    public long NextEffect { get; set; } = 1;

    /// <summary>
    /// While this kernel ends its export session towards the remote: the exports whose holds are being let
    /// go, written before any is, so a crash in the middle is finished by the next activation.
    /// </summary>
    [Id(20)]
    public List<string> EndingSession { get; set; } = [];

    /// <summary>Why the session in <see cref="EndingSession"/> ends.</summary>
    [Id(21)]
    public SessionEnd EndingWhy { get; set; }

    /// <summary>
    /// When the remote last renewed its lease on this kernel's exports, as last written: written when it
    /// has moved on by a quarter of the lease or more (not on every frame), so a handle reactivated on
    /// another silo after a crash does not give the remote a whole new lease, only up to a quarter of one.
    /// </summary>
    [Id(22)]
    public DateTimeOffset LeaseRenewedAt { get; set; }

    /// <summary>
    /// The last entry of the pair's journal that this state includes (kept by <see cref="PairJournal"/>
    /// in the snapshot it writes; not part of a delta).
    /// </summary>
    [Id(23)]
    public long JournalVersion { get; set; }

    /// <summary>
    /// The lowest journal entry that may still be stored although the snapshot includes it (left by a
    /// compaction or clear that stopped before it deleted them); <see cref="PairJournal"/> deletes them.
    /// </summary>
    [Id(24)]
    public long JournalFloor { get; set; }

    /// <summary>Whether the state is being cleared: the journal deletes its entries, then this snapshot.</summary>
    [Id(25)]
    public bool JournalClearing { get; set; }

    /// <summary>
    /// The inbound batch being applied to the export owners (its frame, as received), written before the
    /// first owner is asked and cleared with the record that it was applied. A crash in between leaves it
    /// here, and the next activation finishes applying it before anything else: otherwise a re-send after
    /// the crash could create a hold that the batch, resent by the remote and applied again, releases.
    /// </summary>
    [Id(26)]
    public string? Applying { get; set; }

    [NonSerialized]
    private readonly PairChanges _changes = new();

    /// <summary>What changed since the state was last written (not persisted).</summary>
    public PairChanges Changes => _changes;

    /// <summary>Whether anything is held or in flight; a handle with none of it clears its state.</summary>
    public bool IsEmpty => Exports.Count == 0 && Imports.Count == 0 && Revoked.Count == 0 && Queue.Count == 0 && Unacked.Count == 0 && Outbox.Count == 0 && EndingSession.Count == 0;
}

/// <summary>One export to the remote.</summary>
[GenerateSerializer, SuppressReferenceTracking, Alias("ocap-dgc.ExportEntry")]
public sealed class ExportEntry : IDigestedEntry
{
    /// <summary>The local kref.</summary>
    [Id(0)]
    public string Kref { get; set; } = "";

    /// <summary>Whether the remote can reach it (its count at the export grain is above zero), as far as this handle knows.</summary>
    [Id(1)]
    public bool Reachable { get; set; }

    [NonSerialized]
    private bool _confirmed;

    /// <summary>
    /// Whether the remote confirmed the import with <c>dgc:addRef</c> (seen by this activation; not
    /// stored: it is for operators, no rule depends on it, and storing it would write every export twice).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Confirmed
    {
        get => _confirmed;
        set => _confirmed = value;
    }

    /// <summary>When it was last sent (UTC ticks; 0: not recorded).</summary>
    [Id(3)]
    public long LastSentTicks { get; set; }

    /// <summary>
    /// The application message stream of the message that last carried it (with <see cref="CarrierSeq"/>),
    /// recorded before that message left, so reconciliation can fence off that message if it is lost,
    /// also after the handle was reactivated. 0: not known (the kernel carried the message itself).
    /// </summary>
    [Id(4)]
    public long CarrierStream { get; set; }

    /// <summary>See <see cref="CarrierStream"/>.</summary>
    [Id(5)]
    public long CarrierSeq { get; set; }

    /// <summary>How the c-list's running digest last counted this entry (<see cref="RunningDigest"/>; not stored).</summary>
    [NonSerialized]
    private byte _digested;

    byte IDigestedEntry.Digested
    {
        get => _digested;
        set => _digested = value;
    }

    /// <summary>A copy (journal entries must not change with the live state).</summary>
    public ExportEntry Copy() => (ExportEntry)MemberwiseClone();
}

/// <summary>One import from the remote.</summary>
[GenerateSerializer, SuppressReferenceTracking, Alias("ocap-dgc.ImportEntry")]
public sealed class ImportEntry : IDigestedEntry
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

    /// <summary>How the c-list's running digest last counted this entry (<see cref="RunningDigest"/>; not stored).</summary>
    [NonSerialized]
    private byte _digested;

    byte IDigestedEntry.Digested
    {
        get => _digested;
        set => _digested = value;
    }

    /// <summary>A copy (journal entries must not change with the live state).</summary>
    public ImportEntry Copy() => (ImportEntry)MemberwiseClone();
}

/// <summary>An outbound batch kept until acknowledged.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.SentBatch")]
public sealed record SentBatch([property: Id(0)] long Seq, [property: Id(1)] string Json);
