using Orleans.Concurrency;

namespace OcapDgc;

/// <summary>
/// One per kernel, keyed by kernel id: knows the kernel's remotes and its callback grain, allocates
/// krefs, runs bring-out-your-dead across every remote, deletes exports, and reports per-remote figures.
/// The calls that fan out to remote handles interleave, so a handle that calls back (to allocate krefs)
/// never deadlocks with a BOYD in progress.
/// </summary>
[Alias("ocap-dgc.IRemoteManagerGrain")]
public interface IRemoteManagerGrain : IGrainWithStringKey
{
    /// <summary>Registers the grain that receives this kernel's callbacks. Call once; a later call replaces it.</summary>
    [Alias("register-kernel")]
    Task RegisterKernelAsync(IDgcKernel kernel);

    /// <summary>The registered kernel, or null.</summary>
    [Alias("kernel"), AlwaysInterleave]
    Task<IDgcKernel?> GetKernelAsync();

    /// <summary>
    /// Allocates <paramref name="count"/> fresh krefs (1-100000). Krefs are never reused, so a kernel that
    /// uses this library allocates its own objects' krefs here too, and they never collide with imports.
    /// </summary>
    [Alias("allocate-krefs")]
    Task<string[]> AllocateKrefsAsync(int count);

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

    /// <summary>What a handle towards <paramref name="remote"/> left when it last cleared, if anything. Called by the handles.</summary>
    [Alias("recall-remote")]
    Task<PeerMemory?> RecallRemoteAsync(string remote);

    /// <summary>
    /// The kernel restarted without its memory (a new incarnation). Every remote handle drops what the
    /// old incarnation held and exported and starts a new session; each remote treats it like a lapsed
    /// lease: it releases this kernel's holds and revokes its imports from it. Returns the new incarnation.
    /// </summary>
    [Alias("restart"), AlwaysInterleave]
    Task<long> RestartKernelAsync();

    /// <summary>
    /// Bring out your dead: every remote handle flushes, resends unacknowledged batches, renews its leases,
    /// expires the leases of remotes that lapsed, and asks its remote to collect.
    /// </summary>
    [Alias("boyd"), AlwaysInterleave]
    Task BringOutYourDeadAsync();

    /// <summary>
    /// The kernel deletes these objects. Refused with <see cref="DgcError.StillReachable"/> (nothing changes)
    /// if any remote can still reach one; remotes that can still recognize them are told to retire them.
    /// </summary>
    [Alias("delete-exports"), AlwaysInterleave]
    Task DeleteExportsAsync(string[] krefs);

    /// <summary>Figures for each remote.</summary>
    [Alias("figures"), AlwaysInterleave]
    Task<RemoteFigures[]> GetRemoteFiguresAsync();
}
