namespace OcapDgc;

/// <summary>
/// The DGC state of one local kernel towards one remote kernel, keyed <c>local/remote</c>
/// (see <see cref="DgcIds.HandleKey"/>). It owns the pair's c-list (kref ↔ wire ref), the import table
/// with receipt counts, and the outbound queue of addRef/dropRef/retire, which it sends in sequenced
/// batches (on an interval, when the queue reaches the size bound, and on BOYD). Inbound batches are
/// applied exactly once and in order, and acknowledged.
/// </summary>
/// <remarks>
/// Batch calls: every method takes arrays, and each call costs one durable write of the handle, so
/// translate all the refs of one message in one call. These are the calls a kernel makes; the same grain
/// also implements <see cref="Internal.IRemoteHandleInternal"/>, which only the DGC calls.
/// </remarks>
[Alias("ocap-dgc.IRemoteHandleGrain")]
public interface IRemoteHandleGrain : IGrainWithStringKey
{
    /// <summary>
    /// Translate on send: returns, for each kref, the wire ref as the remote will read it. The local
    /// kernel's own objects become <c>ro+N</c> and are counted, durably, before this returns; objects
    /// imported from this remote go back as <c>ro-N</c>.
    /// </summary>
    [Alias("export-refs")]
    Task<string[]> ExportRefsAsync(string[] krefs);

    /// <summary>
    /// Translate on receive: returns the local kref for each wire ref of a message from the remote.
    /// <c>ro+N</c> counts one receipt of an import (a new import gets a new kref and queues a
    /// <c>dgc:addRef</c>); <c>ro-N</c> must name an object this kernel exported to that remote.
    /// </summary>
    [Alias("import-refs")]
    Task<string[]> ImportRefsAsync(string[] wireRefs);

    /// <summary>Translates <paramref name="krefs"/> and sends an application message to the remote over the transport.</summary>
    [Alias("send")]
    Task<string[]> SendAsync(string method, string body, string[] krefs);

    /// <summary>
    /// The kernel no longer reaches these imports: queues one <c>dgc:dropRef</c> per import carrying every
    /// receipt so far. Refused (nothing changes) if any kref is not a reachable import from this remote.
    /// A revoked import may be dropped (nothing goes on the wire).
    /// </summary>
    [Alias("drop-imports")]
    Task DropImportsAsync(string[] krefs);

    /// <summary>
    /// The kernel forgets these dropped imports: queues <c>dgc:retire</c>. Refused with
    /// <see cref="DgcError.RetireBeforeDrop"/> if any is still reachable. Retiring a revoked import
    /// forgets it locally (nothing goes on the wire); until then, using it fails with <see cref="DgcError.Revoked"/>.
    /// </summary>
    [Alias("retire-imports")]
    Task RetireImportsAsync(string[] krefs);

    /// <summary>Flushes the queue now and resends every unacknowledged batch.</summary>
    [Alias("flush")]
    Task FlushAsync();

    /// <summary>
    /// Bring out your dead for this pair: flushes, resends unacknowledged batches and, when
    /// <paramref name="askRemote"/> is true, asks the remote to do the same. A BOYD that arrives from
    /// the remote is never echoed back.
    /// </summary>
    [Alias("boyd")]
    Task DeliverBringOutYourDeadAsync(bool askRemote);

    /// <summary>Per-remote figures. Read-only, so it interleaves with any call in progress.</summary>
    [Alias("figures"), Orleans.Concurrency.AlwaysInterleave]
    Task<RemoteFigures> GetFiguresAsync();

    /// <summary>
    /// The figures with the lease and contact times (kept in memory: a reactivated handle starts them anew).
    /// Read-only, so it interleaves with any call in progress and never pauses the protocol.
    /// </summary>
    [Alias("status"), Orleans.Concurrency.AlwaysInterleave, Orleans.Concurrency.ReadOnly]
    Task<RemoteStatus> GetStatusAsync();

    /// <summary>
    /// What <paramref name="kref"/> is in this pair: its wire ref, whether the remote (for an export) or the
    /// kernel (for an import) can reach it, and, for an export, when and in which message it was last sent
    /// if this activation sent it. Answers <see cref="RefRole.Unknown"/> for a kref the pair does not know.
    /// Read-only, so it interleaves with any call in progress.
    /// </summary>
    [Alias("trace-ref"), Orleans.Concurrency.AlwaysInterleave, Orleans.Concurrency.ReadOnly]
    Task<RefTrace> TraceRefAsync(string kref);
}

/// <summary>What one remote handle holds and has done since it was activated.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.RemoteFigures")]
public sealed record RemoteFigures(
    [property: Id(0)] string LocalKernel,
    [property: Id(1)] string RemoteKernel,
    [property: Id(2)] int Exports,
    [property: Id(3)] int Imports,
    [property: Id(4)] int ReachableImports,
    [property: Id(5)] int QueuedOps,
    [property: Id(6)] int UnackedBatches,
    [property: Id(7)] long NextOutboundSeq,
    [property: Id(8)] long HighestAppliedInbound,
    [property: Id(9)] long BatchesSent,
    [property: Id(10)] long BatchesApplied,
    [property: Id(11)] long DuplicateBatches,
    [property: Id(12)] long RejectedOps,
    [property: Id(13)] long FramesSent,
    [property: Id(14)] long FramesReceived,
    [property: Id(15)] long Incarnation,
    [property: Id(16)] long Epoch,
    [property: Id(17)] long PeerEpoch,
    [property: Id(18)] int RevokedImports,
    [property: Id(19)] long LeaseExpiries,
    [property: Id(20)] long PingsSent,
    [property: Id(21)] long Reconciliations,
    [property: Id(22)] long StaleOps,
    [property: Id(23)] long Stream,
    [property: Id(24)] long PeerStream,
    [property: Id(25)] long DuplicateMessages,
    [property: Id(26)] long LateMessagesRefused = 0,
    [property: Id(27)] bool SessionEnding = false);
