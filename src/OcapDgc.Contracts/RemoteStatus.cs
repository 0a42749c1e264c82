namespace OcapDgc;

/// <summary>
/// What an operator asks of one remote handle: its <see cref="RemoteFigures"/>, plus the lease and contact
/// times, which live in the handle's memory only. Times are on the DGC's clock (<see cref="Now"/> is when the
/// handle answered), so ages are <c>Now - ...</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.RemoteStatus")]
public sealed record RemoteStatus(
    [property: Id(0)] RemoteFigures Figures,
    [property: Id(1)] DateTimeOffset Now,
    [property: Id(2)] TimeSpan Lease,
    [property: Id(3)] DateTimeOffset LeaseRenewedAt,
    [property: Id(4)] DateTimeOffset AgreedAt,
    [property: Id(5)] DateTimeOffset? LastPingSent,
    [property: Id(6)] DateTimeOffset? LastFrameReceived,
    [property: Id(7)] DateTimeOffset ActivatedAt,
    [property: Id(8)] long PeerIncarnation)
{
    /// <summary>How long since the remote last renewed its lease on this kernel's exports.</summary>
    public TimeSpan LeaseAge => Now - LeaseRenewedAt;

    /// <summary>Whether the remote holds exports and has been silent for more than half the lease (it missed pings).</summary>
    public bool LeaseLapsing => Figures.Exports > 0 && LeaseAge > Lease / 2;
}

/// <summary>What a kref is in one pair (<see cref="IRemoteHandleGrain.TraceRefAsync"/>).</summary>
public enum RefRole
{
    /// <summary>The pair does not know the kref.</summary>
    Unknown,

    /// <summary>An object of the local kernel exported to the remote.</summary>
    Export,

    /// <summary>An object of the remote imported by the local kernel.</summary>
    Import,

    /// <summary>An import the remote's session change revoked; the kernel has not retired it yet.</summary>
    RevokedImport,
}

/// <summary>
/// One kref as one pair sees it. For an export: its wire ref as the remote reads it (<c>ro+N</c>), whether
/// the remote can reach it as far as this pair knows, whether the remote confirmed it with <c>dgc:addRef</c>
/// since the handle was activated (<see cref="Confirmed"/>), and when and in which application message it was last sent (recorded durably
/// with the send; no message number: carried by the kernel itself).
/// For an import: its wire ref as received, its receipts and whether the kernel still reaches it.
/// </summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.RefTrace")]
public sealed record RefTrace(
    [property: Id(0)] string LocalKernel,
    [property: Id(1)] string RemoteKernel,
    [property: Id(2)] string Kref,
    [property: Id(3)] RefRole Role,
    [property: Id(4)] string? WireRef,
    [property: Id(5)] bool Reachable,
    [property: Id(6)] long Receipts,
    [property: Id(7)] DateTimeOffset? LastSentAt,
    [property: Id(8)] long? LastSentInMessage,
    [property: Id(9)] long Epoch,
    [property: Id(10)] long PeerEpoch,
    [property: Id(11)] DateTimeOffset Now,
    [property: Id(12)] bool Confirmed = false);
