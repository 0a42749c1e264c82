using OcapDgc.Hosting;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Items 1-3 (and 8 on PostgreSQL): kernel a exports N refs to kernel b, b drops them all in bulk, then
/// retires them. Measures export+import and reclaim throughput, wire frames and storage operations per ref.
/// </summary>
internal static class ThroughputBenchmark
{
    /// <summary>What one pass measured.</summary>
    public sealed record Result(
        int Refs,
        double ExchangeSeconds,
        double ReclaimSeconds,
        double RetireSeconds,
        Counters Exchange,
        Counters Drop,
        Counters Retire,
        int ExportEntriesLeft,
        TimeSpan FirstExportLatency,
        TimeSpan LastExportLatency);

    public static async Task<Result> RunAsync(Workload work, int refs, string label, Func<Task>? afterExchange = null)
    {
        var silo = work.Silo;
        var kernels = await work.NewKernelsAsync("x", 2);
        var (a, b) = (kernels[0], kernels[1]);
        var krefs = await work.NewObjectsAsync(a, refs);

        // 1. Export + import: messages sent and delivered, until the addRef confirmations are applied at the exporter.
        Console.WriteLine($"[{label}] {a} sends {refs:N0} refs to {b} in messages of {work.MessageSize}");
        var c0 = silo.Read();
        var latencies = new List<TimeSpan>();
        var imports = await work.ExchangeAsync(a, b, krefs, latencies);
        await work.SettleAsync(a, b);
        var exchange = silo.Read() - c0;
        if (afterExchange is not null)
        {
            await afterExchange();
        }

        // 2. Bulk drop: from the first DropImportsAsync until a's kernel has heard every export dropped.
        // The importer's flush timer and size bound send the drops, as in production: no BOYD here.
        await Inspection.PauseAsync("before the bulk drop");
        Console.WriteLine($"[{label}] {b} drops all {refs:N0} imports at once");
        var droppedBefore = silo.Probe.Get(a, KernelEvent.ExportsDropped);
        var c1 = silo.Read();
        await work.DropAsync(b, a, imports);
        await work.WaitForAsync(a, KernelEvent.ExportsDropped, droppedBefore + refs);
        var reclaimSeconds = (silo.Read() - c1).Span.TotalSeconds;
        await silo.Transport.WhenIdleAsync(TimeSpan.FromMinutes(1)); // the last acknowledgement
        var drop = silo.Read() - c1;

        // Then retire: until a's kernel has heard every export retired (storage cleared).
        var retiredBefore = silo.Probe.Get(a, KernelEvent.ExportsRetired);
        var c2 = silo.Read();
        await work.RetireAsync(b, a, imports);
        await work.WaitForAsync(a, KernelEvent.ExportsRetired, retiredBefore + refs);
        var retireSeconds = (silo.Read() - c2).Span.TotalSeconds;
        await silo.Transport.WhenIdleAsync(TimeSpan.FromMinutes(1));
        var retire = silo.Read() - c2;
        await work.SettleAsync(a, b);

        var left = silo.TrackedStorage.CountOf(DgcStateNames.Export);
        Console.WriteLine($"[{label}] exchange {exchange.Span.TotalSeconds:F2} s, drop->dropped {reclaimSeconds:F2} s, retire->retired {retireSeconds:F2} s; export entries left {left}");
        // SendAsync latency of the first and last tenth of the messages: how a call's cost grows with the c-list.
        var tenth = Math.Max(1, latencies.Count / 10);
        var first = TimeSpan.FromTicks((long)latencies.Take(tenth).Average(l => l.Ticks));
        var last = TimeSpan.FromTicks((long)latencies.TakeLast(tenth).Average(l => l.Ticks));
        return new Result(refs, exchange.Span.TotalSeconds, reclaimSeconds, retireSeconds, exchange, drop, retire, left, first, last);
    }
}
