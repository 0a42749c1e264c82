using OcapDgc.Hosting;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Kernel-side steps the benchmarks are made of, through the kernel API only (IRemoteManagerGrain,
/// IRemoteHandleGrain), the way a kernel grain would call it.
/// </summary>
internal sealed class Workload(BenchSilo silo, int messageSize)
{
    /// <summary>Kernel API calls a sender keeps in flight towards the receiver (a kernel does not wait for its peer).</summary>
    public const int InFlight = 4;

    /// <summary>Drops and retires are issued in calls of this many krefs, as the reference kernel does.</summary>
    private const int DropChunk = 4096;

    private const string Method = "bench";

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    private static int _kernelCounter;

    public BenchSilo Silo => silo;

    public int MessageSize => messageSize;

    /// <summary>Fresh kernels, registered with the DGC; ids are unique within the run.</summary>
    public async Task<string[]> NewKernelsAsync(string prefix, int count)
    {
        var ids = new string[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = $"{prefix}{Interlocked.Increment(ref _kernelCounter)}";
            await silo.Grains.GetGrain<IBenchKernelGrain>(ids[i]).StartAsync();
        }

        return ids;
    }

    /// <summary>Allocates krefs for <paramref name="count"/> new objects of <paramref name="kernel"/>.</summary>
    public async Task<string[]> NewObjectsAsync(string kernel, int count)
    {
        var manager = silo.Grains.GetGrain<IRemoteManagerGrain>(kernel);
        var all = new List<string>(count);
        while (all.Count < count)
        {
            all.AddRange(await manager.AllocateKrefsAsync(Math.Min(RemoteManagerGrain.MaxAllocation, count - all.Count)));
        }

        return [.. all];
    }

    /// <summary>
    /// <paramref name="from"/> sends its objects to <paramref name="to"/> in application messages
    /// (<c>SendAsync</c>: each message's refs are translated and counted durably before it leaves); the
    /// receiving handle imports them and delivers the message to the kernel. The sender keeps a few
    /// messages in flight (it does not wait for its peer). Returns the receiver's krefs for the imports,
    /// once every message was delivered.
    /// </summary>
    public async Task<string[]> ExchangeAsync(string from, string to, string[] krefs, List<TimeSpan>? sendLatencies = null)
    {
        var sender = Handle(from, to);
        var delivered = silo.Probe.Get(to, KernelEvent.Delivered);
        var messages = (krefs.Length + messageSize - 1) / messageSize;
        var sent = 0;
        for (var m = 0; m < messages; m++)
        {
            // Bound what is in flight: at most InFlight messages sent but not yet delivered.
            await WaitForAsync(to, KernelEvent.Delivered, delivered + sent - ((InFlight - 1) * messageSize));
            var message = krefs[(m * messageSize)..Math.Min(krefs.Length, (m + 1) * messageSize)];
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await sender.SendAsync(Method, "", message);
            sendLatencies?.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            sent += message.Length;
        }

        await WaitForAsync(to, KernelEvent.Delivered, delivered + krefs.Length);
        return silo.Probe.TakeDelivered(to, from);
    }

    /// <summary><paramref name="importer"/> drops <paramref name="imports"/> (from <paramref name="exporter"/>); the flush timer sends them.</summary>
    public async Task DropAsync(string importer, string exporter, string[] imports)
    {
        var handle = Handle(importer, exporter);
        foreach (var chunk in imports.Chunk(DropChunk))
        {
            await handle.DropImportsAsync(chunk);
        }
    }

    /// <summary><paramref name="importer"/> retires dropped <paramref name="imports"/>.</summary>
    public async Task RetireAsync(string importer, string exporter, string[] imports)
    {
        var handle = Handle(importer, exporter);
        foreach (var chunk in imports.Chunk(DropChunk))
        {
            await handle.RetireImportsAsync(chunk);
        }
    }

    /// <summary>Waits until <paramref name="kernel"/> has heard <paramref name="total"/> of <paramref name="e"/> since the run began.</summary>
    public Task WaitForAsync(string kernel, KernelEvent e, long total) => silo.Probe.WaitAsync(kernel, e, total, Patience);

    /// <summary>BOYD until nothing is queued, unacknowledged or in flight.</summary>
    public Task SettleAsync(params string[] kernels) => DgcQuiescence.SettleAsync(silo.Grains, silo.Transport, kernels);

    /// <summary>Drops and retires everything <paramref name="importer"/> holds from <paramref name="exporter"/>, and waits until the exporter heard it retired.</summary>
    public async Task ReleaseAllAsync(string importer, string exporter, string[] imports)
    {
        var retiredBefore = silo.Probe.Get(exporter, KernelEvent.ExportsRetired);
        await DropAsync(importer, exporter, imports);
        await RetireAsync(importer, exporter, imports);
        await WaitForAsync(exporter, KernelEvent.ExportsRetired, retiredBefore + imports.Length);
        await SettleAsync(importer, exporter);
    }

    public async Task<int> ExportActivationsAsync()
    {
        var stats = await silo.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return stats.Where(s => s.GrainType.Contains(nameof(ExportGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    /// <summary>Waits (up to 30 s) until released exports have deactivated.</summary>
    public async Task<int> WaitForExportDeactivationAsync(int allowed = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int n;
        while ((n = await ExportActivationsAsync()) > allowed && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        return n;
    }

    /// <summary>
    /// Deactivates every grain idle for <paramref name="idleFor"/> (their state stays in storage), as the
    /// activation collector does after its collection age; storage partitions are kept alive.
    /// </summary>
    public async Task CollectIdleActivationsAsync(TimeSpan idleFor)
    {
        await silo.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(idleFor);
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // deactivations finish in the background
    }

    public IRemoteHandleGrain Handle(string local, string remote) =>
        silo.Grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(local, remote));
}
