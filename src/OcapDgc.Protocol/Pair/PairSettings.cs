namespace OcapDgc;

/// <summary>The settings one pair runs with (the grains fill them from the batching and lease options).</summary>
/// <param name="MaxBatchSize">Most operations in one batch; a queue that reaches it is flushed at once.</param>
/// <param name="ReceiveWindow">How many batches ahead of a gap the receiver buffers.</param>
/// <param name="RetransmitAfter">How long an unacknowledged batch waits before it is sent again.</param>
/// <param name="Lease">How long the exporter keeps a silent remote's holds.</param>
/// <param name="PingInterval">How often an importer renews its lease.</param>
public sealed record PairSettings(int MaxBatchSize, int ReceiveWindow, TimeSpan RetransmitAfter, TimeSpan Lease, TimeSpan PingInterval)
{
    /// <summary>What one remote may make this pair hold or process (<see cref="PairLimits.Default"/> unless set).</summary>
    public PairLimits Limits { get; init; } = PairLimits.Default;

    /// <summary>The defaults of the batching and lease options.</summary>
    public static PairSettings Default { get; } = new(4096, 64, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(30));
}
