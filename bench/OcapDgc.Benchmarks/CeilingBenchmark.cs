using System.Diagnostics;

namespace OcapDgc.Benchmarks;

/// <summary>Item 7: raw Orleans grain-call throughput on the same silo, the ceiling every other throughput is set against.</summary>
internal static class CeilingBenchmark
{
    private const int Targets = 1_000;
    private const int ClientConcurrency = 256;
    private const int FanOut = 500;
    private const int FanOutCallers = 4;

    public static async Task RunAsync(BenchSilo silo, BenchReport report, TimeSpan window)
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
