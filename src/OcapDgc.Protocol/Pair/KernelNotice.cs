namespace OcapDgc;

/// <summary>What a pair tells its kernel; the grain turns each into the matching <c>IDgcKernel</c> callback.</summary>
public abstract record KernelNotice
{
    /// <summary>For an effect or a message (see <see cref="PendingEffect"/>): its id, the same on every delivery of it; empty otherwise.</summary>
    public string EffectId { get; init; } = "";
}

/// <summary>An application message arrived, its refs translated to the kernel's krefs; an effect (its id names the message on every delivery).</summary>
public sealed record MessageDelivered(string Method, string Body, string[] Krefs) : KernelNotice;

/// <summary>No remote can reach these exports any more.</summary>
public sealed record ExportsDropped(string[] Krefs) : KernelNotice;

/// <summary>No remote can recognize these exports any more.</summary>
public sealed record ExportsRetired(string[] Krefs) : KernelNotice;

/// <summary>The remote's session changed: these imports name nothing any more.</summary>
public sealed record ImportsRevoked(string[] Krefs) : KernelNotice;

/// <summary>The remote deleted these objects.</summary>
public sealed record ImportsRetired(string[] Krefs) : KernelNotice;

/// <summary>This kernel's export session towards the remote ended (<see cref="Why"/>): its holds on <see cref="Released"/> were let go.</summary>
public sealed record RemoteSessionEnded(SessionEnd Why, string[] Released) : KernelNotice;

/// <summary>The remote ran bring-out-your-dead.</summary>
public sealed record BoydRequested : KernelNotice;
