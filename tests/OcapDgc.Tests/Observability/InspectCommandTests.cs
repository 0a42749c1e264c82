using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OcapDgc.Observability;
using OcapDgc.Testing;
using OcapDgc.Tests.Cluster;

namespace OcapDgc.Tests.Observability;

/// <summary>
/// <c>inspect</c> against a running host process (<c>--serve</c>): a client drives the reference kernels
/// through the gateway, then <c>dotnet OcapDgc.Host.dll inspect ...</c> prints the per-remote table and the
/// "why alive" answer.
/// </summary>
public sealed class InspectCommandTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Inspect_prints_the_per_remote_table_and_why_a_kref_is_alive()
    {
        var gateway = ThrowawayPostgres.FindFreeLoopbackPort().ToString(CultureInfo.InvariantCulture);
        var cluster = "inspect-" + Guid.NewGuid().ToString("N")[..8];
        string[] ports = ["--silo-port", ThrowawayPostgres.FindFreeLoopbackPort().ToString(CultureInfo.InvariantCulture), "--gateway-port", gateway, $"--Orleans:ClusterId={cluster}"];
        await using var silo = HostProcess.Start(["--serve", "--urls", $"http://127.0.0.1:{ThrowawayPostgres.FindFreeLoopbackPort()}", .. ports]);
        await silo.WaitForLineAsync("ocap-dgc silo ready", Timeout);

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(c => c.UseLocalhostClustering(int.Parse(gateway, CultureInfo.InvariantCulture), "ocap-dgc", cluster));
        using var client = builder.Build();
        await client.StartAsync();
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var alice = grains.GetGrain<IReferenceKernelGrain>("alice");
        var bob = grains.GetGrain<IReferenceKernelGrain>("bob");
        await alice.StartAsync();
        await bob.StartAsync();
        var objects = await alice.CreateObjectsAsync(10);
        await alice.SendAsync("bob", objects);
        await alice.SendAsync("bob", objects[..1]);

        // bob's addRefs reach alice within a flush interval or two: wait until the hold is confirmed.
        var inspector = new DgcInspector(grains);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await inspector.WhyAliveAsync("alice", objects[0])).Holders.Any(h => h.Confirmed) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        await using (var table = HostProcess.Start(["inspect", "alice", .. ports]))
        {
            Assert.Equal(0, await table.WaitForExitAsync(Timeout));
            log.WriteLine(table.Output);
            Assert.Contains("kernel alice: 1 remote(s)", table.Output, StringComparison.Ordinal);
            var row = table.Output.Split('\n').Single(l => l.StartsWith("bob ", StringComparison.Ordinal));
            Assert.Equal(["bob", "10", "0"], row.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(3));
            Assert.Contains("/ 120 s", row, StringComparison.Ordinal);
        }

        await using (var why = HostProcess.Start(["inspect", "alice", objects[0], .. ports]))
        {
            Assert.Equal(0, await why.WaitForExitAsync(Timeout));
            log.WriteLine(why.Output);
            Assert.Contains($"alice/{objects[0]} is alive: 1 remote(s) can reach it: bob (count 2).", why.Output, StringComparison.Ordinal);
            Assert.Contains("  bob: count 2, confirmed (addRef seen), wire ro+", why.Output, StringComparison.Ordinal);
            Assert.Contains("in message 2", why.Output, StringComparison.Ordinal);
            Assert.Contains($"owner: alice owns {objects[0]} and still holds a local reference to it (sent to bob).", why.Output, StringComparison.Ordinal);
        }

        await client.StopAsync();
    }

    [Fact]
    public async Task Inspect_without_a_silo_says_which_gateway_it_could_not_reach()
    {
        var gateway = ThrowawayPostgres.FindFreeLoopbackPort().ToString(CultureInfo.InvariantCulture);
        await using var inspect = HostProcess.Start(["inspect", "alice", "--gateway-port", gateway]);
        Assert.Equal(3, await inspect.WaitForExitAsync(Timeout));
        Assert.Contains($"Cannot reach an ocap-dgc silo through the gateway at 127.0.0.1:{gateway}", inspect.Output, StringComparison.Ordinal);
    }
}
