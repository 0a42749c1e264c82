using System.Globalization;
using Orleans.Configuration;
using Orleans.Connections.Security;
using OcapDgc.Host.Network;

namespace OcapDgc.Host.Soak;

/// <summary>
/// <c>soak-driver --control DIR [--seed N] [--kernels N] [--logs DIR] [configuration]</c>: the traffic driver of
/// <c>scripts/soak.sh</c>. An Orleans client of the cluster profile (the gateways in the PostgreSQL membership
/// table, mutual TLS when <c>Orleans:Tls</c> is set) that drives reference kernels with random traffic until the
/// file <c>DIR/stop</c> appears, then heals, checks and prints one summary line (see <see cref="SoakDriver"/>).
/// </summary>
public static class SoakCommand
{
    private const string Usage = "usage: soak-driver --control DIR [--seed N] [--kernels 4-16] [--logs DIR] [--Orleans:ClusterId=...] (cluster profile; OCAPDGC_PG_CONNECTION)";

    /// <summary>Runs the driver; returns the exit code (0 every check held, 1 a check failed, 2 bad arguments, 3 no cluster).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var switches = new Dictionary<string, string>
        {
            ["--control"] = "Soak:Control",
            ["--seed"] = "Soak:Seed",
            ["--kernels"] = "Soak:Kernels",
            ["--logs"] = "Soak:Logs",
        };
        var configDir = Path.Combine(AppContext.BaseDirectory, "silo-config");
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.Combine(configDir, "appsettings.json"), optional: false)
                .AddJsonFile(Path.Combine(configDir, $"appsettings.{HostProfile.Postgres}.json"), optional: false)
                .AddEnvironmentVariables()
                .AddCommandLine(args, switches)
                .Build();
        }
        catch (FormatException e)
        {
            error.WriteLine($"soak-driver: {e.Message}");
            error.WriteLine(Usage);
            return 2;
        }

        var soak = configuration.GetSection("Soak");
        var problems = new List<string>();
        var control = soak["Control"];
        if (string.IsNullOrWhiteSpace(control) || !Directory.Exists(control))
        {
            problems.Add($"--control must name an existing folder (got '{control}').");
        }

        var seed = ParseInt(soak["Seed"] ?? "1", "--seed", 0, int.MaxValue, problems);
        var kernels = ParseInt(soak["Kernels"] ?? "4", "--kernels", 4, 16, problems);
        var logs = soak["Logs"];
        if (!string.IsNullOrWhiteSpace(logs) && !Directory.Exists(logs))
        {
            problems.Add($"--logs must name an existing folder (got '{logs}').");
        }

        if (!HostProfiles.TryGetConnectionString(configuration, out var connectionString, out var csError))
        {
            problems.Add(csError);
        }

        if (problems.Count > 0)
        {
            foreach (var p in problems)
            {
                error.WriteLine($"soak-driver: {p}");
            }

            error.WriteLine(Usage);
            return 2;
        }

        var orleans = configuration.GetSection("Orleans");
        var serviceId = orleans["ServiceId"] ?? "ocap-dgc";
        var clusterId = orleans["ClusterId"] ?? "ocap-dgc-dev";
        NetworkIdentity? tls = null;
        if (ClusterTls.IsConfigured(configuration))
        {
            try
            {
                tls = NetworkIdentity.Load(configuration[$"{ClusterTls.Section}:Certificate"]!, configuration[$"{ClusterTls.Section}:Key"] ?? "", ClusterTls.Section);
            }
            catch (InvalidOperationException e)
            {
                error.WriteLine($"soak-driver: {e.Message}");
                return 2;
            }
        }

        using var identity = tls;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client
                .Configure<ClusterOptions>(o => (o.ServiceId, o.ClusterId) = (serviceId, clusterId))
                .UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (PostgresConnection.Invariant, connectionString))
                .UseConnectionRetryFilter(RetryFor(TimeSpan.FromSeconds(60)))
                // A call whose silo died fails within seconds rather than Orleans' default of 30; the gateway list
                // follows the membership table closely, as silos die and come back on their ports.
                .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10))
                .Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2));
            if (identity is not null)
            {
                var accepted = identity.Pin;
                client.UseTls(identity.Certificate, o =>
                {
                    o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
                    o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
                    o.CheckCertificateRevocation = false;
                    o.RemoteCertificateValidation = (presented, _, _) => presented is not null && PeerPins.Of(presented) == accepted;
                });
            }
        });

        using var host = builder.Build();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await host.StartAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"soak-driver: cannot reach the cluster {clusterId} through the gateways in its membership table: {e.GetBaseException().Message}");
            return 3;
        }

        try
        {
            var driver = new SoakDriver(
                host.Services.GetRequiredService<IClusterClient>(),
                new SoakSettings(seed, kernels, control!, logs, connectionString, serviceId),
                output);
            return await driver.RunAsync() ? 0 : 1;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static int ParseInt(string text, string name, int min, int max, List<string> problems)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        problems.Add($"{name} must be a whole number from {min} to {max} (got '{text}').");
        return min;
    }

    private static Func<Exception, CancellationToken, Task<bool>> RetryFor(TimeSpan patience)
    {
        var until = DateTime.UtcNow + patience;
        return async (_, ct) =>
        {
            if (DateTime.UtcNow > until)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            return true;
        };
    }
}

/// <summary>What the soak driver is told.</summary>
/// <param name="Seed">Seeds the kernels' random traffic.</param>
/// <param name="Kernels">How many reference kernels.</param>
/// <param name="Control">The folder the script and the driver talk through (<c>ready</c>, <c>stop</c>).</param>
/// <param name="Logs">The silos' log folder (its refusals are counted), or null.</param>
/// <param name="ConnectionString">The cluster's database (rows left are counted there).</param>
/// <param name="ServiceId">The Orleans service id (storage and reminder rows are keyed by it).</param>
public sealed record SoakSettings(int Seed, int Kernels, string Control, string? Logs, string ConnectionString, string ServiceId);
