using OcapDgc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OcapDgc.Tests.Postgres;
using Orleans.Configuration;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// N silo processes of the PostgreSQL cluster profile on loopback (each `OcapDgc.Host --serve`), on their
/// own database of the test server, and an Orleans client that finds them through the membership table.
/// Disposing stops the client and kills every silo still running.
/// </summary>
public sealed class SiloCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);
    private readonly List<Silo> _silos = [];
    private IHost? _client;

    private SiloCluster(string connectionString, string clusterId, string serviceId)
    {
        ConnectionString = connectionString;
        ClusterId = clusterId;
        ServiceId = serviceId;
    }

    /// <summary>Npgsql connection string of the cluster's database.</summary>
    public string ConnectionString { get; }

    /// <summary>The Orleans cluster id (the membership table's DeploymentId).</summary>
    public string ClusterId { get; }

    /// <summary>The Orleans service id (storage and reminder rows are keyed by it).</summary>
    public string ServiceId { get; }

    /// <summary>The silos, in start order.</summary>
    public IReadOnlyList<Silo> Silos => _silos;

    /// <summary>The client's grain factory.</summary>
    public IClusterClient Client => _client?.Services.GetRequiredService<IClusterClient>()
        ?? throw new InvalidOperationException("The cluster is not started.");

    /// <summary>Creates a database with the schema on <paramref name="server"/>, starts <paramref name="count"/> silos and connects a client.</summary>
    public static async Task<SiloCluster> StartAsync(PostgresServer server, int count, params string[] extraArguments)
    {
        ArgumentNullException.ThrowIfNull(server);
        var database = "cluster_" + Guid.NewGuid().ToString("N");
        await server.CreateDatabaseAsync(database);
        await server.ApplySchemaAsync(database);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var cluster = new SiloCluster(server.BuildConnectionString(database), "crash-" + suffix, "ocap-dgc-" + suffix);
        try
        {
            for (var i = 0; i < count; i++)
            {
                cluster.StartSilo(server.BuildLibpqConnection(database), extraArguments);
            }

            await Task.WhenAll(cluster._silos.Select(s => s.Process.WaitForLineAsync("ocap-dgc silo ready", StartTimeout)));
            await cluster.ConnectClientAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a query expected to return one value.</summary>
    public async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The membership table's status of each silo port (3 = Active, 6 = Dead).</summary>
    public async Task<Dictionary<int, int>> MembershipAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT Port, Status FROM OrleansMembershipTable WHERE DeploymentId = @id", connection);
        command.Parameters.AddWithValue("id", ClusterId);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<int, int>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetInt32(0)] = reader.GetInt32(1);
        }

        return rows;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _client.StopAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                // The silos are killed next anyway.
            }

            _client.Dispose();
        }

        foreach (var silo in _silos)
        {
            await silo.Process.DisposeAsync();
        }
    }

    private void StartSilo(string libpqConnection, string[] extraArguments)
    {
        var siloPort = ThrowawayPostgres.FindFreeLoopbackPort();
        var gatewayPort = ThrowawayPostgres.FindFreeLoopbackPort();
        var webPort = ThrowawayPostgres.FindFreeLoopbackPort();
        string[] arguments =
        [
            "--serve", "--profile", "postgres",
            "--silo-port", siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gateway-port", gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--urls", $"http://127.0.0.1:{webPort}",
            $"--Orleans:ClusterId={ClusterId}",
            $"--Orleans:ServiceId={ServiceId}",
            .. extraArguments,
        ];
        var process = HostProcess.Start(arguments, new Dictionary<string, string> { ["OCAPDGC_PG_CONNECTION"] = libpqConnection });
        _silos.Add(new Silo(_silos.Count + 1, siloPort, gatewayPort, $"http://127.0.0.1:{webPort}/dashboard", process));
    }

    private async Task ConnectClientAsync()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = ConnectionString;
            });
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = ClusterId;
                o.ServiceId = ServiceId;
            });
        });
        _client = builder.Build();
        await _client.StartAsync();
    }

    /// <summary>One silo process and its ports.</summary>
    public sealed record Silo(int Number, int SiloPort, int GatewayPort, string Dashboard, HostProcess Process);
}
