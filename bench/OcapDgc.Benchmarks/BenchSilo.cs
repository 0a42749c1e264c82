using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Testing;
using OcapDgc.Transport;

namespace OcapDgc.Benchmarks;

/// <summary>
/// One silo in this process, built the way a host builds it (generic host + <c>UseOrleans</c>, localhost
/// clustering, the DGC with its default batching), plus what the harness counts with: an incoming call
/// filter, the storage tracker's operation counts, the transport's frame count and the kernels' probe.
/// The harness calls grains through the silo's own client, as a co-hosted kernel would.
/// </summary>
internal sealed class BenchSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly DgcMemoryGrainStorage? _memoryStore;

    private BenchSilo(IHost host, CallCounter calls)
    {
        _host = host;
        Calls = calls;
        Grains = host.Services.GetRequiredService<IGrainFactory>();
        Transport = host.Services.GetRequiredService<InClusterTransport>();
        Storage = host.Services.GetService<DgcStorageTracker>();
        Probe = host.Services.GetRequiredService<BenchProbe>();
        _memoryStore = host.Services.GetKeyedService<IGrainStorage>(DgcStorage.Backend) as DgcMemoryGrainStorage;
    }

    public IGrainFactory Grains { get; }

    public IServiceProvider Services => _host.Services;

    public InClusterTransport Transport { get; }

    /// <summary>What the DGC did to storage; null for a silo started without <c>trackStorage</c>.</summary>
    public DgcStorageTracker? Storage { get; }

    /// <summary>The storage tracker, which a figure that counts storage operations needs.</summary>
    public DgcStorageTracker TrackedStorage => Storage ?? throw new InvalidOperationException("this silo was started without storage tracking");

    public BenchProbe Probe { get; }

    public CallCounter Calls { get; }

    /// <summary>
    /// The DGC lease of a silo started without a <c>configure</c> that sets one (the silo of items 1-4, 6, 7
    /// and 9): <see cref="LeaseOptions"/>' default, as <c>silo-config/appsettings.json</c> has it.
    /// </summary>
    public static TimeSpan DefaultLease { get; } = new LeaseOptions().Duration;

    /// <summary>
    /// Starts a silo. <paramref name="backend"/> registers the DGC's backend storage; null means the embedded default (in memory).
    /// With <paramref name="trackStorage"/> every storage operation is also counted and every stored row recorded
    /// (<see cref="DgcStorageTracker"/>): the figures of storage writes and rows need it; a latency figure that does not
    /// is measured without it, as the product runs.
    /// </summary>
    public static async Task<BenchSilo> StartAsync(Action<ISiloBuilder>? backend = null, Action<ISiloBuilder>? configure = null, bool trackStorage = true)
    {
        var calls = new CallCounter();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddFilter("OcapDgc", LogLevel.Warning);
        builder.Services.AddSingleton<BenchProbe>();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(
                siloPort: ThrowawayPostgres.FindFreeLoopbackPort(),
                gatewayPort: ThrowawayPostgres.FindFreeLoopbackPort(),
                serviceId: "ocap-dgc-bench",
                clusterId: "bench-" + Guid.NewGuid().ToString("N")[..8]);
            if (backend is null)
            {
                silo.UseDgcInMemoryStorage(singleSilo: true);
            }
            else
            {
                backend(silo);
            }

            silo.UseInMemoryReminderService();
            silo.AddDistributedGc();
            if (trackStorage)
            {
                silo.UseDgcStorageTracking();
            }

            silo.AddIncomingGrainCallFilter(calls);
            configure?.Invoke(silo);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new BenchSilo(host, calls);
    }

    /// <summary>What the counters say now.</summary>
    public Counters Read() => new(
        Stopwatch.GetTimestamp(),
        Calls.Total,
        Transport.FramesSent,
        Storage?.Writes ?? 0,
        Storage?.Clears ?? 0,
        _memoryStore?.BytesWritten ?? 0,
        Process.GetCurrentProcess().TotalProcessorTime);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>A reading of the harness's counters; subtract two to get what happened in between.</summary>
internal readonly record struct Counters(long Timestamp, long GrainCalls, long Frames, long StorageWrites, long StorageClears, long StorageBytes, TimeSpan Cpu)
{
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(Timestamp);

    /// <summary>Writes and clears: every operation that changes the backend.</summary>
    public long StorageChanges => StorageWrites + StorageClears;

    public static Counters operator -(Counters after, Counters before) => new(
        after.Timestamp - before.Timestamp,
        after.GrainCalls - before.GrainCalls,
        after.Frames - before.Frames,
        after.StorageWrites - before.StorageWrites,
        after.StorageClears - before.StorageClears,
        after.StorageBytes - before.StorageBytes,
        after.Cpu - before.Cpu);

    public static Counters Subtract(Counters after, Counters before) => after - before;

    /// <summary>The span of a difference (its <see cref="Timestamp"/> holds stopwatch ticks).</summary>
    public TimeSpan Span => TimeSpan.FromSeconds((double)Timestamp / Stopwatch.Frequency);
}
