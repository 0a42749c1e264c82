using Orleans.Concurrency;

namespace OcapDgc;

/// <summary>
/// A small reference kernel, keyed by kernel id, used by the demo and the tests. It owns objects,
/// keeps local references to them, and sends references to other kernels in messages over the same
/// transport as the DGC. Each object carries a label (<c>kernel/kref</c> at its origin) so that the
/// kernels' ground truth can be compared across kernels.
/// </summary>
[Alias("ocap-dgc.IReferenceKernelGrain")]
public interface IReferenceKernelGrain : IDgcKernel, ICycleKernel, IGrainWithStringKey
{
    /// <summary>Registers with the DGC. Idempotent.</summary>
    [Alias("start")]
    Task StartAsync();

    /// <summary>Creates objects, each held by one local reference. Returns their krefs.</summary>
    [Alias("create")]
    Task<string[]> CreateObjectsAsync(int count);

    /// <summary>Releases the local reference to own objects (they stay alive while a remote holds them).</summary>
    [Alias("release-local")]
    Task ReleaseLocalAsync(string[] krefs);

    /// <summary>Sends <paramref name="krefs"/> to <paramref name="toKernel"/> in one message.</summary>
    [Alias("send")]
    Task SendAsync(string toKernel, string[] krefs);

    /// <summary>The imports this kernel holds from <paramref name="fromKernel"/> (one entry per import kref).</summary>
    [Alias("held-imports")]
    Task<string[]> GetHeldImportsAsync(string fromKernel);

    /// <summary>The imports this kernel holds from <paramref name="fromKernel"/>: import kref to label (<c>kernel/kref</c> at the origin).</summary>
    [Alias("import-labels")]
    Task<Dictionary<string, string>> GetImportLabelsAsync(string fromKernel);

    /// <summary>
    /// Drops every hold on these imports from <paramref name="fromKernel"/>; with <paramref name="retire"/>, forgets them too.
    /// Krefs this kernel no longer knows (revoked, heard and retired since the caller looked) are skipped.
    /// </summary>
    [Alias("drop")]
    Task DropAsync(string fromKernel, string[] krefs, bool retire);

    /// <summary>
    /// Retires imports from <paramref name="fromKernel"/> this kernel dropped earlier without retiring them
    /// (<see cref="DropAsync"/> with <c>retire: false</c>): it forgets them, and the DGC tells their exporter.
    /// </summary>
    [Alias("retire")]
    Task RetireAsync(string fromKernel, string[] krefs);

    /// <summary>Drops (and retires) every import held from <paramref name="fromKernel"/>; with <paramref name="retire"/>, also retires imports the DGC revoked.</summary>
    [Alias("drop-all")]
    Task<int> DropAllAsync(string fromKernel, bool retire);

    /// <summary>
    /// Which of the labels (<c>kernel/kref</c>) this kernel currently holds as a live import from
    /// <paramref name="exporter"/>. Imports of a session older than <paramref name="exporterEpoch"/> (the
    /// exporter's current session towards this kernel) do not count: the exporter already let them go
    /// and they are revoked at the next contact.
    /// </summary>
    [Alias("holds"), AlwaysInterleave]
    Task<string[]> WhichHeldAsync(string[] labels, string exporter, long exporterEpoch);

    /// <summary>
    /// For a diagnosis: how this kernel holds <paramref name="label"/> as an import from <paramref name="exporter"/>
    /// (its kref, and what its DGC handle says of that kref), in one line; "not held" when it does not.
    /// </summary>
    [Alias("trace-import"), AlwaysInterleave, ReadOnly]
    Task<string> TraceImportAsync(string label, string exporter);

    /// <summary>The ids of every effect and application message this kernel has heard (for a test that repeats one late).</summary>
    [Alias("heard-ids"), AlwaysInterleave, ReadOnly]
    Task<string[]> GetHeardIdsAsync();

    /// <summary>Simulates a crash and restart: forgets every object and import, and tells the DGC it is a new incarnation.</summary>
    [Alias("restart")]
    Task RestartAsync();

    /// <summary>
    /// Runs bring-out-your-dead every <paramref name="period"/> from an Orleans reminder, as a long-running
    /// kernel would; <see cref="TimeSpan.Zero"/> stops it. The period must be at least the silo's minimum
    /// reminder period (<c>Orleans:ReminderOptions:MinimumReminderPeriod</c>, one minute by default).
    /// </summary>
    [Alias("boyd-every")]
    Task SetBoydPeriodAsync(TimeSpan period);

    /// <summary>Makes the next <paramref name="count"/> effect or message callbacks fail (throw), as a kernel whose silo is down would: the DGC must deliver them again.</summary>
    [Alias("fail-callbacks")]
    Task FailNextCallbacksAsync(int count);

    /// <summary>While <paramref name="fail"/> holds, every message delivery from <paramref name="remote"/> fails (throws), as if this kernel could not be reached from that remote's handle: the DGC keeps the messages waiting.</summary>
    [Alias("fail-deliveries-from")]
    Task FailDeliveriesFromAsync(string remote, bool fail);

    /// <summary>
    /// What this kernel itself holds of <paramref name="kref"/>, in one sentence: an own object with or
    /// without its local reference (and which kernels it was sent to), an import (from whom, with its label),
    /// or nothing. The DGC view and <c>inspect</c> show it beside the DGC's answer to "why is it alive".
    /// </summary>
    [Alias("describe-ref"), AlwaysInterleave, ReadOnly]
    Task<string> DescribeRefAsync(string kref);

    /// <summary>Turns cycle detection on for this kernel (<see cref="ICycleCollectorGrain.StartAsync"/>). Idempotent.</summary>
    [Alias("enable-cycles")]
    Task EnableCyclesAsync();

    /// <summary>
    /// Own object <paramref name="obj"/> takes references to <paramref name="krefs"/> (own objects or held
    /// imports). Refused (nothing changes) if <paramref name="obj"/> is not an own object or a kref names neither.
    /// </summary>
    [Alias("link")]
    Task LinkAsync(string obj, string[] krefs);

    /// <summary>
    /// The kernel stops holding these imports as roots: from now on only its objects' references keep them, and
    /// its local GC (<see cref="CollectGarbageAsync"/>) drops them once nothing reaches them. Refused (nothing
    /// changes) if one is not a held import.
    /// </summary>
    [Alias("detach")]
    Task DetachAsync(string[] importKrefs);

    /// <summary>
    /// The local GC: drops and retires every detached import that no local root and no export a remote may hold
    /// reaches. Returns how many it dropped.
    /// </summary>
    [Alias("collect")]
    Task<int> CollectGarbageAsync();

    /// <summary>Which of these own objects the DGC reported retired (no remote can even recognize them).</summary>
    [Alias("which-retired"), AlwaysInterleave, ReadOnly]
    Task<string[]> WhichRetiredAsync(string[] krefs);

    /// <summary>This kernel's ground truth.</summary>
    [Alias("ledger"), AlwaysInterleave]
    Task<KernelLedger> GetLedgerAsync();
}

/// <summary>
/// A reference kernel's ground truth about its exports and imports. <see cref="Confused"/> counts
/// deliveries where a kref named a different object than the label sent with it (S2 broken).
/// </summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.KernelLedger")]
public sealed record KernelLedger(
    [property: Id(0)] string KernelId,
    [property: Id(1)] int ObjectsCreated,
    [property: Id(2)] int ExportedDistinct,
    [property: Id(3)] int ExportsDroppedEvents,
    [property: Id(4)] int ExportsRetired,
    [property: Id(5)] int Premature,
    [property: Id(6)] int ImportsHeld,
    [property: Id(7)] int ImportsRevoked,
    [property: Id(8)] int ImportsRetiredByExporter,
    [property: Id(9)] int MessagesReceived,
    [property: Id(10)] string[] ExportedNotRetired,
    [property: Id(11)] int BoydReminderTicks = 0,
    [property: Id(12)] int Confused = 0,
    [property: Id(13)] int SessionsEnded = 0,
    [property: Id(14)] int EffectRepeats = 0,
    [property: Id(15)] int ToldTwice = 0,
    [property: Id(16)] int CycleVerdicts = 0,
    [property: Id(17)] int CycleMistakes = 0);
