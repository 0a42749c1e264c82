using System.Diagnostics;
using OcapDgc.Hosting;
using OcapDgc.Transport;

namespace OcapDgc.Host;

/// <summary>What the cycles part of the demo found.</summary>
/// <param name="Cycles">Cycles built.</param>
/// <param name="Reclaimed">Cycles every member object of which was retired at its owner.</param>
/// <param name="Verdicts">Imports the collectors found garbage.</param>
/// <param name="Mistakes">Verdicts for an import a local root reached (the kernels' ground truth; must be 0).</param>
/// <param name="Premature">Exports released while an importer still held them (must be 0).</param>
public sealed record CycleDemoResult(int Cycles, int Reclaimed, int Verdicts, int Mistakes, int Premature)
{
    /// <summary>True when every cycle was reclaimed and nothing was released early.</summary>
    public bool Clean => Reclaimed == Cycles && Mistakes == 0 && Premature == 0;
}

/// <summary>
/// The demo's cycles part (<c>--cycles</c>): three more reference kernels, carol, dave and erin, turn cycle
/// detection on and build cycles of two and three kernels (each member's object references its import of the
/// previous member's object, held only through it), then release their roots. Counts and leases alone never
/// reclaim these; the collectors' traces must, and nothing may be released while reachable.
/// </summary>
public sealed class CycleDemoRunner(IGrainFactory grains, InClusterTransport transport, TextWriter output)
{
    /// <summary>The longest the demo lets the collectors work before it reports what is left.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    private static readonly string[] Kernels = ["carol", "dave", "erin"];

    /// <summary>Builds <paramref name="count"/> cycles (alternately of two and three kernels), releases them, and lets the collectors reclaim them.</summary>
    public async Task<CycleDemoResult> RunAsync(int count, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var kernels = Kernels.Select(k => grains.GetGrain<IReferenceKernelGrain>(k)).ToArray();
        foreach (var k in kernels)
        {
            await k.StartAsync();
            await k.EnableCyclesAsync();
        }

        output.WriteLine($"Cycles: {string.Join(", ", Kernels)} build {count} cycles of two and three kernels, then let go of them.");
        var cycles = new List<(int Kernel, string Obj)[]>(count);
        for (var c = 0; c < count; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var size = c % 2 == 0 ? 2 : 3;
            var members = Enumerable.Range(0, size).Select(i => (c + i) % Kernels.Length).ToArray();
            var objects = new (int Kernel, string Obj)[size];
            for (var i = 0; i < size; i++)
            {
                objects[i] = (members[i], (await kernels[members[i]].CreateObjectsAsync(1))[0]);
            }

            for (var i = 0; i < size; i++)
            {
                await kernels[members[i]].SendAsync(Kernels[members[(i + 1) % size]], [objects[i].Obj]);
            }

            cycles.Add(objects);
        }

        await SettleAsync();

        // Each member's object takes its import of the previous member's object and holds it only through that.
        var labels = new Dictionary<(int Kernel, string Remote), Dictionary<string, string>>();
        foreach (var objects in cycles)
        {
            for (var i = 0; i < objects.Length; i++)
            {
                var (kernel, obj) = objects[i];
                var previous = objects[(i + objects.Length - 1) % objects.Length];
                var remote = Kernels[previous.Kernel];
                if (!labels.TryGetValue((kernel, remote), out var byLabel))
                {
                    var held = await kernels[kernel].GetImportLabelsAsync(remote);
                    labels[(kernel, remote)] = byLabel = held.ToDictionary(h => h.Value, h => h.Key, StringComparer.Ordinal);
                }

                var import = byLabel[$"{remote}/{previous.Obj}"];
                await kernels[kernel].LinkAsync(obj, [import]);
                await kernels[kernel].DetachAsync([import]);
                await kernels[kernel].ReleaseLocalAsync([obj]);
            }
        }

        output.WriteLine($"Built in {clock.Elapsed.TotalSeconds:F1} s; every cycle is now garbage that only a trace can find.");
        var reclaimClock = Stopwatch.StartNew();
        var reclaimed = 0;
        // A trace whose reply was refused (the cycle was being taken apart by another trace) waits for
        // Dgc:Cycles:TraceTimeout and holds one of its kernel's MaxConcurrentTraces slots until then, so rounds
        // without progress wait a little real time, up to Deadline in all.
        while (reclaimed < count && reclaimClock.Elapsed < Deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var before = reclaimed;
            foreach (var k in Kernels)
            {
                await grains.GetGrain<ICycleCollectorGrain>(k).ScanAsync();
            }

            await SettleAsync();
            foreach (var k in kernels)
            {
                await k.CollectGarbageAsync();
            }

            await SettleAsync();
            reclaimed = await ReclaimedAsync(kernels, cycles);
            if (reclaimed == before)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }

        if (reclaimed < count)
        {
            // Name a few of the cycles left, member by member, for whoever investigates.
            var left = 0;
            foreach (var objects in cycles)
            {
                var retired = new List<string>();
                foreach (var (kernel, obj) in objects)
                {
                    retired.AddRange(await kernels[kernel].WhichRetiredAsync([obj]));
                }

                if (retired.Count < objects.Length && left++ < 3)
                {
                    for (var i = 0; i < objects.Length; i++)
                    {
                        var (kernel, obj) = objects[i];
                        var previous = objects[(i + objects.Length - 1) % objects.Length];
                        var held = (await kernels[kernel].GetImportLabelsAsync(Kernels[previous.Kernel])).Where(h => h.Value == $"{Kernels[previous.Kernel]}/{previous.Obj}").Select(h => h.Key).ToArray();
                        var reach = held.Length == 0 ? "none" : string.Join(", ", (await kernels[kernel].AnswerReachabilityAsync(held)).Imports.Select(r => $"{r.Kref} {r.Reach} [{string.Join(",", r.FromExports)}]"));
                        var isRetired = (await kernels[kernel].WhichRetiredAsync([obj])).Length > 0;
                        output.WriteLine($"  left: {Kernels[kernel]}/{obj} retired={isRetired}; its import of {Kernels[previous.Kernel]}/{previous.Obj}: {reach}");
                    }
                }
            }
        }

        var ledgers = await Task.WhenAll(kernels.Select(k => k.GetLedgerAsync()));
        var figures = await Task.WhenAll(Kernels.Select(k => grains.GetGrain<ICycleCollectorGrain>(k).GetFiguresAsync()));
        output.WriteLine($"Cycles reclaimed: {reclaimed} of {count} in {reclaimClock.Elapsed.TotalSeconds:F1} s; traces {figures.Sum(f => f.Started)} (garbage {figures.Sum(f => f.Garbage)}, live {figures.Sum(f => f.Live)}, gave up {figures.Sum(f => f.GaveUp)}, changed {figures.Sum(f => f.Changed)}), {figures.Sum(f => f.FramesSent)} cycle frames.");
        return new CycleDemoResult(count, reclaimed, ledgers.Sum(l => l.CycleVerdicts), ledgers.Sum(l => l.CycleMistakes), ledgers.Sum(l => l.Premature));
    }

    private static async Task<int> ReclaimedAsync(IReferenceKernelGrain[] kernels, List<(int Kernel, string Obj)[]> cycles)
    {
        var retired = new HashSet<(int, string)>();
        for (var k = 0; k < kernels.Length; k++)
        {
            var mine = cycles.SelectMany(c => c).Where(o => o.Kernel == k).Select(o => o.Obj).ToArray();
            foreach (var obj in await kernels[k].WhichRetiredAsync(mine))
            {
                retired.Add((k, obj));
            }
        }

        return cycles.Count(c => c.All(retired.Contains));
    }

    private Task SettleAsync() => DgcQuiescence.SettleAsync(grains, transport, Kernels);
}
