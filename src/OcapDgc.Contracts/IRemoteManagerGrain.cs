using Orleans.Concurrency;

namespace OcapDgc;

/// <summary>
/// One per kernel, keyed by kernel id: knows the kernel's remotes and its callback grain, allocates
/// krefs, runs bring-out-your-dead across every remote, deletes exports, and reports per-remote figures.
/// The calls that fan out to remote handles interleave, so a handle that calls back (to allocate krefs)
/// never deadlocks with a BOYD in progress.
/// </summary>
/// <remarks>
/// These are the calls a kernel makes; the same grain also implements
/// <see cref="Internal.IRemoteManagerInternal"/>, which only the DGC's remote handles call.
/// </remarks>
[Alias("ocap-dgc.IRemoteManagerGrain")]
public interface IRemoteManagerGrain : IGrainWithStringKey
{
    /// <summary>Registers the grain that receives this kernel's callbacks. Call once; a later call replaces it.</summary>
    [Alias("register-kernel")]
    Task RegisterKernelAsync(IDgcKernel kernel);

    /// <summary>
    /// Allocates <paramref name="count"/> fresh krefs (1-100000). Krefs are never reused, so a kernel that
    /// uses this library allocates its own objects' krefs here too, and they never collide with imports.
    /// </summary>
    [Alias("allocate-krefs")]
    Task<string[]> AllocateKrefsAsync(int count);

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

    /// <summary>
    /// <see cref="RemoteStatus"/> (figures, lease age, last contact) for every remote this kernel has a
    /// handle towards. Read-only: it interleaves, and pauses nothing.
    /// </summary>
    [Alias("remote-status"), AlwaysInterleave, ReadOnly]
    Task<RemoteStatus[]> GetRemoteStatusAsync();
}
