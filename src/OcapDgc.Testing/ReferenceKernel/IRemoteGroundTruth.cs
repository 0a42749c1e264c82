namespace OcapDgc.ReferenceKernel;

/// <summary>
/// Where a reference kernel checks the ground truth of an importer that lives in another cluster. When
/// one of its exports is reported dropped, a reference kernel asks each importer whether it still holds
/// the object in a live session (a "premature" release otherwise). An importer in the same cluster is
/// asked with a grain call; one served by another cluster cannot be, since a grain call would activate
/// an empty kernel of that name here. A host that serves kernels to other clusters registers this service,
/// and the reference kernel hands it those checks instead. It must not block: the check runs when the
/// importer's host can be reached, and its outcome is counted by the service, not in the kernel's ledger.
/// </summary>
public interface IRemoteGroundTruth
{
    /// <summary>Whether <paramref name="kernel"/> is served by another cluster.</summary>
    bool IsRemote(string kernel);

    /// <summary>
    /// Asks, as soon as it can, which of <paramref name="labels"/> <paramref name="importer"/> still holds as
    /// live imports from <paramref name="exporter"/> in export session <paramref name="exporterEpoch"/> or
    /// later (see <see cref="IReferenceKernelGrain.WhichHeldAsync"/>), and counts those as premature.
    /// </summary>
    void Check(string importer, string[] labels, string exporter, long exporterEpoch);
}
