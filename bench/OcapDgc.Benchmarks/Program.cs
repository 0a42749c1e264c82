using System.Diagnostics;
using OcapDgc.Benchmarks;
using OcapDgc.Hosting;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

var root = FindRepositoryRoot();
var outDir = options.OutputDirectory ?? Path.Combine(root, "docs", "benchmarks");
var report = new BenchReport();
MachineInfo.Describe(report, options, root);
var total = Stopwatch.StartNew();
var phases = new PhaseTimer();
Console.WriteLine($"ocap-dgc benchmark ({report.Machine["run"]}, {report.Machine["build"]}) on {report.Machine["cores"]} cores, {report.Machine[".NET"]}");

if (options.Runs("core"))
{
    await using var silo = await BenchSilo.StartAsync();
    var work = new Workload(silo, options.MessageSize);

    await CeilingBenchmark.RunAsync(silo, report, options.CeilingWindow, options.Activations);
    var ceiling = report["orleans_call_ceiling_per_s"] ?? double.NaN;
    phases.Done("7 Orleans ceilings");

    // Items 1-3, repeated on fresh kernel pairs; each time is the median of the runs, so one burst of
    // load from elsewhere on the machine does not decide a figure. First untimed warm-up rounds of the same
    // size through the same path (the code the timed rounds run is then compiled as a silo that has been up a
    // while has it), as many as the Java RMI peer has before its timed rounds (item 10).
    for (var w = 0; w < options.Warmups; w++)
    {
        await ThroughputBenchmark.RunAsync(work, options.Refs, $"1-3 warm-up {w + 1}/{options.Warmups}");
    }

    var runs = new List<ThroughputBenchmark.Result>();
    for (var r = 0; r < options.Repeat; r++)
    {
        runs.Add(await ThroughputBenchmark.RunAsync(work, options.Refs, options.Repeat == 1 ? "1-3" : $"1-3 run {r + 1}/{options.Repeat}"));
    }

    var t = runs.OrderBy(x => x.ReclaimSeconds).ElementAt(runs.Count / 2);
    var n = (double)t.Refs;
    var exchangeSeconds = Median(runs.Select(x => x.ExchangeSeconds));
    var reclaimSeconds = t.ReclaimSeconds;
    var retireSeconds = Median(runs.Select(x => x.RetireSeconds));
    var spread = runs.Count == 1 ? null : $"median of {runs.Count} runs; range {n / runs.Max(x => x.ReclaimSeconds):N0}-{n / runs.Min(x => x.ReclaimSeconds):N0} refs/s";
    report.Add(new Figure("1", "export_import_refs_per_s", $"export+import through the kernel API, {t.Refs:N0} refs, a -> b", n / exchangeSeconds, "refs/s", ">= 30,000", n / exchangeSeconds >= 30_000, Note: runs.Count == 1 ? null : $"median of {runs.Count} runs after {options.Warmups} untimed; range {n / runs.Max(x => x.ExchangeSeconds):N0}-{n / runs.Min(x => x.ExchangeSeconds):N0} refs/s"));
    report.Add(new Figure("1", "export_import_ratio_to_ceiling", "  as a share of the Orleans ceiling", n / exchangeSeconds / ceiling, "ratio"));
    report.Add(new Figure("1", "grain_calls_per_exported_ref", "  grain calls per ref exported and imported", t.Exchange.GrainCalls / n, "calls/ref"));
    report.Add(new Figure("2", "reclaim_refs_per_s", $"bulk drop of {t.Refs:N0} refs -> export dropped", n / reclaimSeconds, "refs/s", ">= 25,000", n / reclaimSeconds >= 25_000, spread));
    report.Add(new Figure("2", "reclaim_seconds", $"  time to reclaim all {t.Refs:N0}", reclaimSeconds, "s"));
    report.Add(new Figure("2", "reclaim_ratio_to_ceiling", "  as a share of the Orleans ceiling", n / reclaimSeconds / ceiling, "ratio"));
    report.Add(new Figure("2", "retire_refs_per_s", "retire of the dropped refs -> export retired (storage cleared)", n / retireSeconds, "refs/s"));
    report.Add(new Figure("2", "retire_ratio_to_ceiling", "  as a share of the Orleans ceiling", n / retireSeconds / ceiling, "ratio"));
    report.Add(new Figure("3", "wire_messages_per_dropped_ref", "wire frames (both ways) per dropped ref", t.Drop.Frames / n, "frames/ref", "<= 0.01", t.Drop.Frames / n <= 0.01));
    report.Add(new Figure("3", "wire_messages_per_exported_ref", "wire frames per ref exported and imported (messages, addRef batches, acks)", t.Exchange.Frames / n, "frames/ref"));
    report.Add(new Figure("3", "storage_writes_per_exported_ref", "storage writes per ref exported and imported", t.Exchange.StorageChanges / n, "writes/ref"));
    report.Add(new Figure("3", "storage_writes_per_dropped_ref", "storage writes per dropped ref", t.Drop.StorageChanges / n, "writes/ref"));
    report.Add(new Figure("3", "storage_writes_per_retired_ref", "storage writes and clears per retired ref", t.Retire.StorageChanges / n, "writes/ref"));
    report.Add(new Figure("3", "storage_writes_per_ref_op", "storage writes per ref operation (export, import, drop, retire)", (t.Exchange.StorageChanges + t.Drop.StorageChanges + t.Retire.StorageChanges) / (4 * n), "writes/op"));
    report.Add(new Figure("3", "grain_calls_per_dropped_ref", "grain calls per dropped ref", t.Drop.GrainCalls / n, "calls/ref"));
    report.Add(new Figure("3", "storage_bytes_per_exported_ref", "storage bytes written per ref exported and imported", t.Exchange.StorageBytes / n, "bytes/ref", "<= 256", t.Exchange.StorageBytes / n <= 256));
    report.Add(new Figure("3", "storage_bytes_per_dropped_ref", "storage bytes written per dropped ref", t.Drop.StorageBytes / n, "bytes/ref"));
    report.Add(new Figure("1", "send_call_ms_first_tenth", $"  SendAsync({options.MessageSize} refs) latency, first tenth of the messages", t.FirstExportLatency.TotalMilliseconds, "ms"));
    report.Add(new Figure("1", "send_call_ms_last_tenth", $"  SendAsync({options.MessageSize} refs) latency, last tenth of the messages", t.LastExportLatency.TotalMilliseconds, "ms"));
    var probe = HandleStateProbe.Measure(silo.Services, t.Refs);
    report.Add(new Figure("3", "handle_state_bytes", $"one remote handle's state with {probe.Refs:N0} exports and {probe.Refs:N0} imports", probe.Bytes, "bytes"));
    report.Add(new Figure("3", "handle_state_serialize_ms", "  time to serialize it once (a snapshot; other writes store only what changed)", probe.SerializeTime.TotalMilliseconds, "ms"));
    report.Add(new Figure("3", "export_entries_left", "export storage entries left after retire", t.ExportEntriesLeft, "entries", "0", t.ExportEntriesLeft == 0));
    phases.Done("1-3 throughput");

    // Item 4, small: the same remotes holding few refs. Grains of earlier items are deactivated first,
    // so that only this scenario's handles run their timers.
    await work.CollectIdleActivationsAsync(TimeSpan.Zero);
    var small = await IdleAndMemoryBenchmark.HoldAsync(work, options.IdleRefsSmall, options.IdleRemotes);
    var idleSmall = await IdleAndMemoryBenchmark.WatchIdleAsync(work, small, options.IdleWindow);
    await IdleAndMemoryBenchmark.ReleaseAsync(work, small);

    // Items 4 and 6: the large holding, with memory taken before and after it is set up.
    await work.WaitForExportDeactivationAsync();
    await work.CollectIdleActivationsAsync(TimeSpan.Zero);
    var empty = MemorySnapshot.Take();
    var large = await IdleAndMemoryBenchmark.HoldAsync(work, options.IdleRefs, options.IdleRemotes);
    var held = MemorySnapshot.Take();
    var idleLarge = await IdleAndMemoryBenchmark.WatchIdleAsync(work, large, options.IdleWindow);

    // The same refs at rest: idle activations collected, as Orleans does once they were idle for its
    // collection age (15 minutes by default); what stays is storage and the handles' tables.
    await work.CollectIdleActivationsAsync(TimeSpan.FromSeconds(1));
    var atRest = MemorySnapshot.Take();
    var exportActivationsAtRest = await work.ExportActivationsAsync();
    await IdleAndMemoryBenchmark.ReleaseAsync(work, large);

    var largeLabel = $"{idleLarge.Refs:N0} refs";
    var smallLabel = $"{idleSmall.Refs:N0} refs";
    var independent = idleLarge.FramesPerMin <= (idleSmall.FramesPerMin * 1.1) + 1;
    report.Add(new Figure("4", "idle_wire_messages_per_min_1k_refs", $"idle wire frames per minute, {smallLabel} on {idleSmall.Remotes} remotes", idleSmall.FramesPerMin, "frames/min"));
    report.Add(new Figure("4", "idle_wire_messages_per_min_100k_refs", $"idle wire frames per minute, {largeLabel} on {idleLarge.Remotes} remotes", idleLarge.FramesPerMin, "frames/min", "independent of refs", independent));
    report.Add(new Figure("4", "idle_grain_calls_per_min_1k_refs", $"  idle grain calls per minute, {smallLabel}", idleSmall.GrainCallsPerMin, "calls/min", Note: $"by interface: {idleSmall.CallsByInterface}"));
    report.Add(new Figure("4", "idle_grain_calls_per_min_100k_refs", $"  idle grain calls per minute, {largeLabel}", idleLarge.GrainCallsPerMin, "calls/min", Note: $"by interface: {idleLarge.CallsByInterface}"));
    report.Add(new Figure("4", "idle_storage_writes_per_min_1k_refs", $"  idle storage writes per minute, {smallLabel}", idleSmall.StorageWritesPerMin, "writes/min"));
    report.Add(new Figure("4", "idle_storage_writes_per_min_100k_refs", $"  idle storage writes per minute, {largeLabel}", idleLarge.StorageWritesPerMin, "writes/min"));
    report.Add(new Figure("4", "idle_cpu_ms_per_min_1k_refs", $"  idle CPU time per minute, {smallLabel} (whole process)", idleSmall.CpuMsPerMin, "ms/min"));
    report.Add(new Figure("4", "idle_cpu_ms_per_min_100k_refs", $"  idle CPU time per minute, {largeLabel} (whole process)", idleLarge.CpuMsPerMin, "ms/min"));
    report.Add(new Figure("6", "bytes_per_live_ref", $"resident bytes per live ref ({largeLabel}, both kernels' sides)", (double)(held.ResidentBytes - empty.ResidentBytes) / idleLarge.Refs, "bytes/ref"));
    report.Add(new Figure("6", "managed_bytes_per_live_ref", "  managed heap bytes per live ref", (double)(held.ManagedBytes - empty.ManagedBytes) / idleLarge.Refs, "bytes/ref"));
    report.Add(new Figure("6", "bytes_per_live_ref_at_rest", "  resident bytes per live ref at rest (idle activations collected)", (double)(atRest.ResidentBytes - empty.ResidentBytes) / idleLarge.Refs, "bytes/ref", Note: $"{exportActivationsAtRest:N0} export activations left after the forced collection"));
    report.Add(new Figure("6", "managed_bytes_per_live_ref_at_rest", "  managed heap bytes per live ref at rest", (double)(atRest.ManagedBytes - empty.ManagedBytes) / idleLarge.Refs, "bytes/ref"));
    phases.Done("4, 6 idle and memory");

    var churn = await IdleAndMemoryBenchmark.ChurnAsync(work, options.ChurnRefs, options.ChurnRound);
    if (options.Quick)
    {
        report.Notes.Add($"--quick: fewer grains were addressed before the churn than Orleans' directory cache holds ({DgcSiloBuilderExtensions.DirectoryCacheSize:N0} entries, ~250 bytes each, bounded by AddDistributedGc), so part of the churn growth is that cache filling up; the full run starts the churn with it full.");
    }

    var growth = churn.After.ResidentBytes - churn.Before.ResidentBytes;
    var tolerance = Math.Max(16L << 20, churn.Before.ResidentBytes / 20);
    report.Add(new Figure("6", "rss_before_churn_bytes", "resident memory before churn (after warm-up)", churn.Before.ResidentBytes, "bytes"));
    report.Add(new Figure("6", "rss_after_churn_bytes", $"resident memory after churning {churn.Refs:N0} refs", churn.After.ResidentBytes, "bytes"));
    report.Add(new Figure("6", "rss_growth_after_1m_churn_bytes", $"  resident growth after churning {churn.Refs:N0} refs", growth, "bytes", "back to baseline (within max(16 MiB, 5%))", growth <= tolerance));
    report.Add(new Figure("6", "managed_growth_after_churn_bytes", "  managed heap growth after churn", churn.After.ManagedBytes - churn.Before.ManagedBytes, "bytes"));
    report.Add(new Figure("6", "rss_growth_second_half_of_churn_bytes", "  resident growth over the second half of the churn alone", churn.After.ResidentBytes - churn.Halfway.ResidentBytes, "bytes"));
    report.Add(new Figure("6", "managed_growth_second_half_of_churn_bytes", "  managed heap growth over the second half of the churn alone", churn.After.ManagedBytes - churn.Halfway.ManagedBytes, "bytes"));
    report.Add(new Figure("6", "churn_refs_per_s", "  churn rate (export, import, drop, retire, settle)", churn.Refs / churn.Seconds, "refs/s"));
    report.Add(new Figure("6", "leftover_after_churn", "  export activations + storage entries + c-list entries left", churn.ExportActivationsLeft + churn.ExportEntriesLeft + churn.ClistEntriesLeft, "entries", "0", churn.ExportActivationsLeft + churn.ExportEntriesLeft + churn.ClistEntriesLeft == 0));
    phases.Done("6 churn");
}

if (options.Runs("cycles"))
{
    // Cycle detection, on its own silo: frames per traced edge, and the time to reclaim the cycles. A failure
    // is reported as such (the figures stay null), not allowed to end the run.
    try
    {
        var cycles = await CycleBenchmark.RunAsync(1_000);
        var clean = cycles.Reclaimed == cycles.Cycles && cycles.Mistakes == 0 && cycles.Premature == 0;
        report.Add(new Figure("cycles", "cycle_detection_messages_per_edge", $"cycle frames (asks and replies, both rounds) per inter-kernel edge, {cycles.Cycles:N0} cycles of 3", cycles.FramesPerEdge, "frames/edge", "4 (two rounds of ask and reply)", Math.Abs(cycles.FramesPerEdge - 4) < 0.5));
        report.Add(new Figure("cycles", "cycle_reclaim_seconds", $"  first scan -> every member of {cycles.Cycles:N0} cycles retired", cycles.ReclaimSeconds, "s", "all reclaimed, none early", clean, $"{cycles.Reclaimed:N0} of {cycles.Cycles:N0} reclaimed; verdicts for a locally rooted import {cycles.Mistakes}; premature {cycles.Premature}"));
    }
    catch (Exception e) when (e is TimeoutException or OrleansException or InvalidOperationException)
    {
        Console.WriteLine($"[cycles] FAILED: {e.Message}");
        report.FillMissing("cycles", "cycle_detection_messages_per_edge", "cycle frames per inter-kernel edge", "frames/edge", $"n/a (failed): {e.Message}");
        report.FillMissing("cycles", "cycle_reclaim_seconds", "first scan -> every cycle member retired", "s", $"n/a (failed): {e.Message}");
    }

    phases.Done("cycles");
}

if (options.Runs("crash"))
{
    // Item 5, on its own silo (it partitions kernels).
    var crash = await CrashReclaimBenchmark.RunAsync(options.CrashRefs);
    var withinLease = crash is { CrashReclaimSeconds: { } c, LeaseSeconds: { } l } ? c <= 1.1 * l : (bool?)null;
    report.Add(new Figure("5", "crash_reclaim_seconds", "importer crash -> its holds reclaimed", crash.CrashReclaimSeconds, "s", "<= 1.1 x lease", withinLease, crash.Note));
    report.Add(new Figure("5", "lease_seconds", "  configured lease", crash.LeaseSeconds, "s", Note: crash.Note));
    report.Add(new Figure("5", "lease_check_period_seconds", "  configured lease check period", crash.CheckPeriodSeconds, "s", Note: crash.Note));
    report.Add(new Figure("5", "crash_reclaim_vs_lease", "  crash reclaim as a multiple of the lease", crash.CrashReclaimSeconds / crash.LeaseSeconds, "x lease"));
    phases.Done("5 crash reclaim");
}

if (options.Runs("send"))
{
    // Item 9, on its own silo: send latency as the pair's live refs grow.
    await SendLatencyBenchmark.RunAsync(options, report);
    phases.Done("9 send latency");
}

if (options.Runs("rmi"))
{
    // Item 10: Java RMI's DGC on loopback, and our figures against it (after items 1-3 and 5).
    await RmiBenchmark.RunAsync(options, root, report);
    phases.Done("10 Java RMI");
}

// Item 8: items 1-2 on PostgreSQL.
await PostgresBenchmark.RunAsync(options, root, report);
phases.Done("8 PostgreSQL");

foreach (var key in BenchReport.RequiredKeys)
{
    report.FillMissing("-", key, key, "", options.Only.Count > 0 ? options.NotRunReason : "n/a (not measured)");
}

report.Notes.Add("Timings come from a shared 2-core machine where other builds and tests may run at the same time; treat differences below about 20% as noise (see the load averages above).");
report.Notes.Add("No test asserts a timing; the targets are checked here only.");
report.Notes.Add($"Phase durations: {phases.Summary}.");
MachineInfo.Finish(report, total.Elapsed);

Console.WriteLine();
Console.Write(report.ToTable());
Directory.CreateDirectory(outDir);
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.json"), report.ToJson());
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.md"), report.ToMarkdown());
Console.WriteLine($"Wrote {Path.Combine(outDir, "latest.json")} and latest.md ({total.Elapsed.TotalSeconds:F0} s).");
return 0;

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static string FindRepositoryRoot()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }
    }

    throw new InvalidOperationException("Run the benchmark from inside the repository (no Orleans.sln found above the current folder).");
}
