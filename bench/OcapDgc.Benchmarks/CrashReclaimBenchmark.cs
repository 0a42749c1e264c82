using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Hosting;
using OcapDgc.Transport;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Item 5: how long after an importer crashes its holds are reclaimed, against the configured lease.
/// The crash is a partition of the importer from the exporter (both directions) after it imported:
/// from the exporter's side that is all a crash looks like. Measured only once leases exist.
/// </summary>
internal static class CrashReclaimBenchmark
{
    /// <summary>The lease options type; the figure is n/a while the Grains assembly has no such type.</summary>
    public const string LeaseOptionsTypeName = "OcapDgc.Hosting.LeaseOptions";

    public sealed record Result(double? CrashReclaimSeconds, double? LeaseSeconds, double? CheckPeriodSeconds, string? Note);

    /// <summary>The lease the benchmark silo enforces, and how often expired leases are looked for.</summary>
    public sealed record LeaseSettings(TimeSpan Lease, TimeSpan CheckPeriod);

    public static bool LeasesExist => typeof(ExportGrain).Assembly.GetType(LeaseOptionsTypeName) is not null;

    public static async Task<Result> RunAsync(int refs)
    {
        if (!LeasesExist)
        {
            return new Result(null, null, null, $"n/a (no leases yet): {LeaseOptionsTypeName} does not exist, so a crashed importer's holds are never reclaimed.");
        }

        LeaseSettings? lease = null;
        await using var silo = await BenchSilo.StartAsync(configure: s =>
        {
            s.UseDgcFaultInjection();
            lease = ConfigureLease(s);
        });
        if (lease is null)
        {
            return new Result(null, null, null, $"n/a (lease hook not wired): {LeaseOptionsTypeName} exists; set it up in CrashReclaimBenchmark.ConfigureLease.");
        }

        var work = new Workload(silo, 500);
        var kernels = await work.NewKernelsAsync("crash", 2);
        var (exporter, importer) = (kernels[0], kernels[1]);
        await work.ExchangeAsync(exporter, importer, await work.NewObjectsAsync(exporter, refs));
        await work.SettleAsync(exporter, importer);

        Console.WriteLine($"[5] {importer} holds {refs:N0} refs and crashes (partitioned from {exporter}); lease {lease.Lease.TotalSeconds:F0} s");
        silo.Services.GetRequiredService<FaultInjectingTransport>().Partition(exporter, importer);
        var clock = Stopwatch.StartNew();
        await silo.Probe.WaitAsync(exporter, KernelEvent.ExportsDropped, refs, (lease.Lease * 3) + lease.CheckPeriod + TimeSpan.FromSeconds(30));
        return new Result(clock.Elapsed.TotalSeconds, lease.Lease.TotalSeconds, lease.CheckPeriod.TotalSeconds, null);
    }

    // ======================================================================================
    // LEASES: the one method to wire up once OcapDgc.Hosting.LeaseOptions exists.
    // Configure a short lease on the benchmark silo (a few seconds, so the run stays short;
    // through AddDistributedGc's lease options or the Dgc:Lease configuration section) and
    // return the lease the silo will enforce and its check period (L2: reclaimed within
    // lease + one check period). Returning null reports the figures as n/a.
    // ======================================================================================
    private static LeaseSettings? ConfigureLease(ISiloBuilder silo)
    {
        _ = silo;
        return null;
    }
}
