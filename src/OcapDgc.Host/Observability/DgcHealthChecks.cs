using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OcapDgc.Hosting;
using OcapDgc.Observability;
using Orleans.Storage;

namespace OcapDgc.Host.Observability;

/// <summary>
/// The host's health checks, served at <c>/healthz</c> the ASP.NET Core way: <c>silo</c> (this silo is
/// active in the cluster's membership), <c>storage</c> (the DGC's store answers a read) and
/// <c>lease-reminders</c> (the reminder table answers, and every active remote handle that holds refs has its
/// <c>dgc-lease</c> reminder). Healthy and degraded answer 200, unhealthy 503, each with a JSON body.
/// </summary>
public static class DgcHealthChecks
{
    /// <summary>The endpoint's path.</summary>
    public const string Path = "/healthz";

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private static readonly GrainId Probe = GrainId.Create("dgc-health", "probe");
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Registers the three checks.</summary>
    public static IHealthChecksBuilder AddDgcHealthChecks(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddHealthChecks()
            .AddCheck<SiloCheck>("silo")
            .AddCheck<StorageCheck>("storage")
            .AddCheck<LeaseReminderCheck>("lease-reminders");
    }

    /// <summary>Maps <c>/healthz</c> with a JSON report of every check.</summary>
    public static IEndpointConventionBuilder MapDgcHealthChecks(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapHealthChecks(Path, new HealthCheckOptions { ResponseWriter = WriteAsync });
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            durationMs = report.TotalDuration.TotalMilliseconds,
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
                durationMs = e.Value.Duration.TotalMilliseconds,
                data = e.Value.Data,
                error = e.Value.Exception?.Message,
            }),
        }, Json));
    }

    /// <summary>This silo is active in the cluster's membership.</summary>
    public sealed class SiloCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
    {
        /// <inheritdoc />
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var snapshot = membership.CurrentSnapshot;
            var status = snapshot.GetSiloStatus(local.SiloAddress);
            var data = new Dictionary<string, object>
            {
                ["silo"] = local.Name,
                ["address"] = local.SiloAddress.ToString(),
                ["status"] = status.ToString(),
                ["activeSilos"] = snapshot.Members.Count(m => m.Value.Status == SiloStatus.Active),
            };
            return Task.FromResult(status == SiloStatus.Active
                ? HealthCheckResult.Healthy($"silo {local.Name} is active", data)
                : HealthCheckResult.Unhealthy($"silo {local.Name} is {status}", data: data));
        }
    }

    /// <summary>The DGC's store (<c>dgc-store</c>: memory, or PostgreSQL in the cluster profile) answers a read.</summary>
    public sealed class StorageCheck(IServiceProvider services) : IHealthCheck
    {
        /// <inheritdoc />
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var storage = services.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Name);
                await storage.ReadStateAsync("dgc-health", Probe, new GrainState<ExportState>()).WaitAsync(ProbeTimeout, cancellationToken);
                return HealthCheckResult.Healthy($"{DgcStorage.Name} answered a read in {clock.ElapsedMilliseconds} ms",
                    new Dictionary<string, object> { ["provider"] = storage.GetType().Name, ["readMs"] = clock.ElapsedMilliseconds });
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return HealthCheckResult.Unhealthy($"{DgcStorage.Name} did not answer a read: {e.GetBaseException().Message}", e);
            }
        }
    }

    /// <summary>The reminder table answers, and no active handle that holds refs lacks its <c>dgc-lease</c> reminder.</summary>
    public sealed class LeaseReminderCheck(IServiceProvider services, DgcSiloStats stats) : IHealthCheck
    {
        /// <inheritdoc />
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var table = services.GetService<IReminderTable>();
            if (table is null)
            {
                return HealthCheckResult.Unhealthy("no reminder service is registered: lapsed leases would never be expired");
            }

            try
            {
                await table.ReadRows(Probe, cancellationToken).WaitAsync(ProbeTimeout, cancellationToken);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return HealthCheckResult.Unhealthy($"the reminder table did not answer: {e.GetBaseException().Message}", e);
            }

            var t = stats.Read();
            var data = new Dictionary<string, object>
            {
                ["table"] = table.GetType().Name,
                ["activeHandles"] = t.Handles,
                ["handlesWithoutReminder"] = t.HandlesWithoutReminder,
                ["lapsingLeases"] = t.LapsingLeases,
            };
            return t.HandlesWithoutReminder > 0
                ? HealthCheckResult.Degraded($"{t.HandlesWithoutReminder} active handle(s) hold refs without a dgc-lease reminder", data: data)
                : HealthCheckResult.Healthy($"the reminder table answered; every active handle that holds refs has its dgc-lease reminder ({t.Handles} active)", data);
        }
    }
}
