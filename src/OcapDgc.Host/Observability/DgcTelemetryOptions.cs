namespace OcapDgc.Host.Observability;

/// <summary>
/// Whether and where the host exports the DGC's metrics (meter <c>OcapDgc</c>) and traces (activity source
/// <c>OcapDgc</c>). Bound from <c>Dgc:Telemetry</c>; everything is off by default.
/// </summary>
public sealed class DgcTelemetryOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Dgc:Telemetry";

    /// <summary>An OTLP endpoint (e.g. <c>http://127.0.0.1:4317</c>): metrics and traces are exported there. Empty: no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Serve the metrics for Prometheus to scrape at <see cref="PrometheusPath"/>.</summary>
    public bool Prometheus { get; set; }

    /// <summary>The scrape path. Default <c>/metrics</c>.</summary>
    public string PrometheusPath { get; set; } = "/metrics";

    /// <summary>Also export Orleans' own meter (<c>Microsoft.Orleans</c>). Default true.</summary>
    public bool IncludeOrleans { get; set; } = true;

    /// <summary>The service name in the exported resource. Default <c>ocap-dgc</c>.</summary>
    public string ServiceName { get; set; } = "ocap-dgc";

    /// <summary>Whether any export is on.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(OtlpEndpoint) || Prometheus;
}
