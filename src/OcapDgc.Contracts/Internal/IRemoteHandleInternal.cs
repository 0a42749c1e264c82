namespace OcapDgc.Internal;

/// <summary>
/// The DGC's own calls on a remote handle (the grain behind <see cref="IRemoteHandleGrain"/>, same key
/// <c>local/remote</c>): frames from the transport, the lease check, a restart's reset and the export side's
/// retirements.
/// </summary>
/// <remarks>
/// DGC-internal: kernels never call these. The transport, the lease reminder and the kernel's
/// <see cref="IRemoteManagerGrain"/> do; a kernel's calls are on <see cref="IRemoteHandleGrain"/>.
/// </remarks>
[Alias("ocap-dgc.IRemoteHandleInternal")]
public interface IRemoteHandleInternal : IGrainWithStringKey
{
    /// <summary>Called by the transport with one frame (JSON) from the remote.</summary>
    [Alias("receive")]
    Task ReceiveFrameAsync(string frameJson);

    /// <summary>
    /// What the lease reminder runs every check period: sends <c>dgc:ping</c> if one is due (this kernel
    /// imports from the remote), and if the remote's lease on this kernel's exports lapsed, releases
    /// all its holds and starts a new session, so the remote's imports are revoked at its next contact.
    /// </summary>
    [Alias("check-lease")]
    Task CheckLeaseAsync();

    /// <summary>
    /// Called by the manager when this kernel restarted without its memory: forgets every import and
    /// export of the old incarnation without telling the kernel, starts a new session and stream, and
    /// greets the remote so it releases the old incarnation's holds at once.
    /// </summary>
    [Alias("reset")]
    Task ResetAsync(long incarnation);

    /// <summary>Called by the export side when this kernel deletes objects that the remote may still recognize.</summary>
    [Alias("retire-exports")]
    Task RetireExportsAsync(string[] krefs);

    /// <summary>The facts a cycle trace compares of import <paramref name="kref"/> (null: not a live import of the remote's current session). Called by the kernel's cycle collector.</summary>
    [Alias("cycle-facts")]
    Task<ImportFacts?> GetCycleFactsAsync(string kref);

    /// <summary>Imports the kernel has not dropped and no ref of whose bucket moved here for <paramref name="quietFor"/>. Called by the kernel's cycle collector.</summary>
    [Alias("cycle-candidates")]
    Task<string[]> GetCycleCandidatesAsync(TimeSpan quietFor);

    /// <summary>Sends <c>dgc:cycleAsk</c> about this kernel's export <paramref name="exportKref"/>; false if the pair cannot name it. Called by the kernel's cycle collector.</summary>
    [Alias("cycle-ask")]
    Task<bool> SendCycleAskAsync(long trace, long confirm, string exportKref);

    /// <summary>Sends <c>dgc:cycleReply</c> about the remote's export <paramref name="wireId"/>; false if there is no session. Called by the kernel's cycle collector.</summary>
    [Alias("cycle-reply")]
    Task<bool> SendCycleReplyAsync(long trace, long confirm, long wireId, bool live, string[] pending, long receipts);
}
