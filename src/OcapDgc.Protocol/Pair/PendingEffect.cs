namespace OcapDgc;

/// <summary>What kind of effect a <see cref="PendingEffect"/> is; each is one <c>IDgcKernel</c> callback.</summary>
public enum EffectKind
{
    /// <summary>No remote can reach these exports any more.</summary>
    ExportsDropped = 0,

    /// <summary>No remote can recognize these exports any more.</summary>
    ExportsRetired = 1,

    /// <summary>These imports were revoked (the exporter ended their session).</summary>
    ImportsRevoked = 2,

    /// <summary>The exporter deleted these imports' objects.</summary>
    ImportsRetired = 3,

    /// <summary>This kernel's export session with the remote ended; these were its holds.</summary>
    SessionEnded = 4,

    /// <summary>An application message arrived (<see cref="PendingEffect.Method"/>, <see cref="PendingEffect.Body"/>); these are its refs as the kernel's krefs.</summary>
    MessageDelivered = 5,
}

/// <summary>
/// One effect the kernel must hear, kept in the pair's state until its callback returns: what applying a
/// batch, ending a session or revoking did, or an application message that arrived. <see cref="Id"/>
/// is unique (the remote, the pair's batch stream, a number), so a kernel that hears it twice (after a
/// crash between delivering it and recording that) can ignore the repeat. For a message, <see cref="Returned"/>
/// lists the krefs among its refs that are this kernel's own objects sent back (null when none): a message that
/// waits must still find them alive when it is delivered.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.PendingEffect")]
public sealed record PendingEffect(
    [property: Id(0)] string Id,
    [property: Id(1)] EffectKind Kind,
    [property: Id(2)] string[] Krefs,
    [property: Id(3)] SessionEnd Why = SessionEnd.LeaseLapsed,
    [property: Id(4)] long CauseStream = 0,
    [property: Id(5)] long CauseSeq = 0,
    [property: Id(6)] string? Method = null,
    [property: Id(7)] string? Body = null,
    [property: Id(8)] string[]? Returned = null)
{
    /// <summary>The notice the kernel hears for it.</summary>
    public KernelNotice ToNotice() => Kind switch
    {
        EffectKind.ExportsDropped => new ExportsDropped(Krefs) { EffectId = Id },
        EffectKind.ExportsRetired => new ExportsRetired(Krefs) { EffectId = Id },
        EffectKind.ImportsRevoked => new ImportsRevoked(Krefs) { EffectId = Id },
        EffectKind.ImportsRetired => new ImportsRetired(Krefs) { EffectId = Id },
        EffectKind.MessageDelivered => new MessageDelivered(Method ?? "", Body ?? "", Krefs) { EffectId = Id },
        _ => new RemoteSessionEnded(Why, Krefs) { EffectId = Id },
    };
}
