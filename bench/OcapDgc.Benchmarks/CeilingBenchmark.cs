using System.Diagnostics;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Item 7: raw Orleans grain-call throughput on the same silo, the ceiling every other throughput is set
/// against, and how fast the silo activates fresh grains (what a first touch of many exports costs at least).
/// </summary>
internal static class CeilingBenchmark
{
    private const int Targets = 1_000;
    private const int ClientConcurrency = 256;
    private const int FanOut = 500;
    private const int FanOutCallers = 4;
    private const int ActivationWarmup = 2_000;

    /// <summary>Keys of activation grains handed out so far: every activation measured is of a key never used before.</summary>
    private static long _activationKeys;

    public static async Task RunAsync(BenchSilo silo, BenchReport report, TimeSpan window, int activations)
    {
        Console.WriteLine("[7] Orleans ceiling: empty grain calls on this silo");
        await ClientToGrainAsync(silo, window); // warm-up: activations, JIT
        var client = await ClientToGrainAsync(silo, window);
        await FanOutAsync(silo, window);
        var fanOut = await FanOutAsync(silo, window);
        var ceiling = Math.Max(client, fanOut);
        report.Add(new Figure("7", "orleans_call_ceiling_per_s", "Orleans ceiling: empty grain calls (best of the two below)", ceiling, "calls/s"));
        report.Add(new Figure("7", "orleans_client_calls_per_s", "  client to grain, 256 in flight over 1,000 grains", client, "calls/s"));
        report.Add(new Figure("7", "orleans_fanout_calls_per_s", "  grain to grain, 4 callers each fanning out to 500 grains", fanOut, "calls/s"));

        Console.WriteLine($"[7] Orleans activation ceiling: {activations:N0} fresh grains, one call each, {ClientConcurrency} in flight");
        await ActivateAsync(silo, ActivationWarmup); // warm-up: JIT, the grain type's first activation
        var perSecond = await ActivateAsync(silo, activations);
        report.Add(new Figure("7", "orleans_activation_ceiling_per_s", $"Orleans activation ceiling: {activations:N0} fresh grains (unique keys), one call each, {ClientConcurrency} in flight", perSecond, "activations/s"));

        // Deactivate them, so that the figures after this one start from a silo without them.
        var clock = Stopwatch.StartNew();
        await silo.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var left = await WaitForNoActivationsAsync(silo, TimeSpan.FromMinutes(2));
        Console.WriteLine($"[7] {perSecond:N0} activations/s; deactivated them in {clock.Elapsed.TotalSeconds:F1} s{(left > 0 ? $", {left:N0} still active" : "")}");
    }

    /// <summary>Activates <paramref name="count"/> grains of keys never used before, with one call each; returns activations per second.</summary>
    private static async Task<double> ActivateAsync(BenchSilo silo, int count)
    {
        var first = Interlocked.Add(ref _activationKeys, count) - count;
        var next = first - 1;
        var end = first + count;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Math.Min(ClientConcurrency, count)).Select(async _ =>
        {
            long key;
            while ((key = Interlocked.Increment(ref next)) < end)
            {
                await silo.Grains.GetGrain<IActivationGrain>(key).TouchAsync();
            }
        }).ToArray();
        await Task.WhenAll(workers);
        return count / clock.Elapsed.TotalSeconds;
    }

    private static async Task<int> WaitForNoActivationsAsync(BenchSilo silo, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        int n;
        while ((n = await ActivationsAsync(silo)) > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        return n;
    }

    private static async Task<int> ActivationsAsync(BenchSilo silo)
    {
        var stats = await silo.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return stats.Where(s => s.GrainType.Contains(nameof(ActivationGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    private static async Task<double> ClientToGrainAsync(BenchSilo silo, TimeSpan window)
    {
        var grains = Enumerable.Range(0, Targets).Select(i => silo.Grains.GetGrain<IPingGrain>(i)).ToArray();
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, ClientConcurrency).Select(async w =>
        {
            long calls = 0;
            var i = w;
            while (clock.Elapsed < window)
            {
                await grains[i % Targets].PingAsync();
                i += ClientConcurrency;
                calls++;
            }

            return calls;
        }).ToArray();
        var total = (await Task.WhenAll(workers)).Sum();
        return total / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> FanOutAsync(BenchSilo silo, TimeSpan window)
    {
        const int rounds = 10;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, FanOutCallers).Select(async w =>
        {
            var caller = silo.Grains.GetGrain<IPingGrain>(-1 - w);
            long calls = 0;
            while (clock.Elapsed < window)
            {
                await caller.FanOutAsync(10_000 + (w * FanOut), FanOut, rounds);
                calls += FanOut * rounds;
            }

            return calls;
        }).ToArray();
        var total = (await Task.WhenAll(workers)).Sum();
        return total / clock.Elapsed.TotalSeconds;
    }
}
