using System.Diagnostics;
using System.Net;
using System.Text;
using OcapDgc.Host.Network;
using OcapDgc.Testing;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// Two host processes, each its own cluster on the embedded profile, whose kernels talk over the network
/// transport (HTTPS with mutual TLS and pinned keys, on loopback). The test itself is a configured peer
/// ("driver") allowed to drive the reference kernels through each host's demo control.
/// </summary>
public sealed class NetworkPeerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("ocapdgc-net-").FullName;

    [Fact]
    public async Task Two_clusters_script_runs_the_demo_over_mutual_TLS_and_ends_with_the_demo_line()
    {
        var root = Postgres.PostgresServer.FindRepositoryRoot();
        var output = await ThrowawayPostgres.RunAsync(
            "bash",
            [Path.Combine(root, "scripts", "two-clusters.sh"), "300"],
            new Dictionary<string, string> { ["OCAPDGC_HOST_DLL"] = HostProcess.HostDll });

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("two-clusters: key hostA sha256/", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Two kernels in two clusters, alice here and bob at peer hostB", StringComparison.Ordinal));
        Assert.Contains("Left behind: 0 export and 0 remote-handle storage entries here, 0 ExportGrain activations and 0 c-list entries", output, StringComparison.Ordinal);
        Assert.Equal("demo: exported=300 reclaimed=300 live=0 leaked=0 premature=0 revoked=0", lines[^1]);
    }

    [Fact]
    public async Task Killing_a_host_lets_the_other_reclaim_within_the_lease_and_its_restart_revokes_the_old_imports()
    {
        using var a = PeerKey.Create(_folder, "hostA");
        using var b = PeerKey.Create(_folder, "hostB");
        using var driver = PeerKey.Create(_folder, "driver");
        var specA = new NetworkHostSpec(a, ["alice"], ThrowawayPostgres.FindFreeLoopbackPort());
        var specB = new NetworkHostSpec(b, ["bob"], ThrowawayPostgres.FindFreeLoopbackPort());
        specA.Peers.Add(("hostB", b, specB.ListenPort, ["bob"], true));
        specB.Peers.Add(("hostA", a, specA.ListenPort, ["alice"], true));
        foreach (var spec in new[] { specA, specB })
        {
            spec.Peers.Add(("driver", driver, 0, [], true));
            spec.Extra.AddRange(NetworkHosts.ShortLease);
        }

        await using var hostA = await NetworkHosts.StartAsync(specA);
        var hostB = await NetworkHosts.StartAsync(specB);
        try
        {
            using var httpA = NetworkHosts.ClientTo(specA, driver.Certificate);
            using var httpB = NetworkHosts.ClientTo(specB, driver.Certificate);
            var alice = new DemoControlClient(httpA);
            var bob = new DemoControlClient(httpB);
            await alice.StartAsync("alice");
            await bob.StartAsync("bob");
            Assert.Equal(20, await alice.SendNewAsync("alice", "bob", 20));
            Assert.Equal(10, await bob.SendNewAsync("bob", "alice", 10));
            await NetworkHosts.UntilAsync(() => bob.LedgerAsync("bob"), l => l.ImportsHeld == 20, TimeSpan.FromSeconds(20), "bob holds alice's 20 objects");
            await NetworkHosts.UntilAsync(() => alice.LedgerAsync("alice"), l => l.ImportsHeld == 10, TimeSpan.FromSeconds(20), "alice holds bob's 10 objects");

            // SIGKILL host B: bob never drops anything, so only the lease can release alice's exports.
            hostB.Kill();
            var killed = Stopwatch.StartNew();
            var reclaimed = await NetworkHosts.UntilAsync(
                () => alice.LedgerAsync("alice"), l => l.ExportsRetired == 20, TimeSpan.FromSeconds(30), "alice's exports reclaimed after bob's host died");
            var after = killed.Elapsed;

            // Lease 4 s, check period 1 s, bob's last ping at most 1 s before the kill: released after 3-5 s (plus polling).
            Assert.InRange(after, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(4 + 1 + 2));
            Assert.Equal(20, reclaimed.ExportsDroppedEvents);
            Assert.True(reclaimed.SessionsEnded >= 1, "alice was told her session with bob ended");
            Assert.Equal(10, reclaimed.ImportsHeld); // her imports from bob are revoked only when bob's host is heard from again

            // Restart host B (a new process: bob's DGC state is gone) and have the new bob send five new objects
            // at once. Its kernel is a new incarnation with newer sessions, so alice revokes everything she
            // imported from the old one, and the new objects' wire ids never name an old import.
            await hostB.DisposeAsync();
            hostB = await NetworkHosts.StartAsync(specB);
            await bob.StartAsync("bob");
            Assert.Equal(5, await bob.SendNewAsync("bob", "alice", 5));
            var revoked = await NetworkHosts.UntilAsync(
                () => alice.LedgerAsync("alice"), l => l.ImportsRevoked == 10 && l.ImportsHeld == 5, TimeSpan.FromSeconds(20),
                "alice's imports from the old bob revoked and the new bob's five held");
            Assert.Equal(0, revoked.Confused);

            // The premature-release check of alice's drop reached the new bob once it was up: nothing was held.
            var stats = await NetworkHosts.UntilAsync(() => alice.StatsAsync(), s => s.GroundTruth.Pending == 0, TimeSpan.FromSeconds(30), "alice's host finished its ground-truth checks");
            Assert.Equal(0, stats.GroundTruth.Premature);
            Assert.Equal(0, stats.GroundTruth.Unverified);
            Assert.Equal(0, revoked.Premature);
        }
        finally
        {
            await hostB.DisposeAsync();
        }
    }

    [Fact]
    public async Task Network_settings_that_cannot_work_stop_the_host_naming_each_key()
    {
        using var a = PeerKey.Create(_folder, "hostA");
        await using var host = HostProcess.Start(
        [
            "--serve", "--Dgc:Network:Listen=127.0.0.1:70000", $"--Dgc:Network:Certificate={a.CertificatePath}", "--Dgc:Network:Key=/nonexistent.pem",
            "--Dgc:Network:Kernels:0=alice", "--Dgc:Network:Peers:hostB:Pins:0=sha256/not-a-pin", "--Dgc:Network:Peers:hostB:Kernels:0=alice",
            "--Dgc:Network:DemoControl:0=nobody",
        ]);

        Assert.Equal(2, await host.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("Dgc:Network:Listen must be address:port", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Network:Key: file '/nonexistent.pem' not found", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Network:Peers:hostB:Pins: 'sha256/not-a-pin' is not of the form", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Network:Peers:hostB:Kernels: 'alice' is already served by this host", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Network:Peers:hostB:Address is required", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Network:DemoControl names 'nobody'", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("silo ready", host.Output, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

/// <summary>Two hosts with a live pair, alice (host A) exporting ten objects to bob (host B), and keys for a third peer and for strangers.</summary>
public sealed class RefusalHosts : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("ocapdgc-net-").FullName;
    private HostProcess? _a;
    private HostProcess? _b;

    public PeerKey A { get; private set; } = null!;

    public PeerKey B { get; private set; } = null!;

    /// <summary>A configured peer of host A serving kernel carol; not allowed the demo control.</summary>
    public PeerKey C { get; private set; } = null!;

    public PeerKey Driver { get; private set; } = null!;

    /// <summary>A well-formed key no host pins.</summary>
    public PeerKey Stranger { get; private set; } = null!;

    public NetworkHostSpec SpecA { get; private set; } = null!;

    public const int MaxFrameBytes = 64 * 1024;

    public async Task InitializeAsync()
    {
        (A, B, C, Driver, Stranger) = (Key("hostA"), Key("hostB"), Key("hostC"), Key("driver"), Key("stranger"));
        SpecA = new NetworkHostSpec(A, ["alice"], ThrowawayPostgres.FindFreeLoopbackPort());
        var specB = new NetworkHostSpec(B, ["bob"], ThrowawayPostgres.FindFreeLoopbackPort());
        SpecA.Peers.Add(("hostB", B, specB.ListenPort, ["bob"], true));
        SpecA.Peers.Add(("hostC", C, ThrowawayPostgres.FindFreeLoopbackPort(), ["carol"], false));
        SpecA.Peers.Add(("driver", Driver, 0, [], true));
        SpecA.Extra.Add($"--Dgc:Network:MaxFrameBytes={MaxFrameBytes}");
        specB.Peers.Add(("hostA", A, SpecA.ListenPort, ["alice"], true));
        specB.Peers.Add(("driver", Driver, 0, [], true));
        var starting = new[] { NetworkHosts.StartAsync(SpecA), NetworkHosts.StartAsync(specB) };
        try
        {
            _a = await starting[0];
        }
        finally
        {
            _b = await starting[1];
        }

        using var http = NetworkHosts.ClientTo(SpecA, Driver.Certificate);
        using var httpB = NetworkHosts.ClientTo(specB, Driver.Certificate);
        var alice = new DemoControlClient(http);
        await alice.StartAsync("alice");
        await new DemoControlClient(httpB).StartAsync("bob");
        await alice.SendNewAsync("alice", "bob", 10);
        await NetworkHosts.UntilAsync(() => new DemoControlClient(httpB).LedgerAsync("bob"), l => l.ImportsHeld == 10, TimeSpan.FromSeconds(20), "bob holds alice's 10 objects");
    }

    public async Task DisposeAsync()
    {
        if (_a is not null)
        {
            await _a.DisposeAsync();
        }

        if (_b is not null)
        {
            await _b.DisposeAsync();
        }

        foreach (var k in new[] { A, B, C, Driver, Stranger })
        {
            k?.Dispose();
        }

        Directory.Delete(_folder, recursive: true);
    }

    private PeerKey Key(string name) => PeerKey.Create(_folder, name);
}

/// <summary>What the peer endpoint refuses, and that a refusal changes nothing: no activation, no hold, no count.</summary>
public sealed class NetworkRefusalTests(RefusalHosts hosts) : IClassFixture<RefusalHosts>
{
    private const string Frame = """{"method":"dgc:bringOutYourDead","session":{"inc":1,"epoch":1,"peer":1},"params":{}}""";

    [Fact]
    public async Task A_peer_with_its_own_valid_key_claiming_another_peers_kernel_is_refused_and_nothing_changes()
    {
        using var driverHttp = NetworkHosts.ClientTo(hosts.SpecA, hosts.Driver.Certificate);
        var driver = new DemoControlClient(driverHttp);
        var before = await driver.StatsAsync();
        var ledgerBefore = await driver.LedgerAsync("alice");
        var handleBefore = await driver.FiguresAsync("alice", "bob");

        using var asC = NetworkHosts.ClientTo(hosts.SpecA, hosts.C.Certificate);
        // hostC authenticates with its own pinned key, but speaks as bob (hostB's kernel) or as alice (host A's own).
        Assert.Equal(HttpStatusCode.Forbidden, await PostFrameAsync(asC, "bob", "alice", Frame));
        Assert.Equal(HttpStatusCode.Forbidden, await PostFrameAsync(asC, "alice", "alice", Frame));
        // A receiver host A does not serve, and the demo control hostC is not allowed: refused too.
        Assert.Equal(HttpStatusCode.NotFound, await PostFrameAsync(asC, "carol", "bob", Frame));
        using (var control = await asC.GetAsync(new Uri("dgc/demo/ledger?kernel=alice", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, control.StatusCode);
        }

        var after = await driver.StatsAsync();
        Assert.Equal(before.Activations, after.Activations);
        Assert.Equal(2, after.Network["refusedWrongSender"] - before.Network["refusedWrongSender"]);
        Assert.Equal(1, after.Network["refusedUnknownReceiver"] - before.Network["refusedUnknownReceiver"]);
        Assert.Equal(1, after.Network["refusedNotAllowed"] - before.Network["refusedNotAllowed"]);
        var ledgerAfter = await driver.LedgerAsync("alice");
        Assert.Equal((ledgerBefore.ExportedDistinct, 0, 0, 0), (ledgerAfter.ExportedDistinct, ledgerAfter.ExportsDroppedEvents, ledgerAfter.ExportsRetired, ledgerAfter.SessionsEnded));
        var handleAfter = await driver.FiguresAsync("alice", "bob");
        Assert.Equal((handleBefore.Exports, handleBefore.Epoch, 0), (handleAfter.Exports, handleAfter.Epoch, handleAfter.RejectedOps));
    }

    [Fact]
    public async Task A_frame_over_the_size_limit_is_refused_with_413_before_any_grain_is_called()
    {
        using var driverHttp = NetworkHosts.ClientTo(hosts.SpecA, hosts.Driver.Certificate);
        var driver = new DemoControlClient(driverHttp);
        var before = await driver.StatsAsync();

        // hostB's own key, its own kernel, but a body over Dgc:Network:MaxFrameBytes.
        using var asB = NetworkHosts.ClientTo(hosts.SpecA, hosts.B.Certificate);
        var huge = Frame.Replace("{}", $"{{\"pad\":\"{new string('x', RefusalHosts.MaxFrameBytes)}\"}}", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostFrameAsync(asB, "bob", "alice", huge));

        var after = await driver.StatsAsync();
        Assert.Equal(1, after.Network["refusedTooLarge"] - before.Network["refusedTooLarge"]);
        Assert.Equal(before.Activations, after.Activations);
    }

    [Fact]
    public async Task A_client_without_a_pinned_key_is_refused_during_the_TLS_handshake()
    {
        using var driverHttp = NetworkHosts.ClientTo(hosts.SpecA, hosts.Driver.Certificate);
        var driver = new DemoControlClient(driverHttp);
        var before = await driver.StatsAsync();

        using var stranger = NetworkHosts.ClientTo(hosts.SpecA, hosts.Stranger.Certificate);
        var refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => PostFrameAsync(stranger, "bob", "alice", Frame));
        Assert.Null(refused.StatusCode); // no HTTP answer at all: the connection never got past TLS

        using var anonymous = NetworkHosts.ClientTo(hosts.SpecA, null);
        var noCertificate = await Assert.ThrowsAnyAsync<HttpRequestException>(() => PostFrameAsync(anonymous, "bob", "alice", Frame));
        Assert.Null(noCertificate.StatusCode);

        var after = await driver.StatsAsync();
        Assert.True(after.Network["handshakesRefused"] - before.Network["handshakesRefused"] >= 1, "the stranger's key was refused in the handshake");
        Assert.Equal(before.Network["refusedWrongSender"], after.Network["refusedWrongSender"]);
        Assert.Equal(before.Activations, after.Activations);
    }

    private static async Task<HttpStatusCode> PostFrameAsync(HttpClient client, string from, string to, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("dgc/frames", UriKind.Relative))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(PeerEndpoint.FromHeader, from);
        request.Headers.Add(PeerEndpoint.ToHeader, to);

        // A large body waits for the server's go-ahead: a server that refuses it by its length answers at once, and
        // the client reads that answer instead of finding the connection closed under a body still being written.
        request.Headers.ExpectContinue = json.Length > 64 * 1024;
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
