using OcapDgc.Hosting;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Items 4 and 6: the idle cost of live references held by several remotes, resident bytes per live
/// reference, and resident memory before and after churning many references.
/// </summary>
internal static class IdleAndMemoryBenchmark
{
    /// <summary>What one idle scenario cost per minute.</summary>
    public sealed record IdleResult(int Refs, int Remotes, double GrainCallsPerMin, double FramesPerMin, double StorageWritesPerMin, double CpuMsPerMin, string CallsByInterface);

    /// <summary>A hub kernel and the remotes holding its exports.</summary>
    public sealed record Holders(string Hub, string[] Remotes, string[][] Imports);

    /// <summary>One hub exports <paramref name="refs"/> refs, an equal share to each of <paramref name="remotes"/> remote kernels.</summary>
    public static async Task<Holders> HoldAsync(Workload work, int refs, int remotes)
    {
        var hub = (await work.NewKernelsAsync("hub", 1))[0];
        var ids = await work.NewKernelsAsync("holder", remotes);
        var imports = new string[remotes][];
        for (var r = 0; r < remotes; r++)
        {
            var share = (refs / remotes) + (r < refs % remotes ? 1 : 0);
            imports[r] = await work.ExchangeAsync(hub, ids[r], await work.NewObjectsAsync(hub, share));
        }

        await work.SettleAsync([hub, .. ids]);
        return new Holders(hub, ids, imports);
    }

    /// <summary>Watches the silo for <paramref name="window"/> while nothing happens but the DGC's own upkeep.</summary>
    public static async Task<IdleResult> WatchIdleAsync(Workload work, Holders holders, TimeSpan window)
    {
        var refs = holders.Imports.Sum(i => i.Length);
        Console.WriteLine($"[4] idle: {refs:N0} live refs held by {holders.Remotes.Length} remotes, watched for {window.TotalSeconds:F0} s");
        await Task.Delay(TimeSpan.FromSeconds(1)); // let the last timers and acknowledgements pass
        var byInterface0 = work.Silo.Calls.Snapshot();
        var c0 = work.Silo.Read();
        await Task.Delay(window);
        var d = work.Silo.Read() - c0;
        var byInterface = work.Silo.Calls.Snapshot();
        var perMin = 60 / d.Span.TotalSeconds;
        var breakdown = string.Join(", ", byInterface
            .Select(kv => (kv.Key, Calls: kv.Value - byInterface0.GetValueOrDefault(kv.Key)))
            .Where(x => x.Calls > 0)
            .OrderByDescending(x => x.Calls)
            .Select(x => $"{x.Key} {x.Calls * perMin:F0}/min"));
        return new IdleResult(refs, holders.Remotes.Length, d.GrainCalls * perMin, d.Frames * perMin, d.StorageChanges * perMin, d.Cpu.TotalMilliseconds * perMin, breakdown.Length == 0 ? "none" : breakdown);
    }

    /// <summary>Every holder drops and retires what it holds.</summary>
    public static async Task ReleaseAsync(Workload work, Holders holders)
    {
        for (var r = 0; r < holders.Remotes.Length; r++)
        {
            await work.ReleaseAllAsync(holders.Remotes[r], holders.Hub, holders.Imports[r]);
        }
    }

    /// <summary>What churning did to memory.</summary>
    public sealed record ChurnResult(int Refs, double Seconds, MemorySnapshot Before, MemorySnapshot Halfway, MemorySnapshot After, int ExportActivationsLeft, int ExportEntriesLeft, int ClistEntriesLeft);

    /// <summary>
    /// Exports, imports, drops and retires <paramref name="refs"/> references in rounds, between one pair of
    /// kernels, after a warm-up round; memory is taken after the warm-up and again at the end.
    /// </summary>
    public static async Task<ChurnResult> ChurnAsync(Workload work, int refs, int round)
    {
        var kernels = await work.NewKernelsAsync("churn", 2);
        var (a, b) = (kernels[0], kernels[1]);
        async Task RoundAsync(int n)
        {
            var imports = await work.ExchangeAsync(a, b, await work.NewObjectsAsync(a, n));
            await work.ReleaseAllAsync(b, a, imports);
        }

        await RoundAsync(round);
        await work.WaitForExportDeactivationAsync();
        var before = MemorySnapshot.Take();
        await Inspection.PauseAsync("before churn");
        Console.WriteLine($"[6] churn: {refs:N0} refs in rounds of {round:N0}; resident {before.ResidentBytes / 1048576.0:F1} MiB, managed {before.ManagedBytes / 1048576.0:F1} MiB before");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var halfway = before;
        var paused = TimeSpan.Zero;
        var rounds = (refs + round - 1) / round;
        for (var r = 0; r < rounds; r++)
        {
            await RoundAsync(Math.Min(round, refs - (r * round)));
            if (r == (rounds / 2) - 1)
            {
                // Memory halfway as well: growth that stops in the second half is a bound being reached, not a leak.
                var pause = System.Diagnostics.Stopwatch.StartNew();
                await work.WaitForExportDeactivationAsync();
                halfway = MemorySnapshot.Take();
                paused = pause.Elapsed;
            }

            if (r % 25 == 24)
            {
                Console.WriteLine($"      churned {Math.Min(refs, (r + 1) * round):N0} refs, {clock.Elapsed.TotalSeconds:F0} s");
            }
        }

        var seconds = (clock.Elapsed - paused).TotalSeconds;
        var activations = await work.WaitForExportDeactivationAsync();
        var after = MemorySnapshot.Take();
        await Inspection.PauseAsync("after churn");
        var figures = await work.Silo.Grains.GetGrain<IRemoteManagerGrain>(a).GetRemoteFiguresAsync();
        var figuresB = await work.Silo.Grains.GetGrain<IRemoteManagerGrain>(b).GetRemoteFiguresAsync();
        var clist = figures.Concat(figuresB).Sum(f => f.Exports + f.Imports);
        Console.WriteLine($"[6] churned in {seconds:F1} s; resident {after.ResidentBytes / 1048576.0:F1} MiB, managed {after.ManagedBytes / 1048576.0:F1} MiB after");
        return new ChurnResult(refs, seconds, before, halfway, after, activations, work.Silo.TrackedStorage.CountOf(DgcStateNames.Export), clist);
    }
}
