namespace OcapDgc;

/// <summary>
/// What one remote can make its pair hold or process. A remote is trusted only with its own pair: these
/// bounds keep a hostile or broken one from wasting more than that pair's share. Anything beyond them is
/// refused, counted and reported; nothing of another remote's is touched.
/// </summary>
/// <param name="MaxOpsPerBatch">Most operations in one inbound batch; a bigger one is refused whole (and never acknowledged).</param>
/// <param name="MaxRefsPerMessage">Most refs in one inbound application message; a bigger one is refused whole.</param>
/// <param name="MaxBufferedBytes">Most bytes of out-of-order batches held waiting for a gap (their frames' length); past it they are dropped, and the sender resends them.</param>
/// <param name="MaxImports">Most live imports from the remote; a message that would pass it is refused, a kernel-carried one with <see cref="DgcError.QuotaExceeded"/>.</param>
/// <param name="MaxExports">Most live exports to the remote; a send that would pass it is refused with <see cref="DgcError.QuotaExceeded"/>.</param>
public sealed record PairLimits(int MaxOpsPerBatch, int MaxRefsPerMessage, long MaxBufferedBytes, int MaxImports, int MaxExports)
{
    /// <summary>Sessions and streams above this are implausible (wire ids carry the epoch in 31 bits): a frame naming one is refused.</summary>
    public const long MaxSessionValue = int.MaxValue;

    /// <summary>Incarnations above this (2^52: a millisecond clock for a hundred thousand years) are implausible: a frame naming one is refused.</summary>
    public const long MaxIncarnation = 1L << 52;

    /// <summary>Generous defaults: 100,000 operations per batch and refs per message, 64 MiB of buffered batches, 10,000,000 live imports and exports per pair.</summary>
    public static PairLimits Default { get; } = new(100_000, 100_000, 64L << 20, 10_000_000, 10_000_000);
}
