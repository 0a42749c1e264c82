using System.ComponentModel.DataAnnotations;

namespace OcapDgc.Hosting;

/// <summary>
/// How each remote handle batches its outbound GC operations. Bound from <c>Dgc:Batching</c> and checked at
/// start-up by <see cref="BatchingOptionsValidator"/>.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Dgc:Batching";

    /// <summary>How often a handle flushes its queue and checks for unacknowledged batches. Default 100 ms.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A queue this long is flushed at once, and no batch carries more operations. Default 4096.</summary>
    [Range(1, 1_000_000)]
    public int MaxBatchSize { get; set; } = 4096;

    /// <summary>An unacknowledged batch is sent again after this long. Default 1 s.</summary>
    public TimeSpan RetransmitAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many out-of-order batches a receiver buffers ahead of the next expected one. Default 64.</summary>
    [Range(1, 10_000)]
    public int ReceiveWindow { get; set; } = 64;
}
