using System.Net;
using Orleans.Configuration;
using OcapDgc.Hosting;
using Orleans.Dashboard;

namespace OcapDgc.Host;

/// <summary>Builds the silo of one profile from configuration.</summary>
public static class SiloSetup
{
    /// <summary>
    /// Configures <paramref name="silo"/> for <paramref name="profile"/>: clustering, DGC storage and
    /// reminders, the DGC itself and the dashboard. <paramref name="connectionString"/> is required for
    /// <see cref="HostProfile.Postgres"/>. The reference kernels (OcapDgc.Testing) are always available, as
    /// the demo and the cluster tests drive them. With <paramref name="chaos"/>, the DGC runs behind the
    /// fault-injecting transport with the chaos run's seconds-long leases. With
    /// <paramref name="trackStorage"/> (the demo), the DGC's storage entries are counted
    /// (<see cref="Storage.DgcStorageTracker"/>).
    /// </summary>
    public static void Configure(ISiloBuilder silo, IConfiguration configuration, HostProfile profile, string? connectionString, ChaosOptions? chaos = null, bool trackStorage = false)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        var orleans = configuration.GetSection("Orleans");
        var siloPort = orleans.GetValue("SiloPort", EndpointOptions.DEFAULT_SILO_PORT);
        var gatewayPort = orleans.GetValue("GatewayPort", EndpointOptions.DEFAULT_GATEWAY_PORT);
        var serviceId = orleans["ServiceId"] ?? "ocap-dgc";
        var clusterId = orleans["ClusterId"] ?? "ocap-dgc-dev";

        switch (profile)
        {
            case HostProfile.Postgres:
                ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ServiceId = serviceId;
                    o.ClusterId = clusterId;
                });
                var advertised = orleans["AdvertisedIPAddress"];
                if (string.IsNullOrWhiteSpace(advertised) || advertised.Equals("auto", StringComparison.OrdinalIgnoreCase))
                {
                    // The address of this machine's host name: the container's own address under docker-compose.
                    silo.ConfigureEndpoints(siloPort, gatewayPort, listenOnAnyHostAddress: true);
                }
                else
                {
                    silo.ConfigureEndpoints(IPAddress.Parse(advertised), siloPort, gatewayPort);
                }

                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = PostgresConnection.Invariant;
                    o.ConnectionString = connectionString;
                });
                silo.UseDgcPostgresStorage(connectionString);
                silo.UseAdoNetReminderService(o =>
                {
                    o.Invariant = PostgresConnection.Invariant;
                    o.ConnectionString = connectionString;
                });
                break;
            default:
                silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: gatewayPort, serviceId: serviceId, clusterId: clusterId);

                // The embedded default is one silo: its store lives in the process (no grain call per read or write).
                silo.UseDgcInMemoryStorage(singleSilo: true);
                silo.UseInMemoryReminderService();
                break;
        }

        // Orleans options a deployment (or a test) may tune; Orleans itself reserves Orleans:Reminders, Orleans:Clustering, ... for providers.
        silo.Services.AddOptions<ReminderOptions>().BindConfiguration("Orleans:ReminderOptions");
        silo.Services.AddOptions<ClusterMembershipOptions>().BindConfiguration("Orleans:ClusterMembershipOptions");
        if (chaos is null)
        {
            silo.AddDistributedGc();
        }
        else
        {
            // Seconds-long leases, so the run can show a partition longer than the lease.
            silo.AddDistributedGc(lease: l =>
            {
                l.Duration = chaos.Lease;
                l.PingInterval = chaos.PingInterval;
                l.CheckPeriod = chaos.CheckPeriod;
            });
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = chaos.CheckPeriod);
            silo.UseDgcFaultInjection();
        }

        silo.AddReferenceKernels();
        if (trackStorage)
        {
            silo.UseDgcStorageTracking();
        }

        silo.AddDashboard();
    }
}
