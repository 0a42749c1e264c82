using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Host;
using OcapDgc.Hosting;
using OcapDgc.Transport;
using Orleans.TestingHost;

namespace OcapDgc.Tests.Core;

/// <summary>The demo's cycles part (<c>--cycles</c>) on its own silo with the real clock: every cycle reclaimed, nothing early.</summary>
public sealed class CycleDemoTests : IAsyncLifetime
{
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _cluster = await SingleSilo.StartAsync(silo =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddDistributedGc();
            silo.Services.Configure<CycleOptions>(c =>
            {
                // As the host sets them for --cycles.
                c.SuspectAfter = TimeSpan.Zero;
                c.TraceTimeout = TimeSpan.FromSeconds(2);
            });
        });
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Every_cycle_of_the_demo_is_reclaimed_and_none_early()
    {
        var output = new StringWriter();
        var runner = new CycleDemoRunner(_cluster.Client, _cluster.Services().GetRequiredService<InClusterTransport>(), output);

        var result = await runner.RunAsync(30);

        Assert.True(result.Clean, output.ToString());
        Assert.Equal(30, result.Cycles);
        Assert.Equal(30, result.Reclaimed);
        Assert.Equal(0, result.Mistakes);
        Assert.Equal(0, result.Premature);
        Assert.InRange(result.Verdicts, 1, 30 * 3);
    }
}
