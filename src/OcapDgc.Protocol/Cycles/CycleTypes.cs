namespace OcapDgc;

/// <summary>
/// What a pair knows of one of its imports, as the cycle collector needs it: a trace compares these
/// facts when it starts and when it confirms, and gives up if anything differs (a receipt, a drop, a
/// send of the ref back, a new session, a reactivated pair).
/// </summary>
/// <param name="Kref">The import's local kref.</param>
/// <param name="WireId">Its wire id in the pair (the remote's export).</param>
/// <param name="Receipts">Receipts not yet released.</param>
/// <param name="Reachable">False once the kernel dropped it.</param>
/// <param name="PeerEpoch">The remote's session the import belongs to.</param>
/// <param name="Activation">A number drawn when the pair was activated: a reactivated pair has another.</param>
/// <param name="Moved">The pair's stamp of the last send or receipt of a ref that shares the import's bucket (0: none in this activation).</param>
[GenerateSerializer, Immutable, Alias("ocap-dgc.ImportFacts")]
public sealed record ImportFacts(
    [property: Id(0)] string Kref,
    [property: Id(1)] long WireId,
    [property: Id(2)] long Receipts,
    [property: Id(3)] bool Reachable,
    [property: Id(4)] long PeerEpoch,
    [property: Id(5)] long Activation,
    [property: Id(6)] long Moved);

/// <summary>One import a pair offers as a cycle suspect, with the time a ref of its bucket last moved in the pair.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.CycleCandidate")]
public sealed record CycleCandidate([property: Id(0)] string Remote, [property: Id(1)] string Kref);

/// <summary>The bounds of a kernel's cycle detection (the grains fill them from <c>Dgc:Cycles</c>).</summary>
/// <param name="TraceTimeout">How long a kernel waits for the answers of one round of a trace before it gives up (answers "live").</param>
/// <param name="MaxConcurrentTraces">Most traces this kernel starts and runs at once.</param>
/// <param name="MaxNodesPerTrace">Most imports of this kernel one trace may visit; past it the trace is answered "live".</param>
/// <param name="MaxActiveNodes">Most visited imports this kernel keeps across all traces (its own and others'), bounding its memory.</param>
public sealed record CycleSettings(TimeSpan TraceTimeout, int MaxConcurrentTraces, int MaxNodesPerTrace, int MaxActiveNodes)
{
    /// <summary>The defaults of <c>Dgc:Cycles</c>.</summary>
    public static CycleSettings Default { get; } = new(TimeSpan.FromSeconds(30), 4, 1024, 16_384);
}

/// <summary>How a trace this kernel started ended.</summary>
public enum TraceOutcome
{
    /// <summary>A root reaches the suspect (or a kernel could not tell).</summary>
    Live,

    /// <summary>The trace could not decide: answers were missing, a bound was hit, or the answers depended on another trace.</summary>
    GaveUp,

    /// <summary>The confirming round found a change since the first (a ref moved, an answer went stale).</summary>
    Changed,

    /// <summary>No root reaches the suspect, confirmed: the kernel was told to drop it.</summary>
    Garbage,
}

/// <summary>Something a kernel's cycle collector did, for logs, metrics and tests.</summary>
public abstract record CycleEvent;

/// <summary>A trace started from <see cref="Kref"/> (an import from <see cref="Remote"/>).</summary>
public sealed record TraceStarted(long Trace, string Remote, string Kref) : CycleEvent;

/// <summary>A trace this kernel started ended.</summary>
public sealed record TraceEnded(long Trace, string Remote, string Kref, TraceOutcome Outcome, TimeSpan Took) : CycleEvent;

/// <summary>An ask from a remote was answered "live" at once because a bound was reached.</summary>
public sealed record TraceRefused(string Remote, string Reason) : CycleEvent;

/// <summary>What a kernel's cycle collector has done since it was created (not durable).</summary>
public sealed class CycleCounters
{
    /// <summary>Traces started here.</summary>
    public long Started { get; set; }

    /// <summary>Traces started here that found a root.</summary>
    public long Live { get; set; }

    /// <summary>Traces started here that gave up.</summary>
    public long GaveUp { get; set; }

    /// <summary>Traces started here whose confirming round found a change.</summary>
    public long Changed { get; set; }

    /// <summary>Traces started here that found garbage (the kernel was told).</summary>
    public long Garbage { get; set; }

    /// <summary>Cycle frames sent (asks and replies).</summary>
    public long FramesSent { get; set; }

    /// <summary>Asks received from remotes.</summary>
    public long AsksReceived { get; set; }

    /// <summary>Asks answered "live" at once because a bound was reached.</summary>
    public long Refused { get; set; }
}

/// <summary>
/// Everything a <see cref="CycleTracer"/> does outside its own memory: the kernel's answer, the export
/// ledgers, the pairs' facts and frames, and telling the kernel. The cycle collector grain implements
/// it with grain calls; the simulation in memory.
/// </summary>
public interface ICycleEnvironment
{
    /// <summary>The kernel's answer for these imports (an empty array asks only for the version); null if no kernel answers.</summary>
    Task<ReachabilityAnswer?> AskKernelAsync(string[] importKrefs);

    /// <summary>One export's holds as its ledger has them now.</summary>
    Task<ExportSnapshot> GetExportAsync(string kref);

    /// <summary>The facts of import <paramref name="kref"/> in the pair towards <paramref name="remote"/> (null: not a live import there).</summary>
    Task<ImportFacts?> GetImportFactsAsync(string remote, string kref);

    /// <summary>Asks <paramref name="remote"/> about this kernel's export <paramref name="exportKref"/>; false if the pair cannot name it.</summary>
    Task<bool> SendAskAsync(string remote, long trace, long confirm, string exportKref);

    /// <summary>Answers <paramref name="remote"/>'s ask about its export <paramref name="wireId"/>; false if it could not be sent.</summary>
    Task<bool> SendReplyAsync(string remote, long trace, long confirm, long wireId, bool live, string[] pending, long receipts);

    /// <summary>A trace found these imports from <paramref name="remote"/> garbage: tell the kernel, which drops them.</summary>
    Task CollectAsync(string remote, string[] importKrefs);

    /// <summary>Something for logs and metrics.</summary>
    void Report(CycleEvent e);
}

/// <summary>
/// Implemented, optionally, by a pair's environment that delivers cycle frames to its kernel's cycle
/// collector. A pair whose environment does not implement it ignores cycle frames.
/// </summary>
public interface ICyclePairEnvironment
{
    /// <summary>The remote asks about its export, this kernel's import <paramref name="wireId"/>; <paramref name="facts"/> is null if it is not a live import of the remote's current session.</summary>
    Task OnCycleAskAsync(long trace, long confirm, long wireId, ImportFacts? facts);

    /// <summary>
    /// The remote answers about this kernel's export <paramref name="exportKref"/>. <paramref name="caughtUp"/>:
    /// every application message the remote had sent to this kernel when it answered has been delivered here.
    /// </summary>
    Task OnCycleReplyAsync(long trace, long confirm, string exportKref, bool live, string[] pending, long receipts, bool caughtUp);
}
