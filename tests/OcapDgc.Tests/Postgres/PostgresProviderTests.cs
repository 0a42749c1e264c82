using OcapDgc.Testing;
using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService;
using Orleans.TestingHost;
using Xunit;

namespace OcapDgc.Tests.Postgres;

/// <summary>
/// Runs the Orleans ADO.NET providers (clustering, grain storage, reminders) against a real,
/// throwaway PostgreSQL server using this repository's schema scripts.
/// </summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class PostgresProviderTests
{
    private const string Invariant = "Npgsql";
    private const int SiloStatusActive = 3;
    private const int SiloStatusDead = 6;
    private static readonly TimeSpan ConditionTimeout = TimeSpan.FromSeconds(30);

    private readonly PostgresServer _server;

    public PostgresProviderTests(PostgresServer server) => _server = server;

    [Fact]
    public async Task ClusteringRegistersActiveSiloRowInMembershipTable()
    {
        var builder = NewBuilder("clustering");
        UseRealMembershipTable(builder.Options);
        builder.ConfigureSilo((_, silo) => silo.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = _server.ConnectionString;
        }));
        builder.ConfigureClient(client => client.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = _server.ConnectionString;
        }));
        var clusterId = builder.Options.ClusterId;

        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();

            var row = await WaitForAsync(
                () => QuerySingleAsync(
                    "SELECT Status, SiloName, ProxyPort FROM OrleansMembershipTable WHERE DeploymentId = @id",
                    r => (Status: r.GetInt32(0), SiloName: r.GetString(1), ProxyPort: r.GetInt32(2)),
                    ("id", clusterId)),
                r => r.Status == SiloStatusActive,
                "silo row with status Active");
            Assert.False(string.IsNullOrEmpty(row.SiloName));
            Assert.True(row.ProxyPort > 0, "the silo registers its gateway port");

            var version = await QuerySingleAsync(
                "SELECT Version FROM OrleansMembershipVersionTable WHERE DeploymentId = @id",
                r => r.GetInt32(0),
                ("id", clusterId));
            Assert.True(version >= 2, $"insert (Joining) and update (Active) bump the table version, got {version}");

            // The client found the gateway through GatewaysQueryKey; a management call proves the round trip.
            var hosts = await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
            Assert.Single(hosts);
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        // A graceful shutdown marks the silo Dead through UpdateMembershipKey.
        await WaitForAsync(
            () => QuerySingleAsync(
                "SELECT Status FROM OrleansMembershipTable WHERE DeploymentId = @id",
                r => r.GetInt32(0),
                ("id", clusterId)),
            status => status == SiloStatusDead,
            "silo row with status Dead after shutdown");

        // Defunct-silo clean-up (CleanupDefunctSiloEntryKey, bound with Orleans' own parameter types)
        // removes the Dead row once the cut-off lies after its last heartbeat.
        await using var services = new ServiceCollection().BuildServiceProvider();
        var table = new AdoNetClusteringTable(
            services,
            Options.Create(new ClusterOptions { ClusterId = clusterId, ServiceId = builder.Options.ServiceId }),
            Options.Create(new AdoNetClusteringSiloOptions { Invariant = Invariant, ConnectionString = _server.ConnectionString }),
            NullLogger<AdoNetClusteringTable>.Instance);
        await table.InitializeMembershipTableAsync(tryInitTableVersion: false);
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(1));
        var remaining = await QuerySingleAsync(
            "SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = @id",
            r => r.GetInt64(0),
            ("id", clusterId));
        Assert.Equal(0, remaining);
    }

    [Fact]
    public async Task GrainStorageWritesReadsBackAndClearsState()
    {
        var builder = NewBuilder("storage");
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAdoNetGrainStorage(PgCounterGrain.StoreName, o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = _server.ConnectionString;
            });
            silo.AddAdoNetGrainStorage(PgDeletingCounterGrain.StoreName, o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = _server.ConnectionString;
                o.DeleteStateOnClear = true;
            });
        });
        var serviceId = builder.Options.ServiceId;

        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();

            // Default provider: ClearStateAsync keeps the row, nulls its payload and bumps the version.
            const long keepKey = 4711;
            var counter = cluster.Client.GetGrain<IPgCounterGrain>(keepKey);
            Assert.Equal(1, await counter.IncrementAsync());
            Assert.Equal(2, await counter.IncrementAsync());
            await cluster.DeactivateAsync(counter);
            Assert.Equal(2, await counter.GetAsync()); // a new activation read it back from PostgreSQL

            var stored = await ReadStorageRowsAsync(serviceId, keepKey);
            var row = Assert.Single(stored);
            Assert.True(row.HasPayload);
            Assert.Equal(2, row.Version);

            await counter.ClearAsync();
            Assert.Equal(0, await counter.GetAsync());
            row = Assert.Single(await ReadStorageRowsAsync(serviceId, keepKey));
            Assert.False(row.HasPayload);
            Assert.Equal(3, row.Version);

            await cluster.DeactivateAsync(counter);
            Assert.Equal(0, await counter.GetAsync());
            Assert.Equal(1, await counter.IncrementAsync()); // writes on top of the cleared row (version 3 -> 4)
            row = Assert.Single(await ReadStorageRowsAsync(serviceId, keepKey));
            Assert.True(row.HasPayload);
            Assert.Equal(4, row.Version);

            // DeleteStateOnClear = true: ClearStateAsync removes the row (DeleteStorageKey).
            const long deleteKey = 4712;
            var deleting = cluster.Client.GetGrain<IPgDeletingCounterGrain>(deleteKey);
            Assert.Equal(1, await deleting.IncrementAsync());
            Assert.Single(await ReadStorageRowsAsync(serviceId, deleteKey));
            await deleting.ClearAsync();
            Assert.Empty(await ReadStorageRowsAsync(serviceId, deleteKey));
            Assert.Equal(1, await deleting.IncrementAsync()); // inserted afresh
            Assert.Equal(1, Assert.Single(await ReadStorageRowsAsync(serviceId, deleteKey)).Version);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task RemindersFireRepeatedlyAndUnregisterRemovesRow()
    {
        var builder = NewBuilder("reminders");
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseAdoNetReminderService(o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = _server.ConnectionString;
            });
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        var serviceId = builder.Options.ServiceId;

        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();

            var key = Random.Shared.NextInt64(1, long.MaxValue);
            var fired = PgReminderTicks.Expect(key, ticks: 2);
            var grain = cluster.Client.GetGrain<IPgReminderGrain>(key);
            await grain.StartAsync(TimeSpan.FromSeconds(1));

            await fired.WaitAsync(ConditionTimeout);

            var period = await QuerySingleAsync(
                "SELECT Period FROM OrleansRemindersTable WHERE ServiceId = @svc AND ReminderName = @name",
                r => r.GetInt64(0),
                ("svc", serviceId),
                ("name", PgReminderGrain.ReminderName));
            Assert.Equal(1000, period);

            await grain.StopAsync();
            await WaitForAsync(
                () => QuerySingleAsync(
                    "SELECT count(*) FROM OrleansRemindersTable WHERE ServiceId = @svc",
                    r => r.GetInt64(0),
                    ("svc", serviceId)),
                count => count == 0,
                "reminder row removed after unregistering");
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task SchemaScriptsApplyTwiceWithoutError()
    {
        var database = "idempotent_" + Guid.NewGuid().ToString("N");
        await _server.CreateDatabaseAsync(database);
        var setupScript = Path.Combine(_server.RepositoryRoot, "scripts", "pg-setup.sh");
        var environment = new Dictionary<string, string>
        {
            ["OCAPDGC_PG_CONNECTION"] = _server.BuildLibpqConnection(database),
            ["PATH"] = _server.BinDirectory + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH"),
        };

        await ThrowawayPostgres.RunAsync("bash", [setupScript], environment);
        var first = await ReadQueryCatalogAsync(database);
        await ThrowawayPostgres.RunAsync("bash", [setupScript], environment);
        var second = await ReadQueryCatalogAsync(database);

        Assert.Equal(first, second);
        Assert.Equal(21, second.Count);
    }

    [Fact]
    public async Task SchemaScriptsProvideEveryQueryKeyTheProvidersRequire()
    {
        var catalog = await ReadQueryCatalogAsync(new NpgsqlConnectionStringBuilder(_server.ConnectionString).Database!);

        // Clustering and reminders validate their catalogue against the internal DbStoredQueries
        // class (every non-public instance property is a required key); mirror that check here.
        var required = RequiredStoredQueryKeys(typeof(AdoNetClusteringSiloOptions).Assembly)
            .Concat(RequiredStoredQueryKeys(typeof(AdoNetReminderTableOptions).Assembly))
            // Grain storage looks its keys up by literal name.
            .Concat(["WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey", "DeleteStorageKey"])
            .ToList();

        Assert.Contains("CleanupDefunctSiloEntriesKey", required);
        Assert.Contains("UpsertReminderRowKey", required);
        Assert.Empty(required.Except(catalog.Keys));
        // Optional in 10.4.2 (used instead of CleanupDefunctSiloEntriesKey when present).
        Assert.Contains("CleanupDefunctSiloEntryKey", catalog.Keys);
    }

    private static InProcessTestClusterBuilder NewBuilder(string purpose)
    {
        var builder = new InProcessTestClusterBuilder(1);
        var unique = Guid.NewGuid().ToString("N")[..12];
        builder.Options.ClusterId = $"pg-{purpose}-{unique}";
        builder.Options.ServiceId = $"pg-{purpose}-svc-{unique}";
        builder.Options.ConfigureFileLogging = false;
        return builder;
    }

    /// <summary>
    /// InProcessTestClusterOptions.UseTestClusterMembership is internal in 10.4.2 and, while true,
    /// the cluster registers its in-memory IMembershipTable after (and so instead of) ours.
    /// </summary>
    private static void UseRealMembershipTable(InProcessTestClusterOptions options)
    {
        var property = typeof(InProcessTestClusterOptions).GetProperty(
            "UseTestClusterMembership", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            ?? throw new InvalidOperationException(
                "InProcessTestClusterOptions.UseTestClusterMembership no longer exists; revisit how the test disables the in-memory membership table.");
        property.SetValue(options, false);
    }

    private static IEnumerable<string> RequiredStoredQueryKeys(Assembly providerAssembly)
    {
        var storedQueries = providerAssembly.GetTypes().Single(t => t.Name == "DbStoredQueries");
        return storedQueries.GetProperties(BindingFlags.Instance | BindingFlags.NonPublic).Select(p => p.Name);
    }

    private async Task<Dictionary<string, string>> ReadQueryCatalogAsync(string database)
    {
        await using var connection = new NpgsqlConnection(_server.BuildConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT QueryKey, QueryText FROM OrleansQuery", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var catalog = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            catalog.Add(reader.GetString(0), reader.GetString(1));
        }

        return catalog;
    }

    private async Task<List<(bool HasPayload, int Version)>> ReadStorageRowsAsync(string serviceId, long key)
    {
        await using var connection = new NpgsqlConnection(_server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT PayloadBinary IS NOT NULL, Version FROM OrleansStorage WHERE ServiceId = @svc AND GrainIdN0 = 0 AND GrainIdN1 = @key",
            connection);
        command.Parameters.AddWithValue("svc", serviceId);
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(bool, int)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetBoolean(0), reader.GetInt32(1)));
        }

        return rows;
    }

    /// <summary>Runs a query expected to return at most one row; default when it returns none.</summary>
    private async Task<T?> QuerySingleAsync<T>(string sql, Func<NpgsqlDataReader, T> map, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(_server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return default;
        }

        var result = map(reader);
        Assert.False(await reader.ReadAsync(), "expected at most one row");
        return result;
    }

    /// <summary>Polls <paramref name="probe"/> until <paramref name="condition"/> holds or the deadline passes.</summary>
    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, Func<T, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + ConditionTimeout;
        T? last;
        while (true)
        {
            last = await probe();
            if (last is not null && condition(last))
            {
                return last;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {ConditionTimeout} waiting for {what}; last value: {last}.");
            }

            await Task.Delay(100);
        }
    }
}

public interface IPgCounterGrain : IGrainWithIntegerKey
{
    Task<int> IncrementAsync();

    Task<int> GetAsync();

    Task ClearAsync();
}

public interface IPgDeletingCounterGrain : IPgCounterGrain
{
}

[GenerateSerializer]
public sealed class PgCounterState
{
    [Id(0)]
    public int Value { get; set; }
}

public abstract class PgCounterGrainBase : Grain
{
    private readonly IPersistentState<PgCounterState> _state;

    protected PgCounterGrainBase(IPersistentState<PgCounterState> state) => _state = state;

    public async Task<int> IncrementAsync()
    {
        _state.State.Value++;
        await _state.WriteStateAsync();
        return _state.State.Value;
    }

    public Task<int> GetAsync() => Task.FromResult(_state.State.Value);

    public Task ClearAsync() => _state.ClearStateAsync();
}

public sealed class PgCounterGrain(
    [PersistentState("counter", PgCounterGrain.StoreName)] IPersistentState<PgCounterState> state)
    : PgCounterGrainBase(state), IPgCounterGrain
{
    public const string StoreName = "pg-test-store";
}

public sealed class PgDeletingCounterGrain(
    [PersistentState("counter", PgDeletingCounterGrain.StoreName)] IPersistentState<PgCounterState> state)
    : PgCounterGrainBase(state), IPgDeletingCounterGrain
{
    public const string StoreName = "pg-test-store-delete-on-clear";
}

public interface IPgReminderGrain : IGrainWithIntegerKey
{
    Task StartAsync(TimeSpan period);

    Task StopAsync();
}

public sealed class PgReminderGrain : Grain, IPgReminderGrain, IRemindable
{
    public const string ReminderName = "pg-test-reminder";

    public Task StartAsync(TimeSpan period) => this.RegisterOrUpdateReminder(ReminderName, period, period);

    public async Task StopAsync()
    {
        var reminder = await this.GetReminder(ReminderName)
            ?? throw new InvalidOperationException($"Reminder {ReminderName} is not registered.");
        await this.UnregisterReminder(reminder);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            PgReminderTicks.Tick(this.GetPrimaryKeyLong());
        }

        return Task.CompletedTask;
    }
}

/// <summary>Static hook through which the reminder grain tells the test that it fired.</summary>
public static class PgReminderTicks
{
    private static readonly ConcurrentDictionary<long, Expectation> Expectations = new();

    /// <summary>Completes once the grain with <paramref name="key"/> got <paramref name="ticks"/> reminder ticks.</summary>
    public static Task Expect(long key, int ticks)
    {
        var expectation = new Expectation(ticks);
        Expectations[key] = expectation;
        return expectation.Completion.Task;
    }

    public static void Tick(long key)
    {
        if (Expectations.TryGetValue(key, out var expectation)
            && Interlocked.Increment(ref expectation.Count) >= expectation.Wanted)
        {
            expectation.Completion.TrySetResult();
        }
    }

    private sealed class Expectation(int wanted)
    {
        public readonly int Wanted = wanted;
        public readonly TaskCompletionSource Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Count;
    }
}
