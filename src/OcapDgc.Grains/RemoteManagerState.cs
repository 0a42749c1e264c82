namespace OcapDgc;

/// <summary>Durable state of one kernel's RemoteManager.</summary>
[GenerateSerializer, Alias("ocap-dgc.RemoteManagerState")]
public sealed class RemoteManagerState
{
    /// <summary>The kernel grain that receives callbacks.</summary>
    [Id(0)]
    public IDgcKernel? Kernel { get; set; }

    /// <summary>Remote kernels this kernel has a handle towards.</summary>
    [Id(1)]
    public HashSet<string> Remotes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The next kref number; krefs are never reused.</summary>
    [Id(2)]
    public long NextKref { get; set; } = 1;

    /// <summary>The kernel's incarnation; grows each time it restarts without its memory.</summary>
    [Id(3)]
    public long Incarnation { get; set; } = 1;

    /// <summary>The next session epoch or batch stream id; never goes back, so newer is always greater.</summary>
    [Id(4)]
    public long NextEpoch { get; set; } = 1;

    /// <summary>Per remote whose handle cleared its state: what it knew of the remote (see <see cref="PeerMemory"/>). One small entry per remote ever talked to.</summary>
    [Id(5)]
    public Dictionary<string, PeerMemory> PeerMemories { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The kernel grain that answers its cycle collector, once the kernel turned cycle detection on (null: off).</summary>
    [Id(6)]
    public ICycleKernel? CycleKernel { get; set; }

    /// <summary>
    /// The incarnation whose handle resets are not all known done (0: none). Written with the new incarnation,
    /// before any handle is reset, and cleared once every handle has been; while set, the manager's
    /// <c>dgc-restart</c> reminder finishes the resets, so a restart a silo crash interrupted still completes.
    /// </summary>
    [Id(7)]
    public long ResettingTo { get; set; }
}
