using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OcapDgc.Host.Observability;
using OcapDgc.Hosting;
using OcapDgc.Observability;
using Orleans.Storage;

namespace OcapDgc.Tests.Observability;

/// <summary><c>/healthz</c>: the silo, the DGC's storage and the lease reminders, each with its own verdict.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task Healthz_reports_the_silo_storage_and_lease_reminders_as_healthy()
    {
        await using var host = await ObservedHost.StartAsync();
        await host.ShareSomeAsync(count: 5);

        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri($"{host.Url}/healthz"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("Healthy", json.RootElement.GetProperty("status").GetString());
        var checks = json.RootElement.GetProperty("checks");
        Assert.Equal(["silo", "storage", "lease-reminders"], checks.EnumerateObject().Select(c => c.Name));
        Assert.All(checks.EnumerateObject(), c => Assert.Equal("Healthy", c.Value.GetProperty("status").GetString()));
        Assert.Equal("Active", checks.GetProperty("silo").GetProperty("data").GetProperty("status").GetString());
        var reminders = checks.GetProperty("lease-reminders").GetProperty("data");
        Assert.Equal(2, reminders.GetProperty("activeHandles").GetInt32()); // alice/bob and bob/alice, each holding refs
        Assert.Equal(0, reminders.GetProperty("handlesWithoutReminder").GetInt32());
    }

    [Fact]
    public async Task Unreachable_storage_or_a_missing_reminder_service_is_unhealthy()
    {
        var services = new ServiceCollection()
            .AddKeyedSingleton<IGrainStorage>(DgcStorage.Name, new BrokenStorage())
            .BuildServiceProvider();
        var storage = await new DgcHealthChecks.StorageCheck(services).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, storage.Status);
        Assert.Contains("did not answer a read: connection refused", storage.Description, StringComparison.Ordinal);

        using var stats = new DgcSiloStats("test", TimeProvider.System);
        var reminders = await new DgcHealthChecks.LeaseReminderCheck(services, stats).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, reminders.Status);
        Assert.Contains("no reminder service", reminders.Description, StringComparison.Ordinal);
    }

    private sealed class BrokenStorage : IGrainStorage
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new IOException("connection refused");

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new IOException("connection refused");

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new IOException("connection refused");
    }
}
