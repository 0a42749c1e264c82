using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Host;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.TestingHost;

namespace OcapDgc.Tests.Core;

/// <summary>The demo's workload on a silo with default batching: everything is reclaimed, and nothing stays behind.</summary>
public sealed class ReclamationTests : IAsyncLifetime
{
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _cluster = await SingleSilo.StartAsync(silo =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddDistributedGc();
            silo.UseDgcStorageTracking();
        });
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task After_the_demo_workload_no_export_activation_or_storage_entry_remains()
    {
        var services = _cluster.Services();
        var storage = services.GetRequiredService<DgcStorageTracker>();
        var output = new StringWriter();
        var runner = new DemoRunner(_cluster.Client, services.GetRequiredService<InClusterTransport>(), storage, output);

        var result = await runner.RunAsync(refs: 100_000, messageSize: 500);

        Assert.Equal(100_000, result.Exported);
        Assert.Equal(result.Exported, result.Reclaimed);
        Assert.Equal(0, result.Leaked);
        Assert.Equal(0, result.Premature);
        Assert.Equal(0, result.Live);
        Assert.Equal(0, storage.CountOf(DgcStateNames.Export));
        Assert.Equal(0, storage.CountOf(DgcStateNames.RemoteHandle));
        Assert.Equal("demo: exported=100000 reclaimed=100000 live=0 leaked=0 premature=0 revoked=0", result.SummaryLine);

        // Deactivation after the last clear is asynchronous: wait for it with a deadline.
        var management = _cluster.Client.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int exports;
        do
        {
            var stats = await management.GetSimpleGrainStatistics();
            exports = stats.Where(s => s.GrainType.Contains(nameof(ExportGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
        }
        while (exports > 0 && DateTime.UtcNow < deadline && await Task.Delay(100).ContinueWith(_ => true));

        Assert.Equal(0, exports);
    }
}
