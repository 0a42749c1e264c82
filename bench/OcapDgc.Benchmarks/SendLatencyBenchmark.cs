using System.Diagnostics;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Item 9: how the latency of one <c>SendAsync</c> grows with the live refs of the pair it goes through.
/// One pair of kernels is grown to each size in turn (bulk <c>ExportRefsAsync</c> at a, <c>ImportRefsAsync</c>
/// at b, settled); at each size, messages of fresh refs are sent one at a time and each send's latency is
/// taken; each message's refs are dropped and retired again before the next, so the pair holds the size.
/// Then resident memory per live ref with the pair at rest, at the largest size.
/// </summary>
internal static class SendLatencyBenchmark
{
    /// <summary>Refs per bulk export and import call while the pair grows.</summary>
    private const int BuildChunk = 25_000;

    /// <summary>
    /// Untimed sends on the empty pair before anything is measured (JIT tiers, activations, the session). With 20, a run
    /// of this part alone timed the first size while the JIT was still compiling (1.3 to 2.2 ms instead of 0.6).
    /// </summary>
    private const int FirstWarmupSends = 100;

    /// <summary>Untimed sends before the timed ones at each size (a handle may have been reactivated).</summary>
    private const int WarmupSends = 3;

    public static async Task RunAsync(BenchOptions options, BenchReport report)
    {
        var sizes = options.SendRefs;
        var keys = sizes.Select(SendKey).Append(RatioKey(sizes)).Append(MemoryKey(sizes[^1])).ToList();
        try
        {
            await MeasureAsync(options, report);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or DgcException or OrleansException)
        {
            Console.WriteLine($"[9] FAILED: {e.GetType().Name}: {e.Message}");
            foreach (var key in keys)
            {
                report.FillMissing("9", key, key, "", $"n/a (failed): {e.GetType().Name}: {e.Message}");
            }
        }

        // The full run's keys, when other sizes were asked for.
        int[] full = [1_000, 100_000, 1_000_000];
        var why = $"n/a (not run): sizes {string.Join(',', sizes)}{(options.Quick ? " (--quick)" : "")}";
        foreach (var key in full.Select(SendKey).Append(RatioKey(full)).Append(MemoryKey(full[^1])))
        {
            report.FillMissing("9", key, key, "", why);
        }
    }

    /// <summary>The JSON key of the send latency at <paramref name="refs"/> live refs: send_ms_at_1k_refs, ..._100k_, ..._1m_.</summary>
    public static string SendKey(int refs) => $"send_ms_at_{SizeName(refs)}_refs";

    public static string RatioKey(IReadOnlyList<int> sizes) => $"send_latency_ratio_{SizeName(sizes[^1])}_vs_{SizeName(sizes[0])}";

    public static string MemoryKey(int refs) => $"bytes_per_live_ref_at_{SizeName(refs)}";

    /// <summary>1000 -> 1k, 100000 -> 100k, 1000000 -> 1m; other numbers as they are.</summary>
    public static string SizeName(int refs) =>
        refs % 1_000_000 == 0 ? $"{refs / 1_000_000}m" : refs % 1_000 == 0 ? $"{refs / 1_000}k" : $"{refs}";

    private static async Task MeasureAsync(BenchOptions options, BenchReport report)
    {
        var sizes = options.SendRefs;
        // No storage tracking: nothing here counts storage operations, and the tracker's set of rows (a million
        // entries at the largest size) would be timed with every send.
        await using var silo = await BenchSilo.StartAsync(trackStorage: false);
        var work = new Workload(silo, options.MessageSize);
        var kernels = await work.NewKernelsAsync("send", 2);
        var (a, b) = (kernels[0], kernels[1]);

        // The pair's session, activations and JIT before anything is measured; memory before any ref is held.
        await SendSamplesAsync(work, a, b, FirstWarmupSends);
        await work.WaitForExportDeactivationAsync();
        var empty = MemorySnapshot.Take();

        var live = 0;
        var medians = new List<double>();
        foreach (var size in sizes)
        {
            var clock = Stopwatch.StartNew();
            await GrowAsync(work, a, b, live, size);
            live = size;
            var built = clock.Elapsed;
            await CheckLiveAsync(work, a, b, live);
            await SendSamplesAsync(work, a, b, WarmupSends);
            var samples = await SendSamplesAsync(work, a, b, options.SendSamples);
            await CheckLiveAsync(work, a, b, live);
            var sorted = samples.Order().ToArray();
            var median = sorted[sorted.Length / 2];
            medians.Add(median);
            Console.WriteLine($"[9] {live:N0} live refs: grown in {built.TotalSeconds:F1} s; SendAsync({work.MessageSize} fresh refs) median {median:F1} ms over {samples.Count} (min {sorted[0]:F1}, max {sorted[^1]:F1}); measured in {(clock.Elapsed - built).TotalSeconds:F1} s");
            report.Add(new Figure("9", SendKey(size), $"SendAsync({work.MessageSize} fresh refs) with {size:N0} live refs in the pair, median of {samples.Count}", median, "ms", Note: $"min {sorted[0]:F1} ms, max {sorted[^1]:F1} ms; growing the pair to {size:N0} took {built.TotalSeconds:F1} s"));
        }

        report.Add(new Figure("9", RatioKey(sizes), $"  SendAsync latency at {sizes[^1]:N0} live refs / at {sizes[0]:N0}", medians[^1] / medians[0], "ratio", "<= 1.2", medians[^1] / medians[0] <= 1.2));

        // At rest: idle activations collected (an export to one remote activates none), the two handles still active.
        await work.CollectIdleActivationsAsync(TimeSpan.FromSeconds(1));
        var atRest = MemorySnapshot.Take();
        var exportActivations = await work.ExportActivationsAsync();
        var note = $"{exportActivations:N0} export activations left after the forced collection; resident {empty.ResidentBytes / 1048576.0:F0} MiB before the pair grew, {atRest.ResidentBytes / 1048576.0:F0} MiB after";
        var perRef = (double)(atRest.ResidentBytes - empty.ResidentBytes) / live;
        report.Add(new Figure("9", MemoryKey(live), $"resident bytes per live ref at rest, one pair holding {live:N0}", perRef, "bytes/ref", "<= 1,024", perRef <= 1024, Note: note));
        report.Add(new Figure("9", $"managed_{MemoryKey(live)}", "  managed heap bytes per live ref at rest", (double)(atRest.ManagedBytes - empty.ManagedBytes) / live, "bytes/ref"));
        Console.WriteLine($"[9] at rest with {live:N0} live refs: {(double)(atRest.ResidentBytes - empty.ResidentBytes) / live:F0} resident bytes per ref ({note})");
    }

    /// <summary>Grows the pair from <paramref name="from"/> to <paramref name="to"/> live refs: a exports, b imports, in bulk calls.</summary>
    private static async Task GrowAsync(Workload work, string a, string b, int from, int to)
    {
        var sender = work.Handle(a, b);
        var receiver = work.Handle(b, a);
        var clock = Stopwatch.StartNew();
        var reported = from;
        for (var done = from; done < to;)
        {
            var n = Math.Min(BuildChunk, to - done);
            var wire = await sender.ExportRefsAsync(await work.NewObjectsAsync(a, n));
            await receiver.ImportRefsAsync(wire);
            done += n;
            if (done - reported >= 100_000 || done == to)
            {
                // Idle activations go, as they would once idle: memory stays bounded.
                await work.SettleAsync(a, b);
                await work.Silo.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.FromSeconds(5));
                reported = done;
                Console.WriteLine($"      {done:N0} live refs, {clock.Elapsed.TotalSeconds:F0} s");
            }
        }
    }

    /// <summary>Fails unless a exports exactly <paramref name="live"/> refs to b and b imports them.</summary>
    private static async Task CheckLiveAsync(Workload work, string a, string b, int live)
    {
        var exports = (await work.Handle(a, b).GetFiguresAsync()).Exports;
        var imports = (await work.Handle(b, a).GetFiguresAsync()).Imports;
        if (exports != live || imports != live)
        {
            throw new InvalidOperationException($"the pair should hold {live:N0} live refs, but {a} exports {exports:N0} and {b} imports {imports:N0}.");
        }
    }

    /// <summary>
    /// <paramref name="count"/> times: a sends b one message of fresh refs, timed; once b has it, b drops
    /// and retires them and the pair settles (untimed). Returns each send's milliseconds.
    /// </summary>
    private static async Task<List<double>> SendSamplesAsync(Workload work, string a, string b, int count)
    {
        var sender = work.Handle(a, b);
        var probe = work.Silo.Probe;
        var ms = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var krefs = await work.NewObjectsAsync(a, work.MessageSize);
            var delivered = probe.Get(b, KernelEvent.Delivered);
            var started = Stopwatch.GetTimestamp();
            await sender.SendAsync("bench-send", "", krefs);
            ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            await work.WaitForAsync(b, KernelEvent.Delivered, delivered + krefs.Length);
            await work.ReleaseAllAsync(b, a, probe.TakeDelivered(b, a));
        }

        return ms;
    }
}
