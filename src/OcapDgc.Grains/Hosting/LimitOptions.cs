namespace OcapDgc.Hosting;

/// <summary>
/// What one remote may make its pair hold or process (section <c>Dgc:Limits</c>), validated at start-up
/// by <see cref="LimitOptionsValidator"/>. Anything beyond is refused, counted and logged; other remotes
/// are not affected. See <see cref="PairLimits"/>.
/// </summary>
public sealed class LimitOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Dgc:Limits";

    /// <summary>Most operations in one inbound batch; a bigger batch is refused whole.</summary>
    public int MaxOpsPerBatch { get; set; } = PairLimits.Default.MaxOpsPerBatch;

    /// <summary>Most refs in one inbound application message; a bigger message is refused whole.</summary>
    public int MaxRefsPerMessage { get; set; } = PairLimits.Default.MaxRefsPerMessage;

    /// <summary>Most bytes of out-of-order batches one pair buffers ahead of a gap.</summary>
    public long MaxBufferedBytes { get; set; } = PairLimits.Default.MaxBufferedBytes;

    /// <summary>Most live imports from one remote.</summary>
    public int MaxImports { get; set; } = PairLimits.Default.MaxImports;

    /// <summary>Most live exports to one remote.</summary>
    public int MaxExports { get; set; } = PairLimits.Default.MaxExports;

    /// <summary>The protocol's form of these limits.</summary>
    public PairLimits ToPairLimits() => new(MaxOpsPerBatch, MaxRefsPerMessage, MaxBufferedBytes, MaxImports, MaxExports);
}
