using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Hosting;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Cycle detection: three reference kernels build cycles of three (one object each, each referencing its import
/// of the previous member's object and held only through it), let go of them, and one kernel's collector traces
/// every cycle once. Reports the cycle frames per inter-kernel edge traced and the time from the first scan until
/// every member object is retired at its owner. Runs on its own silo, with traces started at once
/// (<c>Dgc:Cycles:SuspectAfter</c> zero) and enough concurrent traces to take all cycles in one scan.
/// </summary>
internal static class CycleBenchmark
{
    private const int Members = 3;

    /// <summary>The longest the benchmark waits for the traces and the reclamation.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    public sealed record Result(int Cycles, double FramesPerEdge, double ReclaimSeconds, int Reclaimed, int Mistakes, int Premature);

    public static async Task<Result> RunAsync(int cycles)
    {
        await using var silo = await BenchSilo.StartAsync(configure: s => s.Services.Configure<CycleOptions>(c =>
        {
            c.SuspectAfter = TimeSpan.Zero;
            c.MaxConcurrentTraces = Math.Min(1024, cycles);
            c.TraceTimeout = TimeSpan.FromSeconds(10);
        }));
        var names = Enumerable.Range(0, Members).Select(i => $"cyc{i}-{Guid.NewGuid().ToString("N")[..6]}").ToArray();
        var kernels = names.Select(n => silo.Grains.GetGrain<IReferenceKernelGrain>(n)).ToArray();
        foreach (var k in kernels)
        {
            await k.StartAsync();
            await k.EnableCyclesAsync();
        }

        Console.WriteLine($"[cycles] {cycles:N0} cycles of {Members} kernels, traced from {names[0]}");
        var objects = new string[Members][];
        for (var i = 0; i < Members; i++)
        {
            objects[i] = await kernels[i].CreateObjectsAsync(cycles);
            await kernels[i].SendAsync(names[(i + 1) % Members], objects[i]);
        }

        await SettleAsync(silo, names);
        for (var i = 0; i < Members; i++)
        {
            var previous = (i + Members - 1) % Members;
            var byLabel = (await kernels[i].GetImportLabelsAsync(names[previous])).ToDictionary(h => h.Value, h => h.Key, StringComparer.Ordinal);
            for (var c = 0; c < cycles; c++)
            {
                var import = byLabel[$"{names[previous]}/{objects[previous][c]}"];
                await kernels[i].LinkAsync(objects[i][c], [import]);
            }

            await kernels[i].DetachAsync([.. byLabel.Values]);
            await kernels[i].ReleaseLocalAsync(objects[i]);
        }

        var collectors = names.Select(n => silo.Grains.GetGrain<ICycleCollectorGrain>(n)).ToArray();
        var framesBefore = (await Task.WhenAll(collectors.Select(c => c.GetFiguresAsync()))).Sum(f => f.FramesSent);
        var clock = Stopwatch.StartNew();
        await collectors[0].ScanAsync();

        // The traces run on the frames and the collectors' one-way inputs: wait until none is active.
        var deadline = Stopwatch.StartNew();
        CycleFigures[] traced;
        while (true)
        {
            await SettleAsync(silo, names);
            traced = await Task.WhenAll(collectors.Select(c => c.GetFiguresAsync()));
            if (traced.All(f => f.ActiveTraces == 0) || deadline.Elapsed > Deadline)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        var frames = traced.Sum(f => f.FramesSent) - framesBefore;
        var reclaimed = 0;
        while (reclaimed < cycles && deadline.Elapsed < Deadline)
        {
            var before = reclaimed;
            foreach (var k in kernels)
            {
                await k.CollectGarbageAsync();
            }

            await SettleAsync(silo, names);
            var retired = await Task.WhenAll(Enumerable.Range(0, Members).Select(i => kernels[i].WhichRetiredAsync(objects[i])));
            var sets = retired.Select(r => r.ToHashSet(StringComparer.Ordinal)).ToArray();
            reclaimed = Enumerable.Range(0, cycles).Count(c => Enumerable.Range(0, Members).All(i => sets[i].Contains(objects[i][c])));
            if (reclaimed == before)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20));
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var ledgers = await Task.WhenAll(kernels.Select(k => k.GetLedgerAsync()));
        Console.WriteLine($"[cycles] {reclaimed:N0} of {cycles:N0} reclaimed in {seconds:F2} s; {frames:N0} cycle frames for {cycles * Members:N0} edges; garbage verdicts {traced.Sum(f => f.Garbage)}");
        return new Result(cycles, (double)frames / (cycles * Members), seconds, reclaimed, ledgers.Sum(l => l.CycleMistakes), ledgers.Sum(l => l.Premature));
    }

    // Verdicts arrive a few traces at a time (Dgc:Cycles bounds the traces running at once), and each verdict's
    // drops are more work to settle: a thousand cycles take more than the default 50 rounds.
    private static Task SettleAsync(BenchSilo silo, string[] names) => DgcQuiescence.SettleAsync(silo.Grains, silo.Transport, names, maxRounds: 2_000);
}
