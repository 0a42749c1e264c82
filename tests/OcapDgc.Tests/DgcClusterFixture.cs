using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Storage;
using OcapDgc.Transport;
using OcapDgc.Wire;
using Orleans.TestingHost;

namespace OcapDgc.Tests;

/// <summary>
/// One in-process silo with the DGC on in-memory storage, the fault-injecting transport and a fake DGC
/// clock. Flushes, retransmissions, pings and lease checks are driven by the tests (BOYD, FlushAsync,
/// CheckLeaseAsync, advancing <see cref="Clock"/>), never by a timer or reminder, so every run takes the
/// same path.
/// </summary>
public sealed class DgcClusterFixture : IAsyncLifetime
{
    /// <summary>The lease the fixture configures; tests advance <see cref="Clock"/> past it.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromHours(2);

    /// <summary>The lease check period (the reminder's period, far longer than any test runs).</summary>
    public static readonly TimeSpan CheckPeriod = TimeSpan.FromHours(1);

    /// <summary>The ping interval.</summary>
    public static readonly TimeSpan PingInterval = TimeSpan.FromMinutes(30);

    /// <summary>How long an import's refs must be still before the cycle collector suspects it.</summary>
    public static readonly TimeSpan SuspectAfter = TimeSpan.FromMinutes(5);

    /// <summary>How long a round of a cycle trace waits for its answers.</summary>
    public static readonly TimeSpan TraceTimeout = TimeSpan.FromSeconds(30);

    private InProcessTestCluster _cluster = null!;

    /// <summary>The DGC's clock. Tests share it: advancing it affects every kernel, so each test uses its own kernels.</summary>
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    public IGrainFactory Grains => _cluster.Client;

    public FaultInjectingTransport Faults { get; private set; } = null!;

    /// <summary>Fails chosen export-grain calls, as when the export grain's silo dies under them.</summary>
    public ExportCallFaults ExportFaults { get; private set; } = null!;

    public InClusterTransport Transport { get; private set; } = null!;

    /// <summary>Holds chosen calls on their way in until the test lets them go.</summary>
    public CallGate Gate { get; private set; } = null!;

    public DgcStorageTracker Storage { get; private set; } = null!;

    /// <summary>The silo's reminder table: which reminders are registered (none fires during a test).</summary>
    public IReminderTable Reminders { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddDistributedGc(
                o =>
                {
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.RetransmitAfter = TimeSpan.FromDays(1);
                },
                l =>
                {
                    l.Duration = Lease;
                    l.PingInterval = PingInterval;
                    l.CheckPeriod = CheckPeriod;
                });
            // Cycle collectors scan when a test calls ScanAsync (the timer's hour never comes in a test).
            silo.Services.Configure<CycleOptions>(c =>
            {
                c.ScanInterval = TimeSpan.FromHours(1);
                c.SuspectAfter = SuspectAfter;
                c.TraceTimeout = TraceTimeout;
            });
            silo.UseDgcClock(Clock);
            silo.UseDgcFaultInjection();
            silo.UseDgcStorageTracking();
            silo.Services.AddSingleton<ExportCallFaults>();
            silo.Services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<ExportCallFaults>());
            silo.Services.AddSingleton<CallGate>();
            silo.Services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<CallGate>());
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        var services = ((InProcessSiloHandle)_cluster.Silos[0]).ServiceProvider;
        Faults = services.GetRequiredService<FaultInjectingTransport>();
        Transport = services.GetRequiredService<InClusterTransport>();
        Storage = services.GetRequiredService<DgcStorageTracker>();
        ExportFaults = services.GetRequiredService<ExportCallFaults>();
        Gate = services.GetRequiredService<CallGate>();
        Reminders = services.GetRequiredService<IReminderTable>();
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
        var (a, b, objects) = await PairSharingAsync(1);
        return (a, b, objects[0]);
    }

    /// <summary>
    /// a shares o with b (b's import: <c>FromB</c>); b drops it, and a's kernel fails to hear "dropped", so that
    /// effect waits in the a->b outbox.
    /// </summary>
    public async Task<(Kernel A, Kernel B, string O, string FromB)> DroppedWaitingAsync()
    {
        var (a, b, o) = await PairSharingOneAsync();
        var fromB = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        await a.Grain.FailNextCallbacksAsync(1);
        await b.Grain.DropAsync(a.Id, [fromB], retire: false);
        await SettleAsync(a, b);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
        return (a, b, o, fromB);
    }

    /// <summary>
    /// a shares o with b; b drops and retires it, and a's kernel fails to hear "dropped", so that effect (and "retired"
    /// behind it) waits in the a->b outbox: all the pair still holds.
    /// </summary>
    public async Task<(Kernel A, Kernel B, string O)> RetiredWaitingAsync()
    {
        var (a, b, o) = await PairSharingOneAsync();
        await a.Grain.FailNextCallbacksAsync(1);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await SettleAsync(a, b);
        return (a, b, o);
    }

    /// <summary>Two fresh kernels, after a sent <paramref name="count"/> new objects to b in one message and everything settled.</summary>
    public async Task<(Kernel A, Kernel B, string[] Objects)> PairSharingAsync(int count)
    {
        var (a, b) = await NewPairAsync();
        var objects = await a.Grain.CreateObjectsAsync(count);
        await a.Grain.SendAsync(b.Id, objects);
        await SettleAsync(a, b);
        return (a, b, objects);
    }

    /// <summary>BOYD everywhere until nothing is queued, unacknowledged or in flight.</summary>
    public Task SettleAsync(params Kernel[] kernels) =>
        DgcQuiescence.SettleAsync(Grains, Transport, [.. kernels.Select(k => k.Id)]);

    /// <summary>The importer drops and retires everything it holds from the exporter; then both settle and must have nothing left (L3).</summary>
    public async Task ReleaseAllAsync(Kernel importer, Kernel exporter)
    {
        await importer.Grain.DropAllAsync(exporter.Id, retire: true);
        await SettleAsync(exporter, importer);
        await AssertNothingLeftAsync(exporter, importer);
    }

    /// <summary>
    /// L3: the kernels hold nothing, every export they made is retired with its row gone, and no pair
    /// among them (or with anyone) keeps a handle row or a place in its manager's list.
    /// </summary>
    public async Task AssertNothingLeftAsync(params Kernel[] kernels)
    {
        foreach (var k in kernels)
        {
            var ledger = await k.LedgerAsync();
            Assert.Equal(0, ledger.Premature);
            Assert.Equal(0, ledger.ImportsHeld);
            Assert.Empty(ledger.ExportedNotRetired);
            Assert.Empty(await k.Manager.GetRemoteFiguresAsync());
            foreach (var other in kernels.Where(o => o != k))
            {
                Assert.False(Storage.Has(DgcStateNames.RemoteHandle, k.HandleTo(other).GetGrainId()), $"{k}->{other} left a handle row");
            }
        }
    }

    /// <summary>The silo's own store (the same partition grains), to read and write rows behind the grains' backs.</summary>
    public DgcMemoryGrainStorage Store => new(Grains, ((IClusterClient)Grains).ServiceProvider.GetRequiredService<Orleans.Serialization.Serializer>());

    /// <summary>An export's stored row (an empty state if there is none).</summary>
    public async Task<GrainState<ExportState>> ExportRowAsync(IAddressable export)
    {
        var row = new GrainState<ExportState>(new ExportState());
        await Store.ReadStateAsync(DgcStateNames.Export, export.GetGrainId(), row);
        return row;
    }

    /// <summary>Writes an export's row as another activation would (checked by its ETag).</summary>
    public Task WriteExportRowAsync(IAddressable export, GrainState<ExportState> row) =>
        Store.WriteStateAsync(DgcStateNames.Export, export.GetGrainId(), row);

    /// <summary>Deactivates <paramref name="grain"/> (as when its silo lets it go); its next call activates it from storage.</summary>
    public Task DeactivateAsync(IAddressable grain) => _cluster.DeactivateAsync(grain);

    /// <summary>Waits until deliveries in flight are done (held frames stay held).</summary>
    public Task IdleAsync() => Transport.WhenIdleAsync(TimeSpan.FromSeconds(30));
}

/// <summary>A reference kernel and shortcuts to its DGC grains.</summary>
public sealed record Kernel(DgcClusterFixture Fx, string Id)
{
    public IReferenceKernelGrain Grain => Fx.Grains.GetGrain<IReferenceKernelGrain>(Id);

    public IRemoteManagerGrain Manager => Fx.Grains.GetGrain<IRemoteManagerGrain>(Id);

    /// <summary>The same manager as <see cref="Manager"/>, through the calls only the DGC makes (its handles, its reminders).</summary>
    public IRemoteManagerInternal ManagerInternal => Fx.Grains.GetGrain<IRemoteManagerInternal>(Id);

    public IRemoteHandleGrain HandleTo(Kernel remote) => Fx.Grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Id, remote.Id));

    /// <summary>The same handle as <see cref="HandleTo"/>, through the calls only the DGC makes (frames, lease checks).</summary>
    public IRemoteHandleInternal InternalHandleTo(Kernel remote) => Fx.Grains.GetGrain<IRemoteHandleInternal>(DgcIds.HandleKey(Id, remote.Id));

    public IExportGrain Export(string kref) => Fx.Grains.GetGrain<IExportGrain>(DgcIds.ExportKey(Id, kref));

    /// <summary>The export shard that <paramref name="kref"/> belongs to.</summary>
    public IExportShardGrain ExportShard(string kref) => Fx.Grains.GetGrain<IExportShardGrain>(DgcIds.ExportShardKey(Id, DgcIds.ExportShardOf(kref)));

    public ICycleCollectorGrain Collector => Fx.Grains.GetGrain<ICycleCollectorGrain>(Id);

    public Task<KernelLedger> LedgerAsync() => Grain.GetLedgerAsync();

    public async Task<string> CreateAsync() => (await Grain.CreateObjectsAsync(1))[0];

    /// <summary>Delivers <paramref name="frame"/> to this kernel as if <paramref name="from"/> had sent it, in from's current session.</summary>
    public async Task ReceiveForgedAsync(Kernel from, WireFrame frame)
    {
        var sender = await from.HandleTo(this).GetFiguresAsync();
        var session = new SessionHeader(Math.Max(1, sender.Incarnation), Math.Max(1, sender.Epoch), sender.PeerEpoch);
        await InternalHandleTo(from).ReceiveFrameAsync(WireCodec.Encode(frame with { Session = session }));
    }

    /// <summary>A batch that continues from's stream towards this kernel with the next sequence number.</summary>
    public async Task<BatchFrame> NextBatchFromAsync(Kernel from, params DgcOp[] ops)
    {
        var mine = await HandleTo(from).GetFiguresAsync();
        var stream = Math.Max(1, (await from.HandleTo(this).GetFiguresAsync()).Stream);
        var applied = mine.PeerStream == stream ? mine.HighestAppliedInbound : 0;
        return new BatchFrame(stream, applied + 1, applied, ops);
    }

    public override string ToString() => Id;
}

[CollectionDefinition(Name)]
public sealed class DgcCluster : ICollectionFixture<DgcClusterFixture>
{
    public const string Name = "dgc-cluster";
}
