using Orleans.Configuration;
using OcapDgc.Observability;

namespace OcapDgc.Host.Observability;

/// <summary>
/// <c>inspect [KERNEL [KREF]] [--gateway-port N] [--profile P]</c>: an Orleans client to a running silo
/// (through the gateway of the configured profile) that prints what the DGC view shows: the kernels, one
/// kernel's per-remote table, or why a kref is alive. It reads the host's own configuration files, the
/// environment and the command line, so it finds the silo the host in the same folder would start.
/// </summary>
public static class InspectCommand
{
    /// <summary>Runs the command; returns the exit code (0 done, 2 bad arguments, 3 no silo reachable).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var positional = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var options = args[positional.Length..];
        if (positional.Length > 2)
        {
            error.WriteLine("usage: inspect [KERNEL [KREF]] [--gateway-port N] [--profile embedded|postgres]");
            return 2;
        }

        var configDir = Path.Combine(AppContext.BaseDirectory, "silo-config");
        var switches = new Dictionary<string, string>
        {
            ["--profile"] = HostProfiles.ProfileKey,
            ["--gateway-port"] = "Orleans:GatewayPort",
        };
        IConfiguration Build(string? profileFile) => new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(configDir, "appsettings.json"), optional: false)
            .AddJsonFile(profileFile is null ? "none.json" : Path.Combine(configDir, profileFile), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(options, switches)
            .Build();
        if (!HostProfiles.TryParse(Build(null)[HostProfiles.ProfileKey], out var profile, out var profileError))
        {
            error.WriteLine(profileError);
            return 2;
        }

        var configuration = Build($"appsettings.{profile}.json");
        var orleans = configuration.GetSection("Orleans");
        var gatewayPort = orleans.GetValue("GatewayPort", EndpointOptions.DEFAULT_GATEWAY_PORT);
        var serviceId = orleans["ServiceId"] ?? "ocap-dgc";
        var clusterId = orleans["ClusterId"] ?? "ocap-dgc-dev";
        string where;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (profile == HostProfile.Postgres)
        {
            if (!HostProfiles.TryGetConnectionString(configuration, out var cs, out var csError))
            {
                error.WriteLine(csError);
                return 2;
            }

            where = "the gateways listed in the PostgreSQL membership table";
            builder.UseOrleansClient(client => client
                .Configure<ClusterOptions>(o => (o.ServiceId, o.ClusterId) = (serviceId, clusterId))
                .UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (PostgresConnection.Invariant, cs))
                .UseConnectionRetryFilter(RetryTwice()));
        }
        else
        {
            where = $"the gateway at 127.0.0.1:{gatewayPort}";
            builder.UseOrleansClient(client => client
                .UseLocalhostClustering(gatewayPort, serviceId, clusterId)
                .UseConnectionRetryFilter(RetryTwice()));
        }

        using var host = builder.Build();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StartAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"Cannot reach an ocap-dgc silo through {where} (cluster {clusterId}): {e.GetBaseException().Message}");
            return 3;
        }

        try
        {
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var inspector = new DgcInspector(grains);
            switch (positional)
            {
                case []:
                    var kernels = await inspector.ListKernelsAsync();
                    output.WriteLine(kernels.Length == 0 ? "No kernel has an active DGC grain." : $"kernels: {string.Join(", ", kernels)}");
                    break;
                case [var kernel]:
                    output.Write(DgcInspector.FormatKernel(await inspector.InspectKernelAsync(kernel)));
                    break;
                case [var kernel, var kref]:
                    output.Write(DgcInspector.FormatWhyAlive(await inspector.WhyAliveAsync(kernel, kref, (k, r) => DgcView.DescribeLocalAsync(grains, k, r))));
                    break;
            }

            return 0;
        }
        catch (DgcException e)
        {
            error.WriteLine(e.Message);
            return 2;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static Func<Exception, CancellationToken, Task<bool>> RetryTwice()
    {
        var attempts = 0;
        return async (_, ct) =>
        {
            if (++attempts > 2)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            return true;
        };
    }
}
