using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OcapDgc.Host;
using OcapDgc.Hosting;
using OcapDgc.Host.Observability;
using OcapDgc.Testing;
using OcapDgc.Transport;

namespace OcapDgc.Tests.Observability;

/// <summary>
/// The host's web application with its silo, in this process, as <c>Program.cs</c> builds it on the embedded
/// profile (the reference kernels, the DGC view, health checks, telemetry), on free loopback ports, so a test
/// can drive kernels through <see cref="Grains"/> and look at the result over HTTP.
/// </summary>
public sealed class ObservedHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ObservedHost(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The web endpoint, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Url { get; }

    /// <summary>The silo's gateway port (for an Orleans client or <c>inspect</c>).</summary>
    public int GatewayPort { get; private init; }

    /// <summary>The silo's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The silo's grain factory.</summary>
    public IGrainFactory Grains => _app.Services.GetRequiredService<IGrainFactory>();

    /// <summary>Starts the host with extra configuration <paramref name="settings"/>.</summary>
    public static async Task<ObservedHost> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var gatewayPort = ThrowawayPostgres.FindFreeLoopbackPort();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orleans:SiloPort"] = ThrowawayPostgres.FindFreeLoopbackPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:ClusterId"] = "observed-" + Guid.NewGuid().ToString("N")[..8],
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.UseOrleans(silo => SiloSetup.Configure(silo, builder.Configuration, HostProfile.Embedded, null, trackStorage: true));
        builder.AddDgcObservability();
        var app = builder.Build();
        app.MapDgcObservability();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ObservedHost(app, address.TrimEnd('/')) { GatewayPort = gatewayPort };
    }

    /// <summary>
    /// alice exports <paramref name="count"/> objects to bob, the first five of them twice (count 2), and
    /// lets go of her local references to them; bob exports three to alice. Everything settles.
    /// Returns alice's krefs.
    /// </summary>
    public async Task<string[]> ShareSomeAsync(int count = 20)
    {
        var alice = Grains.GetGrain<IReferenceKernelGrain>("alice");
        var bob = Grains.GetGrain<IReferenceKernelGrain>("bob");
        await alice.StartAsync();
        await bob.StartAsync();
        var objects = await alice.CreateObjectsAsync(count);
        await alice.SendAsync("bob", objects);
        await alice.SendAsync("bob", objects[..5]);
        await alice.ReleaseLocalAsync(objects[..5]);
        await bob.SendAsync("alice", await bob.CreateObjectsAsync(3));
        await DgcQuiescence.SettleAsync(Grains, Services.GetRequiredService<InClusterTransport>(), ["alice", "bob"]);
        return objects;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
