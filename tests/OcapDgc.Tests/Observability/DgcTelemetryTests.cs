using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OcapDgc.Hosting;
using OcapDgc.Observability;
using OcapDgc.Transport;

namespace OcapDgc.Tests.Observability;

/// <summary>
/// The DGC's instruments, read the way a collector reads them: a <see cref="MeterListener"/> on the
/// <c>OcapDgc</c> meter and an <see cref="ActivityListener"/> on the <c>OcapDgc</c> source, and the host's
/// Prometheus scrape endpoint when it is turned on. Gauges carry the silo's name (<c>dgc.silo</c>), so the
/// sums checked here are this test's silo alone, whatever other tests run meanwhile.
/// </summary>
public sealed class DgcTelemetryTests
{
    [Fact]
    public async Task Gauges_histograms_and_spans_report_what_the_handles_hold_and_do()
    {
        var gauges = new ConcurrentDictionary<(string Name, string Silo), long>();
        var recorded = new ConcurrentBag<(string Name, double Value, string? Frame)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DgcMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (Tag(tags, "dgc.silo") is { } silo)
            {
                gauges[(instrument.Name, silo)] = value;
            }
            else
            {
                recorded.Add((instrument.Name, value, null));
            }
        });
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => recorded.Add((instrument.Name, value, Tag(tags, "dgc.frame"))));
        meters.Start();

        var spans = new ConcurrentBag<Activity>();
        using var tracing = new ActivityListener
        {
            ShouldListenTo = s => s.Name == DgcTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(tracing);

        await using var host = await ObservedHost.StartAsync(new Dictionary<string, string?> { ["Dgc:Telemetry:Prometheus"] = "true" });
        var silo = host.Services.GetRequiredService<DgcSiloStats>().Silo;
        await host.ShareSomeAsync(count: 20); // alice lends bob 20 objects (5 of them twice), bob lends alice 3

        meters.RecordObservableInstruments();
        Assert.Equal(23, gauges[("dgc.exports.held", silo)]);
        Assert.Equal(23, gauges[("dgc.imports.held", silo)]);
        Assert.Equal(0, gauges[("dgc.ops.queued", silo)]);
        Assert.Equal(0, gauges[("dgc.batches.unacknowledged", silo)]);
        Assert.Equal(0, gauges[("dgc.leases.lapsing", silo)]);

        // Histograms: batch sizes in operations, inbound frame handling times, lease ages at renewal.
        Assert.Contains(recorded, r => r.Name == "dgc.batch.sealed" && r.Value is >= 1 and <= 4096);
        Assert.Contains(recorded, r => r.Name == "dgc.frame.handled" && r.Frame == "dgc:batch" && r.Value > 0);
        Assert.Contains(recorded, r => r.Name == "dgc.lease.renewed" && r.Value >= 0);

        // Spans: the addRef batches were flushed by one side (on a flush tick or a bring-out-your-dead) and applied by the other.
        Assert.Contains(spans, s => s.OperationName is DgcTracing.BatchFlush or DgcTracing.BoydRun && (string?)s.GetTagItem("dgc.local") == "bob");
        Assert.Contains(spans, s => s.OperationName == DgcTracing.BatchApply && (string?)s.GetTagItem("dgc.local") == "alice"
            && (long?)s.GetTagItem("dgc.batches.applied") >= 1);

        // The same instruments, scraped the Prometheus way.
        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"{host.Url}/metrics"));
        Assert.Contains("dgc_exports_held", scrape, StringComparison.Ordinal);
        Assert.Contains("dgc_batch_sealed", scrape, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_remote_silent_for_more_than_half_the_lease_is_counted_as_lapsing()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
        await using var cluster = await SingleSilo.StartAsync(silo =>
        {
            silo.UseDgcInMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddDistributedGc(o => o.FlushInterval = TimeSpan.FromHours(1), l =>
            {
                l.Duration = TimeSpan.FromHours(2);
                l.PingInterval = TimeSpan.FromMinutes(30);
                l.CheckPeriod = TimeSpan.FromHours(1);
            });
            silo.UseDgcClock(clock);
        });
        var stats = cluster.Services().GetRequiredService<DgcSiloStats>();
        var grains = cluster.Client;
        var a = grains.GetGrain<IReferenceKernelGrain>("lapse-a");
        var b = grains.GetGrain<IReferenceKernelGrain>("lapse-b");
        await a.StartAsync();
        await b.StartAsync();
        await a.SendAsync("lapse-b", await a.CreateObjectsAsync(4));
        await DgcQuiescence.SettleAsync(grains, cluster.Services().GetRequiredService<InClusterTransport>(), ["lapse-a", "lapse-b"]);
        Assert.Equal((4, 4, 0L), (stats.Read().Exports, stats.Read().Imports, stats.Read().LapsingLeases));

        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(0, stats.Read().LapsingLeases);
        clock.Advance(TimeSpan.FromMinutes(2)); // 61 minutes without a word from lapse-b: past half of the 2-hour lease
        Assert.Equal(1, stats.Read().LapsingLeases);

        // The same figure from the grains: alice's table marks bob's lease as lapsing.
        var report = await new DgcInspector(grains).InspectKernelAsync("lapse-a");
        Assert.True(report.Remotes.Single().LeaseLapsing);
        Assert.Contains("LAPSING", DgcInspector.FormatKernel(report), StringComparison.Ordinal);
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var t in tags)
        {
            if (t.Key == key)
            {
                return t.Value as string;
            }
        }

        return null;
    }
}
