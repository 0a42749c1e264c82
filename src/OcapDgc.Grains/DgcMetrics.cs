using System.Diagnostics.Metrics;
using OcapDgc.Observability;

namespace OcapDgc;

/// <summary>
/// The service's one meter, <c>OcapDgc</c>. Instruments are named <c>dgc.&lt;noun&gt;.&lt;verb&gt;</c>; every one is
/// listed, with its unit and meaning, in <c>docs/observability.md</c>.
/// </summary>
public static class DgcMetrics
{
    /// <summary>Meter name, for dotnet-counters and OpenTelemetry.</summary>
    public const string MeterName = "OcapDgc";

    private static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> RefsExported = Meter.CreateCounter<long>("dgc.refs.exported", "{ref}", "References counted out to a remote.");
    internal static readonly Counter<long> RefsImported = Meter.CreateCounter<long>("dgc.refs.imported", "{ref}", "Receipts of imported references.");
    internal static readonly Counter<long> BatchesSent = Meter.CreateCounter<long>("dgc.batches.sent", "{batch}", "GC batches sent, retransmissions included.");
    internal static readonly Counter<long> BatchesApplied = Meter.CreateCounter<long>("dgc.batches.applied", "{batch}", "Inbound GC batches applied.");
    internal static readonly Counter<long> OpsRejected = Meter.CreateCounter<long>("dgc.ops.rejected", "{op}", "Inbound or kernel operations refused.");
    internal static readonly Counter<long> ExportsDropped = Meter.CreateCounter<long>("dgc.exports.dropped", "{export}", "Exports no remote can reach.");
    internal static readonly Counter<long> LeasesExpired = Meter.CreateCounter<long>("dgc.leases.expired", "{lease}", "Remote sessions whose lease lapsed; their holds were released.");
    internal static readonly Counter<long> ImportsRevoked = Meter.CreateCounter<long>("dgc.imports.revoked", "{import}", "Imports revoked because the exporter's session changed.");
    internal static readonly Counter<long> ExportsRetired = Meter.CreateCounter<long>("dgc.exports.retired", "{export}", "Exports no remote can recognize; storage cleared.");

    /// <summary>Operations per GC batch sealed (a retransmission is not a new batch).</summary>
    internal static readonly Histogram<long> BatchSealed = Meter.CreateHistogram<long>("dgc.batch.sealed", "{op}", "Operations (addRef, dropRef, retire) per GC batch sealed.",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 5, 10, 50, 100, 500, 1000, 2000, 4096, 10_000] });

    /// <summary>How long the remote had been silent when it renewed its lease (only while it holds exports).</summary>
    internal static readonly Histogram<double> LeaseRenewed = Meter.CreateHistogram<double>("dgc.lease.renewed", "s", "Lease age when the remote renewed it (time since its previous renewal), for remotes that hold exports.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.5, 1, 5, 10, 30, 60, 90, 120, 300] });

    /// <summary>Time to handle one inbound frame in its remote handle: decode, session check, apply, acknowledge.</summary>
    internal static readonly Histogram<double> FrameHandled = Meter.CreateHistogram<double>("dgc.frame.handled", "s", "Time a remote handle took to handle one inbound frame (tag dgc.frame: its method).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });

    /// <summary>Exports held by remotes on this silo's active handles (one per export and remote).</summary>
    internal static readonly ObservableGauge<long> ExportsHeld = Meter.CreateObservableGauge("dgc.exports.held", () => DgcSiloStats.Observe(t => t.Exports), "{export}", "Exports held by remotes, per export and remote, over the silo's active remote handles.");

    /// <summary>Imports held on this silo's active handles.</summary>
    internal static readonly ObservableGauge<long> ImportsHeld = Meter.CreateObservableGauge("dgc.imports.held", () => DgcSiloStats.Observe(t => t.Imports), "{import}", "Imports held from remotes over the silo's active remote handles.");

    /// <summary>Batches sent and not yet acknowledged on this silo's active handles.</summary>
    internal static readonly ObservableGauge<long> BatchesUnacknowledged = Meter.CreateObservableGauge("dgc.batches.unacknowledged", () => DgcSiloStats.Observe(t => t.UnackedBatches), "{batch}", "GC batches sent and not yet acknowledged.");

    /// <summary>GC operations waiting for the next batch on this silo's active handles.</summary>
    internal static readonly ObservableGauge<long> OpsQueued = Meter.CreateObservableGauge("dgc.ops.queued", () => DgcSiloStats.Observe(t => t.QueuedOps), "{op}", "GC operations queued for the next batch.");

    /// <summary>Remotes that hold exports and have been silent for more than half the lease.</summary>
    internal static readonly ObservableGauge<long> LeasesLapsing = Meter.CreateObservableGauge("dgc.leases.lapsing", () => DgcSiloStats.Observe(t => t.LapsingLeases), "{remote}", "Remotes holding exports that have been silent for more than half the lease.");
}
