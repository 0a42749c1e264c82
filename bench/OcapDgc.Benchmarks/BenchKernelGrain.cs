namespace OcapDgc.Benchmarks;

/// <summary>
/// A kernel that does nothing but count what the DGC tells it (and keep the krefs of the messages it
/// receives, so the harness can drop them), so its own cost stays out of the figures.
/// </summary>
[Alias("ocap-dgc.bench.IBenchKernelGrain")]
public interface IBenchKernelGrain : IDgcKernel, IGrainWithStringKey
{
    /// <summary>Registers with the kernel's RemoteManager.</summary>
    [Alias("start")]
    Task StartAsync();
}

/// <inheritdoc cref="IBenchKernelGrain" />
internal sealed class BenchKernelGrain(BenchProbe probe) : Grain, IBenchKernelGrain
{
    private string Me => this.GetPrimaryKeyString();

    public Task StartAsync() =>
        GrainFactory.GetGrain<IRemoteManagerGrain>(Me).RegisterKernelAsync(this.AsReference<IBenchKernelGrain>());

    // No silo dies under the benchmark, so no message comes twice (a kernel that may see repeats ignores a seen messageId).
    public Task DeliverAsync(string fromKernel, string messageId, string method, string body, string[] krefs)
    {
        probe.Deliver(Me, fromKernel, krefs);
        return Task.CompletedTask;
    }

    public Task OnExportsDroppedAsync(string effectId, string[] krefs) => Count(KernelEvent.ExportsDropped, krefs.Length);

    public Task OnExportsRetiredAsync(string effectId, string[] krefs) => Count(KernelEvent.ExportsRetired, krefs.Length);

    public Task OnImportsRevokedAsync(string remote, string effectId, string[] krefs) => Count(KernelEvent.ImportsRevoked, krefs.Length);

    public Task OnImportsRetiredAsync(string remote, string effectId, string[] krefs) => Count(KernelEvent.ImportsRetired, krefs.Length);

    public Task OnBringOutYourDeadAsync(string remote) => Task.CompletedTask;

    public Task OnSessionEndedAsync(string remote, string effectId, SessionEnd reason, string[] released) => Task.CompletedTask;

    private Task Count(KernelEvent e, int n)
    {
        probe.Add(Me, e, n);
        return Task.CompletedTask;
    }
}
