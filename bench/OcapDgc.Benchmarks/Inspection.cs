using System.Globalization;

namespace OcapDgc.Benchmarks;

/// <summary>
/// For profiling: with <c>OCAPDGC_BENCH_PAUSE=S</c> set, the harness waits S seconds at fixed points
/// (before the bulk drop, before and after the churn), so that <c>dotnet-gcdump collect -p PID</c> or
/// <c>dotnet-counters</c> can look at the process in a known state.
/// </summary>
internal static class Inspection
{
    public static async Task PauseAsync(string where)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("OCAPDGC_BENCH_PAUSE"), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            Console.WriteLine($"      pausing {seconds} s {where} (pid {Environment.ProcessId})");
            await Task.Delay(TimeSpan.FromSeconds(seconds));
        }
    }
}
