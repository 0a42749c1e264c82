using OcapDgc.Testing;
using Npgsql;
using OcapDgc.Host;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Cluster;

/// <summary>The host refuses a bad profile set-up at start-up, with one clear message, before anything starts.</summary>
public sealed class HostStartupTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Postgres_profile_with_an_unreachable_database_exits_naming_host_and_port()
    {
        var port = ThrowawayPostgres.FindFreeLoopbackPort();
        await using var host = HostProcess.Start(
            ["--serve", "--profile", "postgres"],
            new Dictionary<string, string> { ["OCAPDGC_PG_CONNECTION"] = $"Host=127.0.0.1;Port={port};Database=orleans;Username=orleans" });

        Assert.Equal(3, await host.WaitForExitAsync(ExitTimeout));
        Assert.Contains($"Cannot reach PostgreSQL at 127.0.0.1:{port} (database orleans, user orleans)", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("silo ready", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postgres_profile_without_a_connection_string_exits_saying_where_to_set_it()
    {
        await using var host = HostProcess.Start(["--serve", "--profile", "postgres"]);

        Assert.Equal(2, await host.WaitForExitAsync(ExitTimeout));
        Assert.Contains("needs a connection string: set ConnectionStrings:OcapDgc", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_profile_is_refused()
    {
        await using var host = HostProcess.Start(["--serve", "--profile", "cassandra"]);

        Assert.Equal(2, await host.WaitForExitAsync(ExitTimeout));
        Assert.Contains("Dgc:Profile (--profile) must be Embedded or Postgres (got 'cassandra')", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lease_options_that_cannot_work_stop_the_host_naming_each_key()
    {
        await using var host = HostProcess.Start(["--serve", "--Dgc:Lease:PingInterval=00:01:30", "--Dgc:Lease:CheckPeriod=00:00:00"]);

        Assert.Equal(2, await host.WaitForExitAsync(ExitTimeout));
        Assert.Contains("Dgc:Lease:CheckPeriod must be positive", host.Output, StringComparison.Ordinal);
        Assert.Contains("Dgc:Lease:PingInterval (00:01:30) must be at most half of Lease (00:02:00)", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("silo ready", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_lease_is_read_from_Dgc_Lease_Duration_and_the_old_key_is_refused()
    {
        await using (var host = HostProcess.Start(["--serve", "--Dgc:Lease:Duration=00:00:40"]))
        {
            Assert.Equal(2, await host.WaitForExitAsync(ExitTimeout));
            Assert.Contains("Dgc:Lease:PingInterval (00:00:30) must be at most half of Lease (00:00:40)", host.Output, StringComparison.Ordinal);
        }

        await using (var host = HostProcess.Start(["--serve", "--Dgc:Lease:Lease=00:05:00"]))
        {
            Assert.Equal(2, await host.WaitForExitAsync(ExitTimeout));
            Assert.Contains("Dgc:Lease:Lease was renamed Dgc:Lease:Duration", host.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("silo ready", host.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("host=db.example port=5433 dbname=orleans user=dgc", "db.example", 5433, "orleans", "dgc")]
    [InlineData("postgresql://dgc@db.example:5433/orleans", "db.example", 5433, "orleans", "dgc")]
    [InlineData("Host=db.example;Port=5433;Database=orleans;Username=dgc", "db.example", 5433, "orleans", "dgc")]
    public void Connection_strings_are_read_in_npgsql_libpq_and_uri_form(string raw, string host, int port, string database, string user)
    {
        Assert.True(PostgresConnection.TryNormalize(raw, out var cs, out var error), error);
        var b = new NpgsqlConnectionStringBuilder(cs);
        Assert.Equal((host, port, database, user), (b.Host, b.Port, b.Database, b.Username));
        Assert.Equal(PostgresConnection.DefaultMaxPoolSize, b.MaxPoolSize);
    }

    [Fact]
    public void A_pool_size_in_the_connection_string_is_kept()
    {
        Assert.True(PostgresConnection.TryNormalize("Host=db;Maximum Pool Size=7", out var cs, out var error), error);
        Assert.Equal(7, new NpgsqlConnectionStringBuilder(cs).MaxPoolSize);
    }

    [Theory]
    [InlineData("host=db.example colour=blue")]
    [InlineData("Port=5432;Database=orleans")]
    [InlineData("Hots=db.example;Port=5432")]
    public void A_malformed_connection_string_gets_a_clear_error(string raw)
    {
        Assert.False(PostgresConnection.TryNormalize(raw, out _, out var error));
        Assert.Contains("connection string", error, StringComparison.Ordinal);
    }
}

/// <summary>The start-up check against a real server: a database without the schema is refused and left untouched.</summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class HostSchemaCheckTests(PostgresServer server)
{
    [Fact]
    public async Task Postgres_profile_on_a_database_without_the_schema_exits_telling_to_run_pg_setup()
    {
        var database = "empty_" + Guid.NewGuid().ToString("N");
        await server.CreateDatabaseAsync(database);
        await using var host = HostProcess.Start(
            ["--serve", "--profile", "postgres"],
            new Dictionary<string, string> { ["OCAPDGC_PG_CONNECTION"] = server.BuildLibpqConnection(database) });

        Assert.Equal(3, await host.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"The Orleans schema is missing in PostgreSQL at 127.0.0.1:{server.Port} (database {database}", host.Output, StringComparison.Ordinal);
        Assert.Contains("scripts/pg-setup.sh", host.Output, StringComparison.Ordinal);

        await using var connection = new NpgsqlConnection(server.BuildConnectionString(database));
        await connection.OpenAsync();
        await using var tables = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", connection);
        Assert.Equal(0L, await tables.ExecuteScalarAsync());
    }
}
