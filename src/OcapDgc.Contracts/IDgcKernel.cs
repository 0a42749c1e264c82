using Orleans.Concurrency;

namespace OcapDgc;

/// <summary>
/// The callbacks a kernel grain implements to hear from the DGC. Register the kernel once with
/// <see cref="IRemoteManagerGrain.RegisterKernelAsync"/>. Callbacks arrive in batches.
/// </summary>
/// <remarks>
/// Every callback is <see cref="AlwaysInterleaveAttribute">always-interleave</see>: it runs even while the
/// kernel grain is itself waiting on a DGC call (say, a send whose remote handle is delivering a message
/// to it), so kernel and handle never wait on each other. The kernel's state must therefore be
/// consistent at each of its <c>await</c>s. A callback may call back into the remote handle that made
/// it (the call chain is allowed to re-enter), but should not wait on a send to a third kernel.
/// </remarks>
[Alias("ocap-dgc.IDgcKernel")]
public interface IDgcKernel : IGrain
{
    /// <summary>
    /// An application message arrived from <paramref name="fromKernel"/>; its refs are already translated to
    /// this kernel's krefs (the DGC holds them for this kernel from now on). Delivered at least once, until
    /// this callback returns, in order with the effects below; a repeat carries the same
    /// <paramref name="messageId"/>, so ignore an id you have seen. Throw only to have it delivered again later.
    /// </summary>
    [Alias("deliver"), AlwaysInterleave]
    Task DeliverAsync(string fromKernel, string messageId, string method, string body, string[] krefs);

    /// <summary>
    /// No remote can reach these exports any more (each may still be recognizable, e.g. as a weak-map key).
    /// An effect: delivered at least once, until this callback returns; a repeat carries the same
    /// <paramref name="effectId"/>, so ignore an id you have seen.
    /// </summary>
    [Alias("exports-dropped"), AlwaysInterleave]
    Task OnExportsDroppedAsync(string effectId, string[] krefs);

    /// <summary>No remote can even recognize these exports any more: the kernel may forget them once it holds no local reference. An effect (see <see cref="OnExportsDroppedAsync"/>).</summary>
    [Alias("exports-retired"), AlwaysInterleave]
    Task OnExportsRetiredAsync(string effectId, string[] krefs);

    /// <summary>These imports from <paramref name="remote"/> were revoked (the exporter lost our lease or restarted); any later use fails. An effect (see <see cref="OnExportsDroppedAsync"/>).</summary>
    [Alias("imports-revoked"), AlwaysInterleave]
    Task OnImportsRevokedAsync(string remote, string effectId, string[] krefs);

    /// <summary>
    /// <paramref name="remote"/> deleted these objects, or the only message that carried them waited and was refused; the
    /// import krefs name nothing any more (one may be a kref this kernel was never delivered: ignore it). An effect (see <see cref="OnExportsDroppedAsync"/>).
    /// </summary>
    [Alias("imports-retired"), AlwaysInterleave]
    Task OnImportsRetiredAsync(string remote, string effectId, string[] krefs);

    /// <summary>
    /// This kernel's session with <paramref name="remote"/> ended: its lease lapsed, it restarted, or
    /// reconciliation found a difference no lost message explains. Every hold <paramref name="remote"/> had
    /// on this kernel's exports was let go (<paramref name="released"/>; each export's own dropped and retired
    /// callbacks follow), and <paramref name="remote"/>'s imports of them are revoked at its next contact.
    /// An effect (see <see cref="OnExportsDroppedAsync"/>).
    /// </summary>
    [Alias("session-ended"), AlwaysInterleave]
    Task OnSessionEndedAsync(string remote, string effectId, SessionEnd reason, string[] released);

    /// <summary><paramref name="remote"/> ran bring-out-your-dead and asks this kernel to drop what it no longer uses.</summary>
    [Alias("boyd-requested"), AlwaysInterleave]
    Task OnBringOutYourDeadAsync(string remote);
}
