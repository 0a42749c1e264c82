namespace OcapDgc.Transport;

/// <summary>
/// Carries frames (JSON text) from one kernel's remote handle to another's. Delivery is best effort:
/// a frame may be lost, duplicated, reordered or delayed, and the protocol copes with all of these.
/// <see cref="SendAsync"/> returns once the frame is on its way, never after the receiver processed it.
/// </summary>
public interface IDgcTransport
{
    /// <summary>Sends one frame from <paramref name="fromKernel"/> to <paramref name="toKernel"/>.</summary>
    Task SendAsync(string fromKernel, string toKernel, string frameJson);
}
