using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OcapDgc.Host;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.TestingHost;

namespace OcapDgc.Tests.Postgres;

/// <summary>
/// L3 on the durable backend: after a full lifecycle on PostgreSQL grain storage, every released
/// export and every remote with nothing left in common leaves no row behind in the DGC storage table (<c>dgc_state</c>).
/// </summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class StorageHygieneTests(PostgresServer server) : IAsyncLifetime
{
    private InProcessTestCluster _cluster = null!;
    private string _connectionString = "";
    private string _serviceId = "";

    public async Task InitializeAsync()
    {
        var database = "hygiene_" + Guid.NewGuid().ToString("N");
        await server.CreateDatabaseAsync(database);
        await server.ApplySchemaAsync(database);
        _connectionString = server.BuildConnectionString(database);
        Assert.True(PostgresConnection.TryNormalize(_connectionString, out var pooled, out var error), error);

        _cluster = await SingleSilo.StartAsync(
            silo =>
            {
                silo.UseDgcPostgresStorage(pooled);
                silo.UseInMemoryReminderService();
                silo.AddDistributedGc();
                silo.UseDgcStorageTracking();
            },
            builder => _serviceId = builder.Options.ServiceId);
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_fully_released_export_or_remote_leaves_no_storage_row()
    {
        var services = _cluster.Services();
        var runner = new DemoRunner(
            _cluster.Client, services.GetRequiredService<InClusterTransport>(), services.GetRequiredService<DgcStorageTracker>(), new StringWriter());

        // While references are held, their rows are there: the check below is not vacuous.
        var alice = _cluster.Client.GetGrain<IReferenceKernelGrain>("alice");
        var bob = _cluster.Client.GetGrain<IReferenceKernelGrain>("bob");
        await alice.StartAsync();
        await bob.StartAsync();
        var held = await alice.CreateObjectsAsync(3);
        await alice.SendAsync("bob", held);
        await DgcQuiescence.SettleAsync(_cluster.Client, services.GetRequiredService<InClusterTransport>(), ["alice", "bob"]);
        var during = await RowsByStateAsync();
        Assert.Equal(3, during.GetValueOrDefault(DgcStateNames.Export));
        Assert.Equal(2, await HandlesWithRowsAsync());
        await bob.DropAllAsync("alice", retire: true);

        // The demo's whole lifecycle: exchange both ways, re-send, send back, drop and retire everything.
        var result = await runner.RunAsync(refs: 400, messageSize: 50);
        Assert.True(result.Clean, result.SummaryLine);

        var after = await RowsByStateAsync();
        Assert.Equal(0, after.GetValueOrDefault(DgcStateNames.Export));
        // A remote handle whose c-list, queue and unacknowledged batches are all empty holds nothing
        // that must survive (or it must be written down why): its row must go too.
        Assert.Equal(0, await HandlesWithRowsAsync());
        Assert.DoesNotContain(after.Keys, k => k.StartsWith(DgcStateNames.RemoteHandleEntryPrefix, StringComparison.Ordinal));
    }

    /// <summary>How many remote handles have a row (a snapshot or journal entries) in this cluster's service.</summary>
    private async Task<int> HandlesWithRowsAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(DISTINCT grain_id) FROM dgc_state WHERE service_id = @svc AND (state_name = @snapshot OR state_name LIKE @entries)", connection);
        command.Parameters.AddWithValue("svc", _serviceId);
        command.Parameters.AddWithValue("snapshot", DgcStateNames.RemoteHandle);
        command.Parameters.AddWithValue("entries", DgcStateNames.RemoteHandleEntryPrefix + "%");
        return (int)(long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Rows of this cluster's service, by DGC state name (<c>export</c>, <c>remote</c>, <c>manager</c>).</summary>
    private async Task<Dictionary<string, int>> RowsByStateAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT state_name, count(*) FROM dgc_state WHERE service_id = @svc GROUP BY state_name", connection);
        command.Parameters.AddWithValue("svc", _serviceId);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<string, int>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = (int)reader.GetInt64(1);
        }

        return rows;
    }
}
