using Orleans.Concurrency;

namespace OcapDgc.Internal;

/// <summary>
/// The DGC's own calls on a kernel's manager (the grain behind <see cref="IRemoteManagerGrain"/>, same key:
/// the kernel id): a remote handle looks up the kernel to call back, opens sessions, draws epochs, and
/// leaves and recalls what it knew of its remote when it clears.
/// </summary>
/// <remarks>
/// DGC-internal: kernels never call these; only the kernel's remote handles do. A kernel's calls are on
/// <see cref="IRemoteManagerGrain"/>.
/// </remarks>
[Alias("ocap-dgc.IRemoteManagerInternal")]
public interface IRemoteManagerInternal : IGrainWithStringKey
{
    /// <summary>The registered kernel, or null.</summary>
    [Alias("kernel"), AlwaysInterleave]
    Task<IDgcKernel?> GetKernelAsync();

    /// <summary>
    /// Records that this kernel has a remote handle towards <paramref name="remote"/> and opens a session
    /// for it: returns the kernel's incarnation and a fresh epoch. Called by the handles.
    /// </summary>
    [Alias("register-remote")]
    Task<SessionStart> RegisterRemoteAsync(string remote);

    /// <summary>A fresh epoch from this kernel's counter, which never goes back. Called by the handles.</summary>
    [Alias("next-epoch")]
    Task<long> NextEpochAsync();

    /// <summary>
    /// A handle that holds nothing any more and cleared its state takes itself off the list, leaving what it
    /// knew of the remote (<paramref name="memory"/>) to be recalled by its next activation. Called by the handles.
    /// </summary>
    [Alias("forget-remote")]
    Task ForgetRemoteAsync(string remote, PeerMemory memory);

    /// <summary>
    /// A handle about to clear its state leaves what it knows of <paramref name="remote"/> first, staying on the list:
    /// if it dies between clearing and <see cref="ForgetRemoteAsync"/>, its next activation recalls this, not an older
    /// memory. Called by the handles.
    /// </summary>
    [Alias("remember-remote")]
    Task RememberRemoteAsync(string remote, PeerMemory memory);

    /// <summary>
    /// What a handle towards <paramref name="remote"/> left when it last cleared, if anything, and whether the remote
    /// is still listed. Called by the handles when they activate with no state of their own.
    /// </summary>
    [Alias("recall-remote-listed")]
    Task<PeerRecall> RecallRemoteAsync(string remote);

    /// <summary>
    /// A host whose DGC state dies with its process (the embedded, in-memory profile) calls this for each
    /// kernel it serves to other clusters, before any frame arrives: the kernel's incarnation becomes at
    /// least <paramref name="incarnation"/> and its epoch counter at least <paramref name="epoch"/>, so that
    /// its remotes, which outlive the process, see a restarted kernel with newer sessions rather than the
    /// old numbers again. A raised incarnation resets the kernel's handles like
    /// <see cref="IRemoteManagerGrain.RestartKernelAsync"/>. Returns the incarnation in force.
    /// </summary>
    [Alias("begin-incarnation")]
    Task<long> BeginIncarnationAsync(long incarnation, long epoch);

    /// <summary>
    /// Finishes a restart (<see cref="IRemoteManagerGrain.RestartKernelAsync"/> or a raised
    /// <see cref="BeginIncarnationAsync"/>) that stopped before every handle was reset, as when a silo died
    /// under it: resets every handle to the incarnation in force. Returns true if a restart was unfinished (and
    /// is finished now), false if none was. Called by the manager's <c>dgc-restart</c> reminder. Interleaves, like
    /// the restart itself: the handles it resets call the manager back.
    /// </summary>
    [Alias("finish-restart"), AlwaysInterleave]
    Task<bool> FinishRestartAsync();

    /// <summary>The kernel grain that answers the cycle collector, or null while cycle detection is off. Called by the collector.</summary>
    [Alias("cycle-kernel"), AlwaysInterleave]
    Task<ICycleKernel?> GetCycleKernelAsync();

    /// <summary>Stores the kernel grain that answers the cycle collector (cycle detection on). Called by the collector.</summary>
    [Alias("set-cycle-kernel")]
    Task SetCycleKernelAsync(ICycleKernel kernel);
}
