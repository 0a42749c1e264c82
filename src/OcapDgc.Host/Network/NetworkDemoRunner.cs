using System.Diagnostics;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Storage;

namespace OcapDgc.Host.Network;

/// <summary>
/// The demo across two clusters: this host's first kernel and the first kernel of its first peer exchange
/// references in messages, send some back, drop and retire everything, and the DGC of each side reclaims
/// its exports. Every frame between the two goes over the network transport; the peer's kernel is driven
/// through that host's demo control (so this host must be in the peer's <c>Dgc:Network:DemoControl</c>),
/// and the summary line adds both kernels' ground truth and both hosts' remote premature-release checks.
/// </summary>
public sealed class NetworkDemoRunner(
    IGrainFactory grains,
    NetworkTransport transport,
    NetworkOptions options,
    PeerDirectory directory,
    PeerHttp http,
    RemoteGroundTruth groundTruth,
    NetworkCounters counters,
    DgcStorageTracker? storage,
    TextWriter output)
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs the demo on a started <paramref name="app"/>, prints its summary, and returns the exit code.</summary>
    public static async Task<int> RunAsync(WebApplication app, DemoOptions demo, bool keepRunning)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(demo);
        var s = app.Services;
        var runner = new NetworkDemoRunner(
            s.GetRequiredService<IGrainFactory>(),
            s.GetRequiredService<NetworkTransport>(),
            s.GetRequiredService<IOptions<NetworkOptions>>().Value,
            s.GetRequiredService<PeerDirectory>(),
            s.GetRequiredService<PeerHttp>(),
            s.GetRequiredService<RemoteGroundTruth>(),
            s.GetRequiredService<NetworkCounters>(),
            s.GetService<DgcStorageTracker>(),
            Console.Out);
        var (result, unverified) = await runner.RunAsync(demo.Refs, demo.MessageSize);
        var clean = result.Clean && unverified == 0;
        Console.WriteLine(clean
            ? "Every exported reference was reclaimed once nobody could use it; none was released while its holder could still use it."
            : "PROBLEM: some references leaked, were released while still held, or could not be checked (see the figures above).");
        Console.WriteLine(result.SummaryLine);
        if (keepRunning)
        {
            Console.WriteLine("Host still running (Ctrl+C to stop).");
            await app.WaitForShutdownAsync();
        }
        else
        {
            await app.StopAsync();
        }

        return clean ? 0 : 1;
    }

    /// <summary>Runs the workload, <paramref name="refs"/> distinct references in all; returns the result and the number of premature checks that could not be made.</summary>
    public async Task<(DemoResult Result, long Unverified)> RunAsync(int refs, int messageSize)
    {
        var me = options.Kernels.FirstOrDefault() ?? throw new InvalidOperationException($"{NetworkOptions.Section}:Kernels names no kernel for this host to run the demo with.");
        var peer = directory.Peers.FirstOrDefault(p => p.Address is not null && p.Kernels.Count > 0)
            ?? throw new InvalidOperationException($"{NetworkOptions.Section}:Peers has no peer with an address and kernels to run the demo with.");
        var them = options.Peers[peer.Name].Kernels[0];
        var remote = new DemoControlClient(http.For(peer));
        var clock = Stopwatch.StartNew();
        var local = grains.GetGrain<IReferenceKernelGrain>(me);
        await local.StartAsync();
        await remote.StartAsync(them);

        var mine = refs * 3 / 5;
        var theirs = refs - mine;
        output.WriteLine($"Two kernels in two clusters, {me} here and {them} at peer {peer.Name} ({peer.Address}), exchange {refs:N0} references in messages of {messageSize} over mutual TLS.");
        var objects = new List<string>(mine);
        while (objects.Count < mine)
        {
            objects.AddRange(await local.CreateObjectsAsync(Math.Min(RemoteManagerGrain.MaxAllocation, mine - objects.Count)));
        }

        var sent = 0;
        var lastTenth = -1;
        for (var offset = 0; offset < Math.Max(mine, theirs); offset += messageSize)
        {
            if (offset < mine)
            {
                var slice = objects.GetRange(offset, Math.Min(messageSize, mine - offset)).ToArray();
                await local.SendAsync(them, slice);
                sent += slice.Length;
            }

            if (offset < theirs)
            {
                sent += await remote.SendNewAsync(them, me, Math.Min(messageSize, theirs - offset));
            }

            var tenth = (int)(10L * sent / Math.Max(1, refs));
            if (tenth != lastTenth)
            {
                lastTenth = tenth;
                output.WriteLine($"  exchanged {sent:N0}/{refs:N0} refs ({100L * sent / Math.Max(1, refs)}%)");
            }
        }

        // Re-send a few already held references, and have the peer's kernel send some imports back (ro-N).
        await local.SendAsync(them, [.. objects.Where((_, i) => i % 97 == 0).Take(messageSize)]);
        await SettleAsync(me, remote);
        var back = await remote.SendBackAsync(them, me, messageSize);
        await SettleAsync(me, remote);
        var live = (await local.GetLedgerAsync()).ImportsHeld + (await remote.LedgerAsync(them)).ImportsHeld;
        output.WriteLine($"Exchanged in {clock.Elapsed.TotalSeconds:F1} s: {live:N0} imports held across the two clusters, {back} sent back to their exporter.");

        var dropClock = Stopwatch.StartNew();
        var dropped = await remote.DropAllAsync(them, me);
        dropped += await local.DropAllAsync(them, retire: true);
        await SettleAsync(me, remote);
        await groundTruth.WhenCheckedAsync(TimeSpan.FromMinutes(1));
        var theirStats = await WhenCheckedAsync(remote);
        output.WriteLine($"Dropped and retired {dropped:N0} imports; reclaimed in {dropClock.Elapsed.TotalSeconds:F1} s.");

        var a = await local.GetLedgerAsync();
        var b = await remote.LedgerAsync(them);
        var ours = groundTruth.Snapshot();
        // Read the handles themselves: a fully released handle has left its manager's list.
        RemoteFigures[] figures = [await grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(me, them)).GetFiguresAsync(), await remote.FiguresAsync(them, me)];
        var exportActivations = (await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics())
            .Where(x => x.GrainType.Contains(nameof(ExportGrain), StringComparison.Ordinal)).Sum(x => x.ActivationCount);
        var net = theirStats.Network;
        output.WriteLine($"Network: {counters.FramesDelivered:N0} frames delivered to {peer.Name} and {net["framesDelivered"]:N0} back, "
            + $"{counters.FramesFailed + counters.FramesRefusedByPeer + counters.FramesDroppedQueueFull + net["framesFailed"] + net["framesRefusedByPeer"] + net["framesDroppedQueueFull"]} not delivered; "
            + $"{figures.Sum(f => f.BatchesSent):N0} GC batches, {figures.Sum(f => f.PingsSent)} pings; rejected operations: {figures.Sum(f => f.RejectedOps)}.");
        var entries = storage is null ? "" : $"{storage.CountOf(DgcStateNames.Export)} export and {storage.CountOf(DgcStateNames.RemoteHandle)} remote-handle storage entries here, ";
        output.WriteLine($"Left behind: {entries}{exportActivations + theirStats.Activations[nameof(ExportGrain)]} ExportGrain activations and {figures.Sum(f => f.Exports + f.Imports)} c-list entries in the two clusters.");
        output.WriteLine($"Premature-release checks across the network: {ours.Checked + theirStats.GroundTruth.Checked} answered, {ours.Unverified + theirStats.GroundTruth.Unverified} could not be made.");
        output.WriteLine($"Total time {clock.Elapsed.TotalSeconds:F1} s.");

        var exported = (long)a.ExportedDistinct + b.ExportedDistinct;
        var reclaimed = (long)a.ExportsRetired + b.ExportsRetired;
        var held = (long)a.ImportsHeld + b.ImportsHeld;
        var premature = a.Premature + b.Premature + ours.Premature + theirStats.GroundTruth.Premature;
        var result = new DemoResult(exported, reclaimed, held, exported - reclaimed - held, premature, storage?.CountOf(DgcStateNames.Export) ?? 0, exportActivations)
        {
            Revoked = (long)a.ImportsRevoked + b.ImportsRevoked,
        };
        return (result, ours.Unverified + theirStats.GroundTruth.Unverified);
    }

    /// <summary>Both sides bring out their dead until every frame was processed and no handle on either side has work left.</summary>
    private async Task SettleAsync(string me, DemoControlClient remote)
    {
        for (var round = 0; round < 50; round++)
        {
            await grains.GetGrain<IRemoteManagerGrain>(me).BringOutYourDeadAsync();
            await transport.WhenIdleAsync(IdleTimeout);
            var busy = await remote.SettleStepAsync();
            await transport.WhenIdleAsync(IdleTimeout);
            busy |= (await grains.GetGrain<IRemoteManagerGrain>(me).GetRemoteFiguresAsync()).Any(f => f.QueuedOps > 0 || f.UnackedBatches > 0);
            if (!busy)
            {
                return;
            }
        }

        throw new TimeoutException("The two clusters did not settle after 50 rounds of bring-out-your-dead.");
    }

    private static async Task<HostStats> WhenCheckedAsync(DemoControlClient remote)
    {
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var stats = await remote.StatsAsync();
            if (stats.GroundTruth.Pending == 0 || DateTime.UtcNow > until)
            {
                return stats;
            }

            await Task.Delay(50);
        }
    }
}
