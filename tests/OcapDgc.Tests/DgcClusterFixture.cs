using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.TestingHost;

namespace OcapDgc.Tests;

/// <summary>
/// One in-process silo with the DGC on in-memory storage and the fault-injecting transport. Flushes
/// and retransmissions are driven by the tests (BOYD, FlushAsync), never by a timer, so every run
/// takes the same path.
/// </summary>
public sealed class DgcClusterFixture : IAsyncLifetime
{
    private InProcessTestCluster _cluster = null!;

    public IGrainFactory Grains => _cluster.Client;

    public FaultInjectingTransport Faults { get; private set; } = null!;

    public InClusterTransport Transport { get; private set; } = null!;

    public DgcStorageTracker Storage { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddDistributedGc(o =>
            {
                o.FlushInterval = TimeSpan.FromHours(1);
                o.RetransmitAfter = TimeSpan.FromHours(1);
            });
            silo.UseDgcFaultInjection();
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        var services = ((InProcessSiloHandle)_cluster.Silos[0]).ServiceProvider;
        Faults = services.GetRequiredService<FaultInjectingTransport>();
        Transport = services.GetRequiredService<InClusterTransport>();
        Storage = services.GetRequiredService<DgcStorageTracker>();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>Fresh reference kernels with unique ids, so tests sharing the cluster never meet.</summary>
    public async Task<Kernel[]> NewKernelsAsync(params string[] names)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var kernels = names.Select(n => new Kernel(this, $"{n}-{suffix}")).ToArray();
        foreach (var k in kernels)
        {
            await k.Grain.StartAsync();
        }

        return kernels;
    }

    /// <summary>Two fresh kernels.</summary>
    public async Task<(Kernel A, Kernel B)> NewPairAsync()
    {
        var k = await NewKernelsAsync("a", "b");
        return (k[0], k[1]);
    }

    /// <summary>Two fresh kernels, after a sent one new object <c>O</c> to b and everything settled.</summary>
    public async Task<(Kernel A, Kernel B, string O)> PairSharingOneAsync()
    {
        var (a, b) = await NewPairAsync();
        var o = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [o]);
        await SettleAsync(a, b);
        return (a, b, o);
    }

    /// <summary>BOYD everywhere until nothing is queued, unacknowledged or in flight.</summary>
    public Task SettleAsync(params Kernel[] kernels) =>
        DgcQuiescence.SettleAsync(Grains, Transport, [.. kernels.Select(k => k.Id)]);

    /// <summary>Waits until deliveries in flight are done (held frames stay held).</summary>
    public Task IdleAsync() => Transport.WhenIdleAsync(TimeSpan.FromSeconds(30));
}

/// <summary>A reference kernel and shortcuts to its DGC grains.</summary>
public sealed record Kernel(DgcClusterFixture Fx, string Id)
{
    public IReferenceKernelGrain Grain => Fx.Grains.GetGrain<IReferenceKernelGrain>(Id);

    public IRemoteManagerGrain Manager => Fx.Grains.GetGrain<IRemoteManagerGrain>(Id);

    public IRemoteHandleGrain HandleTo(Kernel remote) => Fx.Grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Id, remote.Id));

    public IExportGrain Export(string kref) => Fx.Grains.GetGrain<IExportGrain>(DgcIds.ExportKey(Id, kref));

    public Task<KernelLedger> LedgerAsync() => Grain.GetLedgerAsync();

    public async Task<string> CreateAsync() => (await Grain.CreateObjectsAsync(1))[0];

    public override string ToString() => Id;
}

[CollectionDefinition(Name)]
public sealed class DgcCluster : ICollectionFixture<DgcClusterFixture>
{
    public const string Name = "dgc-cluster";
}
