using System.Globalization;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Tests.Postgres;
using Xunit.Abstractions;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// D1 across a real crash: three silo processes on PostgreSQL; reference kernels exchange and drop
/// references through them; one silo is killed with SIGKILL while GC batches are in flight. The cluster
/// recovers, every export's count is exactly what the driver's model of sends and drops says (a lost
/// batch would leave a count too high, a batch applied twice one too low or an over-release refusal),
/// sequence numbers line up pair by pair, reminders keep firing, and at the end everything is reclaimed.
/// </summary>
/// <remarks>
/// What is and is not in flight at the kill, and why:
/// <list type="bullet">
/// <item>The reference kernels are the oracle. Their ground truth is durable in this profile, so a kernel
/// on the killed silo (or one Orleans deactivates because the dead silo held its directory entry) comes
/// back with it. The victim is the silo with the most remote handles.</item>
/// <item>Every kernel call the driver makes (send, drop) has returned before the kill, so no application
/// message is in flight: a lost application frame is a lost message, not a batch, and its holds can only
/// be reclaimed by leases and reconciliation. What is in flight is the GC traffic those calls started:
/// addRef and dropRef batches, acknowledgements, retransmissions.</item>
/// </list>
/// </remarks>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class SiloCrashTests(PostgresServer server, ITestOutputHelper output) : IAsyncLifetime
{
    private const int SiloCount = 3;
    private const int KernelCount = 4;
    private const int CandidateCount = 12;
    private const int ObjectsPerKernel = 150;
    private const int MessageSize = 30;
    private const int SiloStatusActive = 3;
    private const int SiloStatusDead = 6;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan BoydPeriod = TimeSpan.FromSeconds(1);

    private SiloCluster? _cluster;
    private readonly ExportModel _model = new();
    private readonly Dictionary<string, int> _expectedMessages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _objects = new(StringComparer.Ordinal);
    private readonly List<(string Importer, string Exporter, string Kref, string Label)> _droppedNotRetired = [];

    private IClusterClient Grains => Cluster.Client;

    private SiloCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster did not start.");

    public async Task InitializeAsync() => _cluster = await SiloCluster.StartAsync(
        server,
        SiloCount,
        "--Orleans:ReminderOptions:MinimumReminderPeriod=00:00:01",
        // Queues are flushed by the kernels' BOYD (every second, and by the driver), not by a timer or a size
        // bound, so the driver's last BOYD before the kill sends large batches that are still being applied.
        "--Dgc:Batching:FlushInterval=00:00:05",
        // Declare the killed silo dead after two missed probes of 2 s rather than three of 5 s.
        "--Orleans:ClusterMembershipOptions:ProbeTimeout=00:00:02",
        "--Orleans:ClusterMembershipOptions:NumMissedProbesLimit=2");

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_silo_killed_mid_traffic_loses_no_batch_applies_none_twice_and_everything_is_reclaimed()
    {
        // Kernels, each running BOYD from a reminder; the test drives the first few, the others only tick.
        var candidates = Enumerable.Range(0, CandidateCount).Select(i => $"k{i}").ToArray();
        foreach (var c in candidates)
        {
            await Kernel(c).StartAsync();
            await Kernel(c).SetBoydPeriodAsync(BoydPeriod);
        }

        var kernels = candidates[..KernelCount];

        // 1. Exchange: every kernel sends its objects to every other, some twice, and sends some imports back.
        foreach (var k in kernels)
        {
            _objects[k] = [.. await Kernel(k).CreateObjectsAsync(ObjectsPerKernel)];
        }

        await Task.WhenAll(kernels.Select(k => SendAllAsync(k, kernels, _objects[k])));
        await WaitForDeliveryAsync(kernels);
        await Task.WhenAll(kernels.Select(k => SendBackAsync(k, kernels)));
        await SettleAsync(kernels, "after the exchange");
        await AssertCountsMatchModelAsync(kernels, "after the exchange");

        // The victim: the silo hosting the most remote handles (then exports) of the driven kernels.
        var hosted = await DgcActivationsBySiloAsync();
        var victim = Cluster.Silos.OrderByDescending(s => hosted.GetValueOrDefault(s.SiloPort)).First();
        Log($"victim: silo {victim.Number} (port {victim.SiloPort}); activations by silo port: {string.Join("; ", hosted.Select(h => $"{h.Key}: {h.Value}"))}");
        Assert.True(hosted.GetValueOrDefault(victim.SiloPort).Handles > 0, "the victim hosts remote handles");

        // 2. Drop half of every kernel's imports (no retire), quickly: the drops queue in the handles. BOYD
        //    turns the queues into batches and sends them; the victim is killed as soon as it returns, while the
        //    receivers are applying them.
        //    A kernel's BOYD reminder may have flushed everything meanwhile: then drop a few more.
        var queued = 0L;
        for (var round = 0; queued == 0; round++)
        {
            Assert.True(round < 10, "drops stayed queued long enough to be flushed right before the kill");
            await Task.WhenAll(kernels.Select(k => DropAsync(k, kernels, fraction: round == 0 ? 2 : 10, retire: false, perCall: 25)));
            queued = await QueuedOpsAsync(kernels);
        }

        await Task.WhenAll(kernels.Select(k => Manager(k).BringOutYourDeadAsync()));
        victim.Process.Kill();
        Log($"flushed {queued} queued drops into batches and killed silo {victim.Number} (pid {victim.Process.Id}) at once");
        Assert.True(queued > 0, "the kill followed a flush of queued GC operations");

        // 3. The cluster recovers: the victim is declared dead, the others stay active, the grains answer again.
        await WaitForAsync("the killed silo declared dead", async () =>
        {
            var members = await Cluster.MembershipAsync();
            return members.GetValueOrDefault(victim.SiloPort) == SiloStatusDead
                && Cluster.Silos.Where(s => s != victim).All(s => members.GetValueOrDefault(s.SiloPort) == SiloStatusActive)
                ? null : "membership " + string.Join(", ", members.Select(m => $"{m.Key}: {m.Value}"));
        });
        await SettleAsync(kernels, "after the crash");
        await AssertCountsMatchModelAsync(kernels, "after the crash");

        // 4. Reminders keep firing: every kernel's BOYD reminder ticks twice more, including those of
        //    kernels that lived on the killed silo or whose reminders it owned.
        var ticks = await LedgersAsync(candidates);
        await WaitForAsync("every kernel's BOYD reminder firing after the crash", async () =>
        {
            var now = await LedgersAsync(candidates);
            var late = now.Where(l => l.BoydReminderTicks < ticks.Single(t => t.KernelId == l.KernelId).BoydReminderTicks + 2).ToList();
            return late.Count == 0 ? null : "not yet ticked: " + string.Join(", ", late.Select(l => l.KernelId));
        });
        Assert.Equal(
            (long)CandidateCount,
            await Cluster.ScalarAsync<long>("SELECT count(*) FROM OrleansRemindersTable WHERE ServiceId = @svc AND ReminderName = 'boyd'", ("svc", Cluster.ServiceId)));

        // Each pair of kernels that holds something keeps its lease reminder in the same table.
        Assert.True(await Cluster.ScalarAsync<long>(
            "SELECT count(*) FROM OrleansRemindersTable WHERE ServiceId = @svc AND ReminderName = @lease",
            ("svc", Cluster.ServiceId),
            ("lease", RemoteHandleGrain.LeaseReminder)) > 0);

        // 5. Keep driving on the surviving silos: retire what was dropped before the crash; new objects, sent, some dropped and retired.
        foreach (var group in _droppedNotRetired.GroupBy(d => (d.Importer, d.Exporter)))
        {
            await Grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(group.Key.Importer, group.Key.Exporter))
                .RetireImportsAsync([.. group.Select(d => d.Kref)]);
            foreach (var d in group)
            {
                _model.Dropped(d.Label, d.Importer, retired: true);
            }
        }

        foreach (var k in kernels)
        {
            var fresh = await Kernel(k).CreateObjectsAsync(ObjectsPerKernel / 5);
            _objects[k].AddRange(fresh);
            await SendAllAsync(k, kernels, fresh);
        }

        await WaitForDeliveryAsync(kernels);
        await Task.WhenAll(kernels.Select(k => DropAsync(k, kernels, fraction: 3, retire: true, perCall: 4)));
        await SettleAsync(kernels, "after more traffic");
        await AssertCountsMatchModelAsync(kernels, "after more traffic");

        // 6. Drop and retire everything: all reclaimed, nothing early, no c-list entry or export row left.
        await Task.WhenAll(kernels.Select(k => DropAsync(k, kernels, fraction: 1, retire: true, perCall: 4)));
        var (figures, ledgers) = await SettleAsync(kernels, "at the end");
        await AssertCountsMatchModelAsync(kernels, "at the end");
        Assert.All(ledgers, l =>
        {
            Assert.Equal(0, l.Premature);
            Assert.Equal(0, l.ImportsHeld);
            Assert.Equal(l.ExportedDistinct, l.ExportsRetired);
        });
        Assert.Equal(kernels.Length * _objects.Values.First().Count, ledgers.Sum(l => l.ExportsRetired));
        Assert.All(figures, f => Assert.Equal((0, 0, 0L), (f.Exports, f.Imports, f.RejectedOps)));
        Assert.Equal(0L, await Cluster.ScalarAsync<long>(
            "SELECT count(*) FROM dgc_state WHERE service_id = @svc AND state_name = @state", ("svc", Cluster.ServiceId), ("state", DgcStateNames.Export)));
    }

    private IReferenceKernelGrain Kernel(string id) => Grains.GetGrain<IReferenceKernelGrain>(id);

    private IRemoteManagerGrain Manager(string id) => Grains.GetGrain<IRemoteManagerGrain>(id);

    private async Task SendAllAsync(string from, string[] kernels, IReadOnlyList<string> objects)
    {
        foreach (var to in kernels.Where(k => k != from))
        {
            foreach (var chunk in objects.Chunk(MessageSize))
            {
                await SendAsync(from, to, chunk);
            }

            // Re-send every seventh object: a second receipt of a held import.
            await SendAsync(from, to, [.. objects.Where((_, i) => i % 7 == 0)]);
        }
    }

    private async Task SendAsync(string from, string to, string[] own)
    {
        await Kernel(from).SendAsync(to, own);
        _model.Sent(from, to, own);
        Count(to);
    }

    private async Task SendBackAsync(string from, string[] kernels)
    {
        // Imports sent back to their exporter travel as ro-N: no count changes, the exporter gets its own object.
        foreach (var exporter in kernels.Where(k => k != from))
        {
            var imports = await Kernel(from).GetHeldImportsAsync(exporter);
            await Kernel(from).SendAsync(exporter, [.. imports.Take(10)]);
            Count(exporter);
        }
    }

    private void Count(string to)
    {
        lock (_expectedMessages)
        {
            _expectedMessages[to] = _expectedMessages.GetValueOrDefault(to) + 1;
        }
    }

    /// <summary>Drops (and retires) 1/<paramref name="fraction"/> of the imports <paramref name="importer"/> holds from each remote, <paramref name="perCall"/> per call.</summary>
    private async Task DropAsync(string importer, string[] kernels, int fraction, bool retire, int perCall)
    {
        foreach (var exporter in kernels.Where(k => k != importer))
        {
            var labels = await Kernel(importer).GetImportLabelsAsync(exporter);
            var chosen = labels.OrderBy(l => l.Key, StringComparer.Ordinal).Where((_, i) => i % fraction == 0).ToArray();
            foreach (var chunk in chosen.Chunk(perCall))
            {
                await Kernel(importer).DropAsync(exporter, [.. chunk.Select(c => c.Key)], retire);
                foreach (var (kref, label) in chunk)
                {
                    _model.Dropped(label, importer, retire);
                    if (!retire)
                    {
                        lock (_droppedNotRetired)
                        {
                            _droppedNotRetired.Add((importer, exporter, kref, label));
                        }
                    }
                }
            }
        }
    }

    private async Task WaitForDeliveryAsync(string[] kernels) =>
        await WaitForAsync("every application message delivered", async () =>
        {
            var ledgers = await LedgersAsync(kernels);
            foreach (var l in ledgers)
            {
                Assert.True(l.MessagesReceived <= _expectedMessages.GetValueOrDefault(l.KernelId), $"{l.KernelId} received a message twice");
            }

            return ledgers.All(l => l.MessagesReceived == _expectedMessages.GetValueOrDefault(l.KernelId))
                ? null : string.Join(", ", ledgers.Select(l => $"{l.KernelId} got {l.MessagesReceived} of {_expectedMessages.GetValueOrDefault(l.KernelId)}"));
        });

    /// <summary>
    /// BOYD until, pair by pair, nothing is queued or unacknowledged and the sender's last sequence
    /// number is the receiver's highest applied one. Transient failures while the cluster heals are retried.
    /// </summary>
    private async Task<(RemoteFigures[] Figures, KernelLedger[] Ledgers)> SettleAsync(string[] kernels, string when)
    {
        (RemoteFigures[] Figures, KernelLedger[] Ledgers) settled = ([], []);
        await WaitForAsync($"the kernels to settle {when}", async () =>
        {
            await Task.WhenAll(kernels.Select(k => Manager(k).BringOutYourDeadAsync()));
            // Ask every pair's handle itself: a fully released handle has cleared its row and left its manager's list.
            var figures = await Task.WhenAll(kernels.SelectMany(k => kernels.Where(o => o != k).Select(o =>
                Grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(k, o)).GetFiguresAsync())));
            var ledgers = await LedgersAsync(kernels);

            var busy = figures.Where(f => f.QueuedOps > 0 || f.UnackedBatches > 0).ToList();
            if (busy.Count > 0)
            {
                return "busy: " + string.Join(", ", busy.Select(f => $"{f.LocalKernel}->{f.RemoteKernel} queued {f.QueuedOps} unacked {f.UnackedBatches} next {f.NextOutboundSeq}"));
            }

            var undelivered = ledgers.Where(l => l.MessagesReceived != _expectedMessages.GetValueOrDefault(l.KernelId)).ToList();
            if (undelivered.Count > 0)
            {
                return "messages: " + string.Join(", ", undelivered.Select(l => $"{l.KernelId} got {l.MessagesReceived} of {_expectedMessages.GetValueOrDefault(l.KernelId)}"));
            }

            foreach (var f in figures)
            {
                var peer = figures.Single(p => p.LocalKernel == f.RemoteKernel && p.RemoteKernel == f.LocalKernel);

                // A handle that cleared starts a new stream at its next use; until then there is nothing to compare.
                if (f.Stream != 0 && f.Stream == peer.PeerStream && f.NextOutboundSeq - 1 != peer.HighestAppliedInbound)
                {
                    return $"{f.LocalKernel}->{f.RemoteKernel} sent up to {f.NextOutboundSeq - 1}, applied up to {peer.HighestAppliedInbound}";
                }
            }

            settled = (figures, ledgers);
            return null;
        });
        Assert.All(settled.Figures, f => Assert.Equal(0L, f.RejectedOps));
        Log($"settled {when}: {settled.Figures.Sum(f => f.NextOutboundSeq - 1)} batches in all, {settled.Figures.Sum(f => f.DuplicateBatches)} duplicates ignored since the handles' activation");
        return settled;
    }

    /// <summary>Every export's holds, read from its grain (and so from PostgreSQL), equal the model's.</summary>
    private async Task AssertCountsMatchModelAsync(string[] kernels, string when)
    {
        var mismatches = new List<string>();
        foreach (var k in kernels)
        {
            foreach (var chunk in _objects[k].Chunk(50))
            {
                var snapshots = await Task.WhenAll(chunk.Select(o => Grains.GetGrain<IExportGrain>(DgcIds.ExportKey(k, o)).GetSnapshotAsync()));
                foreach (var s in snapshots)
                {
                    var expected = _model.Holds(k, s.Kref);
                    if (!expected.OrderBy(e => e.Key, StringComparer.Ordinal).SequenceEqual(s.CountsByRemote.OrderBy(e => e.Key, StringComparer.Ordinal)))
                    {
                        mismatches.Add($"{k}/{s.Kref}: expected {Show(expected)}, stored {Show(s.CountsByRemote)}");
                    }
                }
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} export counts differ from the model {when}: {string.Join("; ", mismatches.Take(10))}");
    }

    private static string Show(IReadOnlyDictionary<string, long> holds) =>
        "{" + string.Join(", ", holds.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => $"{h.Key}: {h.Value}")) + "}";

    private async Task<long> QueuedOpsAsync(string[] kernels) =>
        (await Task.WhenAll(kernels.Select(k => Manager(k).GetRemoteFiguresAsync())))
            .SelectMany(f => f).Sum(f => (long)f.QueuedOps);

    private Task<KernelLedger[]> LedgersAsync(IEnumerable<string> kernels) => Task.WhenAll(kernels.Select(k => Kernel(k).GetLedgerAsync()));

    /// <summary>Per silo port, the activations of remote handles, exports and kernels.</summary>
    private async Task<Dictionary<int, Hosted>> DgcActivationsBySiloAsync()
    {
        var stats = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats
            .GroupBy(s => s.SiloAddress.Endpoint.Port)
            .ToDictionary(g => g.Key, g => new Hosted(
                g.Count(s => s.GrainType.Contains(nameof(RemoteHandleGrain), StringComparison.Ordinal)),
                g.Count(s => s.GrainType.Contains(nameof(ExportGrain), StringComparison.Ordinal)),
                g.Count(s => s.GrainType.Contains(nameof(ReferenceKernel.ReferenceKernelGrain), StringComparison.Ordinal))));
    }

    private readonly record struct Hosted(int Handles, int Exports, int Kernels) : IComparable<Hosted>
    {
        public int CompareTo(Hosted other) => (Handles, Exports).CompareTo((other.Handles, other.Exports));

        public override string ToString() => $"{Handles} handles, {Exports} exports, {Kernels} kernels";
    }

    /// <summary>Polls <paramref name="condition"/> until it answers null (else it says what is missing); errors of a healing cluster count as "not yet", DGC refusals fail at once.</summary>
    private static async Task WaitForAsync(string what, Func<Task<string?>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        var last = "";
        while (true)
        {
            try
            {
                var notYet = await condition();
                if (notYet is null)
                {
                    return;
                }

                last = notYet;
            }
            catch (Exception e) when (e is not (DgcException or Xunit.Sdk.XunitException))
            {
                last = $"{e.GetType().Name}: {e.Message}";
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {Patience} waiting for {what}; last: {last}");
            }

            await Task.Delay(200);
        }
    }

    private void Log(string line) => output.WriteLine($"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {line}");

    /// <summary>The driver's model of every export's holds: times sent to a remote, zeroed by its drop, removed by its retire.</summary>
    private sealed class ExportModel
    {
        private readonly Dictionary<string, Dictionary<string, long>> _holds = new(StringComparer.Ordinal);

        public void Sent(string exporter, string to, string[] krefs)
        {
            lock (_holds)
            {
                foreach (var kref in krefs)
                {
                    var holds = Of($"{exporter}/{kref}");
                    holds[to] = holds.GetValueOrDefault(to) + 1;
                }
            }
        }

        /// <summary>A drop releases every receipt so far (all sends were delivered before any drop).</summary>
        public void Dropped(string label, string importer, bool retired)
        {
            lock (_holds)
            {
                var holds = Of(label);
                if (retired)
                {
                    holds.Remove(importer);
                }
                else
                {
                    holds[importer] = 0;
                }
            }
        }

        public Dictionary<string, long> Holds(string exporter, string kref)
        {
            lock (_holds)
            {
                return new Dictionary<string, long>(Of($"{exporter}/{kref}"), StringComparer.Ordinal);
            }
        }

        private Dictionary<string, long> Of(string label)
        {
            if (!_holds.TryGetValue(label, out var holds))
            {
                _holds[label] = holds = new Dictionary<string, long>(StringComparer.Ordinal);
            }

            return holds;
        }
    }
}
