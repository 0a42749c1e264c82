using OcapDgc.Testing;
using Xunit;

namespace OcapDgc.Tests.Postgres;

/// <summary>
/// Binds the <see cref="PostgresServer"/> fixture to the "postgres" test collection.
/// </summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollectionDefinition : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}

/// <summary>
/// The "postgres" collection's server: a <see cref="ThrowawayPostgres"/> with a database that has the
/// schema scripts from <c>silo-config/postgresql</c> applied. Stopped and deleted on dispose.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string DatabaseName = "orleans_test";
    private ThrowawayPostgres? _server;

    private ThrowawayPostgres Server => _server ?? throw new InvalidOperationException("The PostgreSQL server has not started.");

    /// <summary>Folder holding initdb, pg_ctl, postgres and psql.</summary>
    public string BinDirectory => Server.BinDirectory;

    /// <summary>Repository root (the folder holding Orleans.sln).</summary>
    public string RepositoryRoot { get; private set; } = string.Empty;

    /// <summary>Folder with the schema scripts, applied in file-name order.</summary>
    public string SchemaDirectory => Path.Combine(RepositoryRoot, "silo-config", "postgresql");

    public int Port => Server.Port;

    /// <summary>Npgsql connection string of the test database (schema applied).</summary>
    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        RepositoryRoot = FindRepositoryRoot();
        var bin = ThrowawayPostgres.FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) were not found in "
            + string.Join(", ", ThrowawayPostgres.BinaryCandidates())
            + ". Install PostgreSQL 15 with `apt-get install -y postgresql` (or point OCAPDGC_PG_BIN at its bin folder).");

        // A deliberately odd server time zone: any timestamp that Orleans and the schema exchange
        // without an explicit UTC offset would be shifted and break the tests.
        _server = await ThrowawayPostgres.StartAsync(bin, "timezone=Pacific/Chatham").ConfigureAwait(false);
        await CreateDatabaseAsync(DatabaseName).ConfigureAwait(false);
        ConnectionString = BuildConnectionString(DatabaseName);
        await ApplySchemaAsync(DatabaseName).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Connection string of another database on this server.</summary>
    public string BuildConnectionString(string database) => Server.BuildConnectionString(database);

    /// <summary>libpq (psql) form of the connection to a database on this server.</summary>
    public string BuildLibpqConnection(string database) => Server.BuildLibpqConnection(database);

    public Task CreateDatabaseAsync(string database) => Server.CreateDatabaseAsync(database);

    /// <summary>Applies every schema script with psql, one transaction per script.</summary>
    public Task ApplySchemaAsync(string database) => Server.ApplySchemaAsync(database, SchemaDirectory);

    /// <summary>The folder holding Orleans.sln, found above the test assembly.</summary>
    public static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No folder holding Orleans.sln above {AppContext.BaseDirectory}.");
    }
}
