using System.Diagnostics.Metrics;

namespace OcapDgc;

/// <summary>The service's one meter, <c>OcapDgc</c>. Instruments are named <c>dgc.&lt;noun&gt;.&lt;verb&gt;</c>.</summary>
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
}
