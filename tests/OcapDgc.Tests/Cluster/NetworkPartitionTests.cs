using System.Diagnostics;
using OcapDgc.Host.Network;
using OcapDgc.Testing;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// Two hosts, each its own cluster, whose frames to each other pass through a fault-injecting TCP proxy
/// (one per direction): a partition shorter than the lease releases nothing; a longer one reclaims both
/// sides' exports within the lease and one check period, none prematurely, and the imports of the ended
/// sessions are revoked after the heal.
/// </summary>
public sealed class NetworkPartitionTests : IDisposable
{
    // Lease 6 s, pings every 1 s, lease checks every 1 s.
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);
    private static readonly string[] Leases =
    [
        "--Dgc:Lease:Duration=00:00:06", "--Dgc:Lease:PingInterval=00:00:01", "--Dgc:Lease:CheckPeriod=00:00:01",
        "--Orleans:ReminderOptions:MinimumReminderPeriod=00:00:01",
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("ocapdgc-net-").FullName;

    [Fact]
    public async Task A_partition_shorter_than_the_lease_releases_nothing()
    {
        await using var pair = await PartitionedPair.StartAsync(_folder);
        var (alice, bob) = (pair.Alice, pair.Bob);
        var before = (await alice.StatsAsync(), await bob.StatsAsync());

        pair.Partition();
        await Task.Delay(TimeSpan.FromSeconds(2)); // the fault itself: two seconds of silence, a third of the lease
        pair.Heal();

        // Both sides hear from each other again (pings, pongs): their leases are renewed from now on...
        await NetworkHosts.UntilAsync(() => alice.StatsAsync(), s => s.Network["framesReceived"] >= before.Item1.Network["framesReceived"] + 3, TimeSpan.FromSeconds(10), "alice's host hears from bob's again");
        await NetworkHosts.UntilAsync(() => bob.StatsAsync(), s => s.Network["framesReceived"] >= before.Item2.Network["framesReceived"] + 3, TimeSpan.FromSeconds(10), "bob's host hears from alice's again");
        Assert.True(pair.Cut > 0, "the proxies cut connections during the partition");

        // ...and two more pings each way later (each lease check ran meanwhile), nothing was released or revoked.
        var aliceFigures = await alice.FiguresAsync("alice", "bob");
        var bobFigures = await bob.FiguresAsync("bob", "alice");
        await NetworkHosts.UntilAsync(() => alice.FiguresAsync("alice", "bob"), f => f.PingsSent >= aliceFigures.PingsSent + 2, TimeSpan.FromSeconds(10), "alice pings twice more");
        await NetworkHosts.UntilAsync(() => bob.FiguresAsync("bob", "alice"), f => f.PingsSent >= bobFigures.PingsSent + 2, TimeSpan.FromSeconds(10), "bob pings twice more");
        var a = await alice.LedgerAsync("alice");
        var b = await bob.LedgerAsync("bob");
        Assert.Equal((20, 10, 0, 0, 0, 0), (b.ImportsHeld, a.ImportsHeld, a.ExportsDroppedEvents, b.ExportsDroppedEvents, a.SessionsEnded + b.SessionsEnded, a.ImportsRevoked + b.ImportsRevoked));
        Assert.Equal(0, (await alice.FiguresAsync("alice", "bob")).LeaseExpiries + (await bob.FiguresAsync("bob", "alice")).LeaseExpiries);
    }

    [Fact]
    public async Task A_partition_longer_than_the_lease_reclaims_within_the_lease_without_a_premature_release_and_revokes_after_the_heal()
    {
        await using var pair = await PartitionedPair.StartAsync(_folder);
        var (alice, bob) = (pair.Alice, pair.Bob);

        pair.Partition();
        var cut = Stopwatch.StartNew();
        // Each exporter releases the other's holds once the lease lapsed, while the partition lasts.
        var a = await NetworkHosts.UntilAsync(() => alice.LedgerAsync("alice"), l => l.ExportsRetired == 20, TimeSpan.FromSeconds(20), "alice's exports reclaimed during the partition");
        var b = await NetworkHosts.UntilAsync(() => bob.LedgerAsync("bob"), l => l.ExportsRetired == 10, TimeSpan.FromSeconds(20), "bob's exports reclaimed during the partition");
        var reclaimed = cut.Elapsed;
        Assert.InRange(reclaimed, Lease - TimeSpan.FromSeconds(1.5), Lease + TimeSpan.FromSeconds(1 + 2));
        Assert.Equal((1, 1), (a.SessionsEnded, b.SessionsEnded));
        // Nothing reached the other side meanwhile: each kernel still has its imports, not yet revoked.
        Assert.Equal((10, 20, 0, 0), (a.ImportsHeld, b.ImportsHeld, a.ImportsRevoked, b.ImportsRevoked));

        pair.Heal();
        // At the next contact each learns that the other ended the session: every import of it is revoked.
        a = await NetworkHosts.UntilAsync(() => alice.LedgerAsync("alice"), l => l.ImportsRevoked == 10, TimeSpan.FromSeconds(15), "alice's imports revoked after the heal");
        b = await NetworkHosts.UntilAsync(() => bob.LedgerAsync("bob"), l => l.ImportsRevoked == 20, TimeSpan.FromSeconds(15), "bob's imports revoked after the heal");
        Assert.Equal((0, 0, 0, 0), (a.ImportsHeld, b.ImportsHeld, a.Confused, b.Confused));

        // The premature-release checks made during the partition were answered after the heal: none was premature.
        foreach (var host in new[] { alice, bob })
        {
            var stats = await NetworkHosts.UntilAsync(() => host.StatsAsync(), s => s.GroundTruth.Pending == 0, TimeSpan.FromSeconds(30), "ground-truth checks answered");
            Assert.True(stats.GroundTruth.Checked >= 1, "the exporter's host checked the importer's ground truth");
            Assert.Equal((0L, 0L), (stats.GroundTruth.Premature, stats.GroundTruth.Unverified));
        }

        Assert.Equal(0, a.Premature + b.Premature);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>alice (host A) and bob (host B) through two proxies, alice exporting 20 objects to bob and bob 10 to alice.</summary>
    private sealed class PartitionedPair : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _owned = [];
        private readonly List<IDisposable> _disposables = [];
        private FaultProxy _toA = null!;
        private FaultProxy _toB = null!;

        public DemoControlClient Alice { get; private set; } = null!;

        public DemoControlClient Bob { get; private set; } = null!;

        public int Cut => _toA.Cut + _toB.Cut;

        public static async Task<PartitionedPair> StartAsync(string folder)
        {
            var pair = new PartitionedPair();
            try
            {
                await pair.InitializeAsync(folder);
                return pair;
            }
            catch
            {
                await pair.DisposeAsync();
                throw;
            }
        }

        public void Partition()
        {
            _toA.Partition();
            _toB.Partition();
        }

        public void Heal()
        {
            _toA.Heal();
            _toB.Heal();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var o in Enumerable.Reverse(_owned))
            {
                await o.DisposeAsync();
            }

            foreach (var d in Enumerable.Reverse(_disposables))
            {
                d.Dispose();
            }
        }

        private async Task InitializeAsync(string folder)
        {
            var a = Own(PeerKey.Create(folder, "hostA"));
            var b = Own(PeerKey.Create(folder, "hostB"));
            var driver = Own(PeerKey.Create(folder, "driver"));
            var specA = new NetworkHostSpec(a, ["alice"], ThrowawayPostgres.FindFreeLoopbackPort());
            var specB = new NetworkHostSpec(b, ["bob"], ThrowawayPostgres.FindFreeLoopbackPort());
            _toA = new FaultProxy(specA.ListenPort);
            _owned.Add(_toA);
            _toB = new FaultProxy(specB.ListenPort);
            _owned.Add(_toB);
            specA.Peers.Add(("hostB", b, _toB.Port, ["bob"], true));
            specB.Peers.Add(("hostA", a, _toA.Port, ["alice"], true));
            foreach (var spec in new[] { specA, specB })
            {
                spec.Peers.Add(("driver", driver, 0, [], true));
                spec.Extra.AddRange(Leases);
            }

            var starting = new[] { NetworkHosts.StartAsync(specA), NetworkHosts.StartAsync(specB) };
            foreach (var s in starting)
            {
                try
                {
                    _owned.Add(await s);
                }
                catch (Exception e) when (e is TimeoutException)
                {
                    // Keep the other host for disposal, then fail.
                    foreach (var other in starting.Where(o => o != s && o.IsCompletedSuccessfully))
                    {
                        _owned.Add(other.Result);
                    }

                    throw;
                }
            }

            // The driver talks to each host directly, not through the proxies.
            var httpA = Own(NetworkHosts.ClientTo(specA, driver.Certificate));
            var httpB = Own(NetworkHosts.ClientTo(specB, driver.Certificate));
            Alice = new DemoControlClient(httpA);
            Bob = new DemoControlClient(httpB);
            await Alice.StartAsync("alice");
            await Bob.StartAsync("bob");
            await Alice.SendNewAsync("alice", "bob", 20);
            await Bob.SendNewAsync("bob", "alice", 10);
            await NetworkHosts.UntilAsync(() => Bob.LedgerAsync("bob"), l => l.ImportsHeld == 20, TimeSpan.FromSeconds(20), "bob holds alice's 20 objects");
            await NetworkHosts.UntilAsync(() => Alice.LedgerAsync("alice"), l => l.ImportsHeld == 10, TimeSpan.FromSeconds(20), "alice holds bob's 10 objects");
        }

        private T Own<T>(T disposable)
            where T : IDisposable
        {
            _disposables.Add(disposable);
            return disposable;
        }
    }
}
