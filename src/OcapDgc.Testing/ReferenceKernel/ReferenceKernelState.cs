namespace OcapDgc.ReferenceKernel;

/// <summary>A reference kernel's ground truth, written to the DGC store when <see cref="ReferenceKernelOptions.Durable"/>.</summary>
[GenerateSerializer, Alias("ocap-dgc.ReferenceKernelState")]
public sealed class ReferenceKernelState
{
    /// <summary>Own objects by kref.</summary>
    [Id(0)]
    public Dictionary<string, OwnObject> Own { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Per remote kernel: import kref to label (<c>kernel/kref</c> at the origin).</summary>
    [Id(1)]
    public Dictionary<string, Dictionary<string, string>> ImportsByRemote { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Labels this kernel holds an import of, with the number of imports naming each.</summary>
    [Id(2)]
    public Dictionary<string, int> HeldLabels { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Own objects ever sent to another kernel.</summary>
    [Id(3)]
    public HashSet<string> Exported { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Own objects the DGC reported retired.</summary>
    [Id(4)]
    public HashSet<string> Retired { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Exports reported dropped, in all.</summary>
    [Id(5)]
    public int DroppedEvents { get; set; }

    /// <summary>Exports reported dropped while an importer's ground truth still held them and the DGC counted no hold of that importer.</summary>
    [Id(6)]
    public int Premature { get; set; }

    /// <summary>Imports revoked by their exporter.</summary>
    [Id(7)]
    public int Revoked { get; set; }

    /// <summary>Imports retired by their exporter.</summary>
    [Id(8)]
    public int ImportsRetired { get; set; }

    /// <summary>Application messages received.</summary>
    [Id(9)]
    public int Messages { get; set; }

    /// <summary>Times the bring-out-your-dead reminder fired.</summary>
    [Id(10)]
    public int BoydTicks { get; set; }

    /// <summary>Deliveries where a kref named another object than its label (S2 broken).</summary>
    [Id(11)]
    public int Confused { get; set; }

    /// <summary>
    /// Per remote: imports this kernel no longer holds but the DGC still knows (dropped but still
    /// recognized, a weak-map key say, or revoked), retired at the next drop-all with retire.
    /// </summary>
    [Id(12)]
    public Dictionary<string, HashSet<string>> ToRetire { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Times the DGC told this kernel that its session with a remote ended.</summary>
    [Id(13)]
    public int SessionsEnded { get; set; }

    /// <summary>Ids of the effects (dropped, retired, revoked, ...) already heard: a repeat is ignored.</summary>
    [Id(14)]
    public HashSet<string> SeenEffects { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Effects heard again (same id) and ignored: the DGC delivers effects at least once.</summary>
    [Id(15)]
    public int EffectRepeats { get; set; }

    /// <summary>Exports told "dropped" twice without being sent in between, after ignoring repeated ids (must stay 0).</summary>
    [Id(16)]
    public int ToldTwice { get; set; }

    /// <summary>Imports the kernel no longer holds as roots: only its objects' references (<see cref="OwnObject.Refs"/>) keep them.</summary>
    [Id(17)]
    public HashSet<string> Detached { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The object graph's version: changes with every change of the ground truth (see <see cref="ICycleKernel"/>).</summary>
    [Id(18)]
    public long GraphVersion { get; set; }

    /// <summary>Imports the cycle collector found garbage.</summary>
    [Id(19)]
    public int CycleVerdicts { get; set; }

    /// <summary>Imports the cycle collector found garbage although a local root of this kernel reached them (must stay 0).</summary>
    [Id(20)]
    public int CycleMistakes { get; set; }

    /// <summary>Imports this kernel sent on to a third kernel: they count as exports (remotes may hold them).</summary>
    [Id(21)]
    public HashSet<string> SentOn { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// For a diagnosis (durable kernels only, so the memory benchmarks do not pay for it): which message last handed
    /// this kernel each import, and whether as a repeat. Logged when the DGC refuses a drop or retire as unknown.
    /// </summary>
    [Id(22)]
    public Dictionary<string, string> ImportOrigins { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One object the kernel owns.</summary>
[GenerateSerializer, Alias("ocap-dgc.ReferenceKernelOwnObject")]
public sealed class OwnObject
{
    /// <summary>Whether the kernel itself still holds a local reference.</summary>
    [Id(0)]
    public bool LocalRef { get; set; } = true;

    /// <summary>Kernels it was sent to.</summary>
    [Id(1)]
    public HashSet<string> SentTo { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Told "dropped" since it was last sent: a second time would be a repeat the effect ids did not catch.</summary>
    [Id(2)]
    public bool ToldDropped { get; set; }

    /// <summary>What the object references: the kernel's own objects or its imports (krefs).</summary>
    [Id(3)]
    public HashSet<string> Refs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Kernels whose export session with this kernel ended since the object was last sent to them: the DGC let go of their holds, and their imports of it are revoked at their next contact.</summary>
    [Id(4)]
    public HashSet<string> EndedFor { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Sends of it started.</summary>
    [Id(5)]
    public int Sends { get; set; }

    /// <summary>Sends of it under way (started, not yet returned or failed); left above 0 if this kernel's silo died during one.</summary>
    [Id(6)]
    public int SendsUnderWay { get; set; }

    /// <summary>The effect that last told it "dropped" (for the log line of a second one).</summary>
    [Id(7)]
    public string? ToldDroppedBy { get; set; }

    /// <summary>
    /// For objects sent more than once, and by durable kernels: which release the DGC had recorded as the last one when "dropped" was last heard (who made the
    /// export unreachable, and by which batch or session end), to tell the same release reported twice from a second one.
    /// </summary>
    [Id(8)]
    public string? ToldDroppedRelease { get; set; }

    /// <summary>
    /// When it was last sent while a "dropped" was still due (sent before, and not heard of since): the remote whose
    /// release had made it unreachable then. That release's "dropped" can arrive after the send (callbacks do not wait
    /// for sends); the first report after the send that comes from this remote's pair is of that earlier release.
    /// </summary>
    [Id(9)]
    public string? DueFrom { get; set; }
}

/// <summary>How the reference kernel keeps its ground truth. Bound from <c>Dgc:ReferenceKernel</c>.</summary>
public sealed class ReferenceKernelOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Dgc:ReferenceKernel";

    /// <summary>
    /// Write the ground truth to the DGC store after every change, so it survives a crash or a move to
    /// another silo. Off by default: on the embedded profile it would die with the silo anyway, and each
    /// write copies the whole ground truth. The PostgreSQL cluster profile turns it on.
    /// </summary>
    public bool Durable { get; set; }
}
