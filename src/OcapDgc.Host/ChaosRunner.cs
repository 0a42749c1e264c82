using System.Diagnostics;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;

namespace OcapDgc.Host;

/// <summary>
/// The main job under chaos: four reference kernels exchange references while the transport loses,
/// duplicates and reorders frames at random; carol is cut off for longer than the lease and dave
/// crashes (and later restarts as a new incarnation). Then the faults stop, everyone drops everything,
/// and the run waits until every export is reclaimed. Nothing may leak, and nothing may be released
/// while its holder could still use it; imports the exporter had to let go are revoked and counted.
/// </summary>
public sealed class ChaosRunner(
    IGrainFactory grains,
    InClusterTransport transport,
    FaultInjectingTransport faults,
    DgcStorageTracker storage,
    LeaseOptions lease,
    TextWriter output)
{
    private const string Alice = "alice";
    private const string Bob = "bob";
    private const string Carol = "carol";
    private const string Dave = "dave";
    private static readonly string[] Everyone = [Alice, Bob, Carol, Dave];

    /// <summary>Runs the chaos workload with <paramref name="refs"/> distinct references.</summary>
    public async Task<DemoResult> RunAsync(int refs, ChaosOptions chaos, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chaos);
        var messageSize = chaos.MessageSize;
        var clock = Stopwatch.StartNew();
        foreach (var k in Everyone)
        {
            await Kernel(k).StartAsync();
        }

        output.WriteLine($"Chaos (seed {chaos.Seed}): {chaos.DropRate:P0} of frames lost, {chaos.DuplicateRate:P0} duplicated, {chaos.HoldRate:P0} reordered; lease {lease.Duration.TotalSeconds:F0} s, ping every {lease.PingInterval.TotalSeconds:F0} s, check every {lease.CheckPeriod.TotalSeconds:F0} s.");
        faults.Chaos = new ChaosSettings(chaos.Seed, chaos.DropRate, chaos.DuplicateRate, chaos.HoldRate);

        var aliceToBob = await Kernel(Alice).CreateObjectsAsync(refs * 6 / 10);
        var bobToAlice = await Kernel(Bob).CreateObjectsAsync(refs * 2 / 10);
        var aliceToCarol = await Kernel(Alice).CreateObjectsAsync(refs / 10);
        var aliceToDave = await Kernel(Alice).CreateObjectsAsync(refs - aliceToBob.Length - bobToAlice.Length - aliceToCarol.Length);
        await SendAllAsync(Alice, Bob, aliceToBob, messageSize, cancellationToken);
        await SendAllAsync(Bob, Alice, bobToAlice, messageSize, cancellationToken);
        await SendAllAsync(Alice, Carol, aliceToCarol, messageSize, cancellationToken);
        await SendAllAsync(Alice, Dave, aliceToDave, messageSize, cancellationToken);
        output.WriteLine($"Exchanged {refs:N0} references under chaos in {clock.Elapsed.TotalSeconds:F1} s; {faults.Dropped:N0} frames lost, {faults.Duplicated:N0} duplicated, {faults.Delayed:N0} reordered so far.");

        // Carol is cut off and dave crashes; bob keeps working (and drops half of what it holds).
        faults.Partition(Alice, Carol);
        faults.Partition(Alice, Dave);
        var cut = Stopwatch.StartNew();
        var bobHeld = await Kernel(Bob).GetHeldImportsAsync(Alice);
        await Kernel(Bob).DropAsync(Alice, [.. bobHeld.Take(bobHeld.Length / 2)], retire: true);
        var bound = lease.Duration + lease.CheckPeriod;
        await WaitUntilAsync(
            async () => (await Handle(Alice, Carol).GetFiguresAsync()).LeaseExpiries > 0 && (await Handle(Alice, Dave).GetFiguresAsync()).LeaseExpiries > 0,
            bound * 3,
            "alice to release carol's and dave's holds");
        output.WriteLine($"Partition of carol and crash of dave: alice released their holds {cut.Elapsed.TotalSeconds:F1} s after contact was lost (lease + one check = {bound.TotalSeconds:F0} s).");
        var carolHeld = (await Kernel(Carol).GetLedgerAsync()).ImportsHeld;
        await Kernel(Dave).RestartAsync();
        faults.Heal(Alice, Carol);
        faults.Heal(Alice, Dave);
        if (carolHeld > 0)
        {
            await WaitUntilAsync(async () => (await Kernel(Carol).GetLedgerAsync()).ImportsRevoked >= carolHeld, bound * 3, "carol to hear that its imports were revoked");
            output.WriteLine($"After the heal, carol's next ping learned alice's new session: its {carolHeld:N0} imports were revoked, and any use of them is refused.");
        }

        // The weather clears: held frames arrive late and out of order, then everyone lets go of everything.
        faults.Chaos = null;
        foreach (var from in Everyone)
        {
            foreach (var to in Everyone.Where(t => t != from))
            {
                await faults.ReleaseHeldAsync(from, to, reverse: true);
            }
        }

        var calm = Stopwatch.StartNew();
        await WaitUntilAsync(AllReclaimedAsync, bound * 4, "every export to be reclaimed");
        output.WriteLine($"After the faults stopped, everything was dropped and reclaimed in {calm.Elapsed.TotalSeconds:F1} s (lost in-flight refs are reclaimed by reconciliation or the lease).");

        var ledgers = await Task.WhenAll(Everyone.Select(k => Kernel(k).GetLedgerAsync()));
        var exported = ledgers.Sum(l => (long)l.ExportedDistinct);
        var reclaimed = ledgers.Sum(l => (long)l.ExportsRetired);
        var held = ledgers.Sum(l => (long)l.ImportsHeld);
        var revoked = ledgers.Sum(l => (long)l.ImportsRevoked);
        output.WriteLine($"Wire: {transport.FramesSent:N0} frames; {faults.Dropped:N0} lost, {faults.Duplicated:N0} duplicated, {faults.Delayed:N0} reordered. Imports revoked: {revoked:N0}.");
        output.WriteLine($"Left behind: {storage.CountOf(DgcStateNames.Export)} export and {storage.CountOf(DgcStateNames.RemoteHandle)} remote-handle storage entries.");
        output.WriteLine($"Total time {clock.Elapsed.TotalSeconds:F1} s.");
        return new DemoResult(exported, reclaimed, held, exported - reclaimed - held, ledgers.Sum(l => (long)l.Premature), storage.CountOf(DgcStateNames.Export), 0) { Revoked = revoked };
    }

    private async Task<bool> AllReclaimedAsync()
    {
        // Each round lets go of whatever is still held (revoked imports included) and runs BOYD.
        foreach (var k in Everyone)
        {
            foreach (var other in Everyone.Where(o => o != k))
            {
                await Kernel(k).DropAllAsync(other, retire: true);
            }
        }

        try
        {
            await DgcQuiescence.SettleAsync(grains, transport, Everyone, maxRounds: 5);
        }
        catch (TimeoutException)
        {
            return false;
        }

        var ledgers = await Task.WhenAll(Everyone.Select(k => Kernel(k).GetLedgerAsync()));
        return ledgers.All(l => l.ImportsHeld == 0 && l.ExportedNotRetired.Length == 0) && storage.CountOf(DgcStateNames.RemoteHandle) == 0;
    }

    private async Task SendAllAsync(string from, string to, string[] objects, int messageSize, CancellationToken cancellationToken)
    {
        foreach (var chunk in objects.Chunk(messageSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Kernel(from).SendAsync(to, chunk);
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"Gave up waiting for {what} after {timeout.TotalSeconds:F0} s.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }
    }

    private IReferenceKernelGrain Kernel(string id) => grains.GetGrain<IReferenceKernelGrain>(id);

    private IRemoteHandleGrain Handle(string local, string remote) => grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(local, remote));
}
