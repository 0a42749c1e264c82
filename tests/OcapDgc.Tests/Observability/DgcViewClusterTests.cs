using System.Net;
using System.Text.Json;
using OcapDgc.Observability;
using OcapDgc.Tests.Cluster;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Observability;

/// <summary>
/// The DGC view and <c>/healthz</c> on the PostgreSQL cluster profile: two silo processes, kernels driven
/// through a client, and each silo's view answers for the whole cluster.
/// </summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class DgcViewClusterTests(PostgresServer server)
{
    [Fact]
    public async Task On_the_cluster_profile_every_silo_shows_the_cluster_and_is_healthy()
    {
        await using var cluster = await SiloCluster.StartAsync(server, 2);
        var grains = cluster.Client;
        var alice = grains.GetGrain<IReferenceKernelGrain>("alice");
        var bob = grains.GetGrain<IReferenceKernelGrain>("bob");
        await alice.StartAsync();
        await bob.StartAsync();
        var objects = await alice.CreateObjectsAsync(10);
        await alice.SendAsync("bob", objects);
        await alice.SendAsync("bob", objects[..1]);
        var inspector = new DgcInspector(grains);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await inspector.WhyAliveAsync("alice", objects[0])).Holders.Any(h => h.Confirmed) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        using var http = new HttpClient();
        foreach (var silo in cluster.Silos)
        {
            var web = silo.Dashboard[..^"/dashboard".Length];
            using var why = JsonDocument.Parse(await http.GetStringAsync(new Uri($"{web}/dgc/api/why?kernel=alice&kref={objects[0]}")));
            Assert.Equal($"alice/{objects[0]} is alive: 1 remote(s) can reach it: bob (count 2).", why.RootElement.GetProperty("verdict").GetString());
            Assert.True(why.RootElement.GetProperty("holders")[0].GetProperty("confirmed").GetBoolean());

            using var overview = JsonDocument.Parse(await http.GetStringAsync(new Uri($"{web}/dgc/api/overview")));
            var aliceRemotes = overview.RootElement.GetProperty("kernels").EnumerateArray().Single(k => k.GetProperty("kernel").GetString() == "alice").GetProperty("remotes");
            Assert.Equal(10, aliceRemotes.EnumerateArray().Single(r => r.GetProperty("remote").GetString() == "bob").GetProperty("exports").GetInt32());

            using var health = await http.GetAsync(new Uri($"{web}/healthz"));
            var body = await health.Content.ReadAsStringAsync();
            Assert.True(health.StatusCode == HttpStatusCode.OK, body);
            using var report = JsonDocument.Parse(body);
            Assert.Equal("Healthy", report.RootElement.GetProperty("status").GetString());
            Assert.Equal(2, report.RootElement.GetProperty("checks").GetProperty("silo").GetProperty("data").GetProperty("activeSilos").GetInt32());
            Assert.Contains("DgcPostgresGrainStorage", report.RootElement.GetProperty("checks").GetProperty("storage").GetProperty("data").GetProperty("provider").GetString(), StringComparison.Ordinal);
        }
    }
}
