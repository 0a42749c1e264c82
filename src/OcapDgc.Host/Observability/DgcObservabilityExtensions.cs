using OcapDgc.Observability;

namespace OcapDgc.Host.Observability;

/// <summary>
/// Everything the host adds for operators, in two calls from <c>Program.cs</c>: the DGC view (<c>/dgc</c>)
/// with its sampler.
/// </summary>
public static class DgcObservabilityExtensions
{
    /// <summary>Registers the sampler (one sample a second of the silo's registry).</summary>
    public static WebApplicationBuilder AddDgcObservability(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(sp => new DgcSampler(sp.GetRequiredService<DgcSiloStats>(), TimeSpan.FromSeconds(1)));
        builder.Services.AddHostedService<DgcSamplerService>();
        return builder;
    }

    /// <summary>Maps the DGC view at <c>/dgc</c>.</summary>
    public static WebApplication MapDgcObservability(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapDgcView();
        return app;
    }
}
