using OcapDgc.Observability;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OcapDgc.Host.Observability;

/// <summary>
/// Everything the host adds for operators, in two calls from <c>Program.cs</c>: the DGC view (<c>/dgc</c>)
/// with its sampler, the health checks (<c>/healthz</c>) and the optional telemetry export
/// (<see cref="DgcTelemetryOptions"/>).
/// </summary>
public static class DgcObservabilityExtensions
{
    /// <summary>Registers the sampler (one sample a second of the silo's registry), the health checks and, when configured, OpenTelemetry's exporters.</summary>
    public static WebApplicationBuilder AddDgcObservability(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(sp => new DgcSampler(sp.GetRequiredService<DgcSiloStats>(), TimeSpan.FromSeconds(1)));
        builder.Services.AddHostedService<DgcSamplerService>();
        builder.Services.AddDgcHealthChecks();

        var telemetry = builder.Configuration.GetSection(DgcTelemetryOptions.Section).Get<DgcTelemetryOptions>() ?? new DgcTelemetryOptions();
        builder.Services.AddSingleton(telemetry);
        if (telemetry.Enabled)
        {
            var otlp = string.IsNullOrWhiteSpace(telemetry.OtlpEndpoint) ? null : new Uri(telemetry.OtlpEndpoint);
            var otel = builder.Services.AddOpenTelemetry()
                .ConfigureResource(r => r.AddService(telemetry.ServiceName))
                .WithMetrics(m =>
                {
                    m.AddMeter(DgcMetrics.MeterName);
                    if (telemetry.IncludeOrleans)
                    {
                        m.AddMeter("Microsoft.Orleans");
                    }

                    if (otlp is not null)
                    {
                        m.AddOtlpExporter(o => o.Endpoint = otlp);
                    }

                    if (telemetry.Prometheus)
                    {
                        m.AddPrometheusExporter();
                    }
                });
            if (otlp is not null)
            {
                otel.WithTracing(t => t.AddSource(DgcTracing.SourceName).AddOtlpExporter(o => o.Endpoint = otlp));
            }
        }

        return builder;
    }

    /// <summary>Maps the DGC view at <c>/dgc</c>, the health checks at <c>/healthz</c>, and the Prometheus scrape endpoint when it is on; returns the view's routes (to require authorization on).</summary>
    public static RouteGroupBuilder MapDgcObservability(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var view = app.MapDgcView();
        app.MapDgcHealthChecks();
        var telemetry = app.Services.GetRequiredService<DgcTelemetryOptions>();
        if (telemetry.Prometheus)
        {
            app.MapPrometheusScrapingEndpoint(telemetry.PrometheusPath);
        }

        return view;
    }
}
