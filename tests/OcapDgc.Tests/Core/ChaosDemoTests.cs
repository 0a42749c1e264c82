using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OcapDgc.Host;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.TestingHost;

namespace OcapDgc.Tests.Core;

/// <summary>
/// The <c>--chaos</c> run on its own silo, with real timers and lease reminders (second-long periods):
/// losses, duplicates, reordering, a partition longer than the lease and an importer crash, and still
/// nothing leaks and nothing is released early. The run awaits each event it reports; it never sleeps
/// for a fixed time.
/// </summary>
public sealed class ChaosDemoTests : IAsyncLifetime
{
    private static readonly ChaosOptions Chaos = new()
    {
        Refs = 4000,
        MessageSize = 40,
        Seed = 11,
        DropRate = 0.05,
        DuplicateRate = 0.05,
        HoldRate = 0.05,
        Lease = TimeSpan.FromSeconds(3),
        PingInterval = TimeSpan.FromMilliseconds(500),
        CheckPeriod = TimeSpan.FromSeconds(1),
    };

    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _cluster = await SingleSilo.StartAsync(silo =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = Chaos.CheckPeriod);
            silo.AddDistributedGc(lease: l =>
            {
                l.Duration = Chaos.Lease;
                l.PingInterval = Chaos.PingInterval;
                l.CheckPeriod = Chaos.CheckPeriod;
            });
            silo.UseDgcFaultInjection();
            silo.UseDgcStorageTracking();
        });
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Under_chaos_nothing_leaks_nothing_is_released_early_and_revocations_are_reported()
    {
        var services = _cluster.Services();
        var storage = services.GetRequiredService<DgcStorageTracker>();
        var faults = services.GetRequiredService<FaultInjectingTransport>();
        var output = new StringWriter();
        var runner = new ChaosRunner(
            _cluster.Client,
            services.GetRequiredService<InClusterTransport>(),
            faults,
            storage,
            services.GetRequiredService<IOptions<LeaseOptions>>().Value,
            output);

        var result = await runner.RunAsync(Chaos.Refs, Chaos);

        Assert.True(faults.Dropped > 0 && faults.Duplicated > 0 && faults.Delayed > 0, output.ToString());
        Assert.Equal(Chaos.Refs, result.Exported);
        Assert.Equal(result.Exported, result.Reclaimed);
        Assert.Equal(0, result.Leaked);
        Assert.Equal(0, result.Premature);
        Assert.Equal(0, result.Live);
        Assert.True(result.Revoked > 0, output.ToString());
        Assert.Equal(0, storage.CountOf(DgcStateNames.Export));
        Assert.Equal(0, storage.CountOf(DgcStateNames.RemoteHandle));
        Assert.Contains("alice released their holds", output.ToString(), StringComparison.Ordinal);
        Assert.Matches("leaked=0 premature=0 revoked=[1-9]", result.SummaryLine);
    }
}
