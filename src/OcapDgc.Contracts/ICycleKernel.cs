using Orleans.Concurrency;

namespace OcapDgc;

/// <summary>
/// Implemented by a kernel grain that takes part in cycle detection (docs/kernel-api.md, "Cycles"). Opt in
/// with <see cref="ICycleCollectorGrain.StartAsync"/>. A kernel that does not answers every trace "live", so
/// cycles through it are kept.
/// </summary>
/// <remarks>Both calls are always-interleave, like the <see cref="IDgcKernel"/> callbacks.</remarks>
[Alias("ocap-dgc.ICycleKernel")]
public interface ICycleKernel : IGrain
{
    /// <summary>
    /// The local GC's answer for these imports (empty: only the version): for each, <see cref="Reach.Rooted"/>,
    /// <see cref="Reach.FromExports"/> with the exports (held by remotes) that reach it, or <see cref="Reach.Unknown"/>.
    /// <see cref="ReachabilityAnswer.Version"/> must change whenever the kernel's object graph changes (a root
    /// added or removed, a reference stored or cleared, a message sent or delivered, an import dropped).
    /// </summary>
    [Alias("reachability"), AlwaysInterleave]
    Task<ReachabilityAnswer> AnswerReachabilityAsync(string[] importKrefs);

    /// <summary>
    /// A confirmed trace found no root reaching these imports from <paramref name="remote"/>: the kernel lets go
    /// of them (clears its references, then drops and retires them through <see cref="IRemoteHandleGrain"/>);
    /// the rest of the cycle is reclaimed by the ordinary protocol.
    /// </summary>
    [Alias("cycle-garbage"), AlwaysInterleave]
    Task OnCycleGarbageAsync(string remote, string[] krefs);
}

/// <summary>
/// One per kernel, keyed by kernel id: the kernel's cycle collector. It picks suspects (imports no ref of which
/// moved for <c>Dgc:Cycles:SuspectAfter</c> and that the kernel says no local root reaches), traces them with
/// <see cref="CycleTracer"/> over the pairs, and tells the kernel when a trace proves one garbage.
/// </summary>
[Alias("ocap-dgc.ICycleCollectorGrain")]
public interface ICycleCollectorGrain : IGrainWithStringKey
{
    /// <summary>Turns cycle detection on for this kernel, which answers through <paramref name="kernel"/> (stored). Idempotent.</summary>
    [Alias("start")]
    Task StartAsync(ICycleKernel kernel);

    /// <summary>
    /// One scan now (what the timer runs every <c>Dgc:Cycles:ScanInterval</c>): gives up overdue rounds, then
    /// starts traces from suspects, at most <c>Dgc:Cycles:MaxConcurrentTraces</c> at once. Returns how many started.
    /// </summary>
    [Alias("scan")]
    Task<int> ScanAsync();

    /// <summary>What the collector did since it was activated (not durable).</summary>
    [Alias("figures"), AlwaysInterleave]
    Task<CycleFigures> GetFiguresAsync();
}

/// <summary>A kernel's cycle collector's counts since its activation.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.CycleFigures")]
public sealed record CycleFigures(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] long Started,
    [property: Id(2)] long Live,
    [property: Id(3)] long GaveUp,
    [property: Id(4)] long Changed,
    [property: Id(5)] long Garbage,
    [property: Id(6)] long FramesSent,
    [property: Id(7)] long AsksReceived,
    [property: Id(8)] long Refused,
    [property: Id(9)] int ActiveTraces);
