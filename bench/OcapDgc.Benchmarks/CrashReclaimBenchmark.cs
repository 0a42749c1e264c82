using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Hosting;
using OcapDgc.Transport;
using Orleans.Configuration;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Item 5: how long after an importer crashes its holds are reclaimed, against the configured lease.
/// The crash is a partition of the importer from the exporter (both directions) after it imported:
/// from the exporter's side that is all a crash looks like. It runs on its own silo, with the
/// fault-injecting transport and a short lease (<see cref="ConfigureLease"/>).
/// </summary>
internal static class CrashReclaimBenchmark
{
    public sealed record Result(double? CrashReclaimSeconds, double? LeaseSeconds, double? CheckPeriodSeconds, string? Note);

    /// <summary>The lease the benchmark silo enforces, and how often expired leases are looked for.</summary>
    public sealed record LeaseSettings(TimeSpan Duration, TimeSpan PingInterval, TimeSpan CheckPeriod);

    /// <summary>A short lease, so the run stays short: the chaos demo's values (the RMI comparison uses the same lease).</summary>
    public static LeaseSettings Lease { get; } = new(TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));

    public static async Task<Result> RunAsync(int refs)
    {
        LeaseSettings? lease = null;
        await using var silo = await BenchSilo.StartAsync(configure: s =>
        {
            s.UseDgcFaultInjection();
            lease = ConfigureLease(s);
        });
        if (lease is null)
        {
            return new Result(null, null, null, "n/a (no lease configured): see CrashReclaimBenchmark.ConfigureLease.");
        }

        var work = new Workload(silo, 500);
        var kernels = await work.NewKernelsAsync("crash", 2);
        var (exporter, importer) = (kernels[0], kernels[1]);
        await work.ExchangeAsync(exporter, importer, await work.NewObjectsAsync(exporter, refs));
        await work.SettleAsync(exporter, importer);

        Console.WriteLine($"[5] {importer} holds {refs:N0} refs and crashes (partitioned from {exporter}); lease {lease.Duration.TotalSeconds:F0} s, check every {lease.CheckPeriod.TotalSeconds:F0} s");
        silo.Services.GetRequiredService<FaultInjectingTransport>().Partition(exporter, importer);
        var clock = Stopwatch.StartNew();
        await silo.Probe.WaitAsync(exporter, KernelEvent.ExportsDropped, refs, (lease.Duration * 3) + lease.CheckPeriod + TimeSpan.FromSeconds(30));
        return new Result(clock.Elapsed.TotalSeconds, lease.Duration.TotalSeconds, lease.CheckPeriod.TotalSeconds, null);
    }

    /// <summary>
    /// Sets <see cref="Lease"/>. The lease reminder's period is the check period, so the silo's minimum
    /// reminder period is lowered to it.
    /// </summary>
    private static LeaseSettings ConfigureLease(ISiloBuilder silo)
    {
        var settings = Lease;
        silo.Services.Configure<LeaseOptions>(o =>
        {
            o.Duration = settings.Duration;
            o.PingInterval = settings.PingInterval;
            o.CheckPeriod = settings.CheckPeriod;
        });
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = settings.CheckPeriod);
        return settings;
    }
}
