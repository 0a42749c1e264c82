using System.Diagnostics;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;

namespace OcapDgc.Host;

/// <summary>What the demo measured, from the kernels' own ground truth.</summary>
public sealed record DemoResult(long Exported, long Reclaimed, long Live, long Leaked, long Premature, int ExportStorageEntries, int ExportActivations)
{
    /// <summary>Imports the DGC revoked (their exporter lost the lease, reconciled, or restarted).</summary>
    public long Revoked { get; init; }

    /// <summary>The summary line, in the form the README documents.</summary>
    public string SummaryLine => $"demo: exported={Exported} reclaimed={Reclaimed} live={Live} leaked={Leaked} premature={Premature} revoked={Revoked}";

    /// <summary>True when everything exported was reclaimed, nothing leaked and nothing was released early.</summary>
    public bool Clean => Reclaimed == Exported && Leaked == 0 && Premature == 0 && Live == 0;
}

/// <summary>
/// The main job: two reference kernels, alice and bob, exchange references in messages (re-sending
/// some and sending some back), then drop and retire everything, and the DGC reclaims it all.
/// </summary>
public sealed class DemoRunner(IGrainFactory grains, InClusterTransport transport, DgcStorageTracker storage, TextWriter output)
{
    private const string Alice = "alice";
    private const string Bob = "bob";

    /// <summary>Runs the workload; <paramref name="refs"/> distinct references in all.</summary>
    public async Task<DemoResult> RunAsync(int refs, int messageSize, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var alice = grains.GetGrain<IReferenceKernelGrain>(Alice);
        var bob = grains.GetGrain<IReferenceKernelGrain>(Bob);
        await alice.StartAsync();
        await bob.StartAsync();

        var aliceRefs = refs * 3 / 5;
        var bobRefs = refs - aliceRefs;
        output.WriteLine($"Two kernels, {Alice} and {Bob}, exchange {refs:N0} references in messages of {messageSize}.");
        var aliceObjects = await CreateAsync(alice, aliceRefs);
        var bobObjects = await CreateAsync(bob, bobRefs);

        var sent = 0;
        var progress = new Progress(output, refs);
        var messages = Math.Max(aliceObjects.Length, bobObjects.Length);
        for (var offset = 0; offset < messages; offset += messageSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            sent += await SendSliceAsync(alice, Bob, aliceObjects, offset, messageSize);
            sent += await SendSliceAsync(bob, Alice, bobObjects, offset, messageSize);
            progress.Report("exchanged", sent);
        }

        progress.Done();

        // Re-send a few already held references and send a few imports back to their exporter (ro-N).
        var resend = aliceObjects.Where((_, i) => i % 97 == 0).Take(messageSize).ToArray();
        await alice.SendAsync(Bob, resend);
        await SettleAsync();
        var bobHeld = await bob.GetHeldImportsAsync(Alice);
        await bob.SendAsync(Alice, [.. bobHeld.Take(Math.Min(messageSize, bobHeld.Length))]);
        await SettleAsync();

        var live = await LiveImportsAsync(alice, bob);
        output.WriteLine($"Exchanged in {clock.Elapsed.TotalSeconds:F1} s: {live:N0} imports held, {storage.CountOf(DgcStateNames.Export):N0} export entries in storage.");

        var dropClock = Stopwatch.StartNew();
        var toReclaim = await ExportedAsync(alice, bob);
        var reclaimedBefore = await RetiredAsync(alice, bob);
        using var stopWatching = new CancellationTokenSource();
        var reclaimProgress = new Progress(output, toReclaim - reclaimedBefore);
        var watching = WatchReclaimAsync(alice, bob, reclaimedBefore, reclaimProgress, stopWatching.Token);
        var droppedByBob = await bob.DropAllAsync(Alice, retire: true);
        var droppedByAlice = await alice.DropAllAsync(Bob, retire: true);
        await SettleAsync();
        await stopWatching.CancelAsync();
        await watching;
        reclaimProgress.Report("reclaimed", (int)(await RetiredAsync(alice, bob) - reclaimedBefore));
        reclaimProgress.Done();
        output.WriteLine($"Dropped and retired {droppedByBob + droppedByAlice:N0} imports; reclaimed in {dropClock.Elapsed.TotalSeconds:F1} s.");

        var a = await alice.GetLedgerAsync();
        var b = await bob.GetLedgerAsync();
        var exported = a.ExportedDistinct + b.ExportedDistinct;
        var reclaimed = a.ExportsRetired + b.ExportsRetired;
        var held = a.ImportsHeld + b.ImportsHeld;
        // Read the handles themselves: a fully released handle has left its manager's list.
        var figures = await Task.WhenAll(
            grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Alice, Bob)).GetFiguresAsync(),
            grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Bob, Alice)).GetFiguresAsync());
        var batches = figures.Sum(f => f.BatchesSent);
        var activations = await CountExportActivationsAsync();
        output.WriteLine($"Wire: {transport.FramesSent:N0} frames in all, {batches:N0} GC batches, {figures.Sum(f => f.PingsSent):N0} pings; rejected operations: {figures.Sum(f => f.RejectedOps)}.");
        output.WriteLine($"Left behind: {storage.CountOf(DgcStateNames.Export)} export and {storage.CountOf(DgcStateNames.RemoteHandle)} remote-handle storage entries, {activations} ExportGrain activations, {figures.Sum(f => f.Exports + f.Imports)} c-list entries.");
        output.WriteLine($"Total time {clock.Elapsed.TotalSeconds:F1} s.");
        return new DemoResult(exported, reclaimed, held, exported - reclaimed - held, a.Premature + b.Premature, storage.CountOf(DgcStateNames.Export), activations);
    }

    private async Task<int> CountExportActivationsAsync()
    {
        var stats = await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return stats.Where(s => s.GrainType.Contains(nameof(ExportGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    private static async Task<string[]> CreateAsync(IReferenceKernelGrain kernel, int count)
    {
        var all = new List<string>(count);
        while (all.Count < count)
        {
            all.AddRange(await kernel.CreateObjectsAsync(Math.Min(RemoteManagerGrain.MaxAllocation, count - all.Count)));
        }

        return [.. all];
    }

    private static async Task<int> SendSliceAsync(IReferenceKernelGrain from, string to, string[] objects, int offset, int size)
    {
        if (offset >= objects.Length)
        {
            return 0;
        }

        var slice = objects.AsSpan(offset, Math.Min(size, objects.Length - offset)).ToArray();
        await from.SendAsync(to, slice);
        return slice.Length;
    }

    private static async Task<int> ExportedAsync(IReferenceKernelGrain alice, IReferenceKernelGrain bob) =>
        (await alice.GetLedgerAsync()).ExportedDistinct + (await bob.GetLedgerAsync()).ExportedDistinct;

    private static async Task<int> RetiredAsync(IReferenceKernelGrain alice, IReferenceKernelGrain bob) =>
        (await alice.GetLedgerAsync()).ExportsRetired + (await bob.GetLedgerAsync()).ExportsRetired;

    /// <summary>Reports reclamation as the kernels hear of it (their ledgers are read-only, interleaving calls).</summary>
    private static async Task WatchReclaimAsync(IReferenceKernelGrain alice, IReferenceKernelGrain bob, int before, Progress progress, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                progress.Report("reclaimed", await RetiredAsync(alice, bob) - before);
                await Task.Delay(200, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The phase is over.
        }
    }

    private static async Task<long> LiveImportsAsync(IReferenceKernelGrain alice, IReferenceKernelGrain bob) =>
        (await alice.GetLedgerAsync()).ImportsHeld + (await bob.GetLedgerAsync()).ImportsHeld;

    private Task SettleAsync() => DgcQuiescence.SettleAsync(grains, transport, [Alice, Bob]);

    /// <summary>
    /// A progress bar for a long phase: redrawn in place on a terminal, one line per 10 % when the output is
    /// redirected (a log, a test), so neither fills up with redraws.
    /// </summary>
    private sealed class Progress(TextWriter output, int total)
    {
        private const int Width = 30;
        private readonly bool _inPlace = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        private int _lastPercent = -1;
        private bool _drawn;

        public void Report(string what, int done)
        {
            var percent = (int)Math.Clamp(100L * done / Math.Max(1, total), 0, 100);
            if (_inPlace ? percent == _lastPercent : percent / 10 == _lastPercent / 10)
            {
                return;
            }

            _lastPercent = percent;
            var filled = percent * Width / 100;
            var line = $"  [{new string('#', filled)}{new string('.', Width - filled)}] {what} {done:N0}/{total:N0} refs ({percent}%)";
            if (_inPlace)
            {
                output.Write('\r' + line);
                _drawn = true;
            }
            else
            {
                output.WriteLine(line);
            }
        }

        /// <summary>Ends the bar's line on a terminal.</summary>
        public void Done()
        {
            if (_drawn)
            {
                output.WriteLine();
                _drawn = false;
            }
        }
    }
}
