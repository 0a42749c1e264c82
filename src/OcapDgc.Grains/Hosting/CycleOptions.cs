namespace OcapDgc.Hosting;

/// <summary>
/// How each kernel's cycle collector runs (section <c>Dgc:Cycles</c>), validated at start-up by
/// <see cref="CycleOptionsValidator"/>. A kernel's collector runs only once the kernel opted in
/// (<see cref="ICycleCollectorGrain.StartAsync"/>).
/// </summary>
public sealed class CycleOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Dgc:Cycles";

    /// <summary>How often a collector looks for suspects and gives up overdue rounds. Default 1 min.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>An import is a suspect once no ref of it moved (sent or received) in its pair for this long. Default 5 min.</summary>
    public TimeSpan SuspectAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a round of a trace waits for its answers before they count as "live". Default 30 s.</summary>
    public TimeSpan TraceTimeout { get; set; } = CycleSettings.Default.TraceTimeout;

    /// <summary>Most traces one kernel runs at once. Default 4.</summary>
    public int MaxConcurrentTraces { get; set; } = CycleSettings.Default.MaxConcurrentTraces;

    /// <summary>Most imports of one kernel a trace may visit; past it the trace is answered "live". Default 1024.</summary>
    public int MaxNodesPerTrace { get; set; } = CycleSettings.Default.MaxNodesPerTrace;

    /// <summary>Most visited imports one kernel keeps across all traces; asks past it are answered "live". Default 16384.</summary>
    public int MaxActiveNodes { get; set; } = CycleSettings.Default.MaxActiveNodes;

    /// <summary>The protocol's form of these bounds.</summary>
    public CycleSettings ToSettings() => new(TraceTimeout, MaxConcurrentTraces, MaxNodesPerTrace, MaxActiveNodes);
}
