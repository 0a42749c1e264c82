using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
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
/// A throwaway PostgreSQL server for tests: a fresh cluster in a temporary folder,
/// listening on a free loopback port only, with a database that has the schema scripts
/// from <c>silo-config/postgresql</c> applied. Stopped and deleted on dispose.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string DatabaseName = "orleans_test";
    private const string SuperUser = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    private string? _rootDir;
    private string? _dataDir;
    private bool _started;

    /// <summary>Folder holding initdb, pg_ctl, postgres and psql.</summary>
    public string BinDirectory { get; private set; } = string.Empty;

    /// <summary>Repository root (the folder holding Orleans.sln).</summary>
    public string RepositoryRoot { get; private set; } = string.Empty;

    /// <summary>Folder with the schema scripts, applied in file-name order.</summary>
    public string SchemaDirectory => Path.Combine(RepositoryRoot, "silo-config", "postgresql");

    public int Port { get; private set; }

    /// <summary>Npgsql connection string of the test database (schema applied).</summary>
    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        RepositoryRoot = FindRepositoryRoot();
        BinDirectory = FindPostgresBinaries();
        Port = FindFreeLoopbackPort();

        _rootDir = Path.Combine(Path.GetTempPath(), "ocapdgc-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_rootDir);
        _dataDir = Path.Combine(_rootDir, "data");
        if (RunningAsRoot)
        {
            // initdb and postgres refuse to run as root: the server runs as the postgres OS user.
            await RunAsync("chown", ["postgres:postgres", _rootDir]).ConfigureAwait(false);
        }

        await RunServerToolAsync("initdb",
        [
            "-D", _dataDir, "-U", SuperUser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        ]).ConfigureAwait(false);

        var serverOptions = string.Join(' ',
            "-c listen_addresses=127.0.0.1",
            $"-c port={Port}",
            $"-c unix_socket_directories={_rootDir}",
            // A deliberately odd server time zone: any timestamp that Orleans and the schema
            // exchange without an explicit UTC offset would be shifted and break the tests.
            "-c timezone=Pacific/Chatham",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off");
        await RunServerToolAsync("pg_ctl",
        [
            "-D", _dataDir, "-l", Path.Combine(_rootDir, "server.log"), "-w", "-t", "60", "-o", serverOptions, "start",
        ]).ConfigureAwait(false);
        _started = true;

        await CreateDatabaseAsync(DatabaseName).ConfigureAwait(false);
        ConnectionString = BuildConnectionString(DatabaseName);
        await ApplySchemaAsync(DatabaseName).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (_started && _dataDir is not null)
            {
                await RunServerToolAsync("pg_ctl", ["-D", _dataDir, "-m", "immediate", "-w", "stop"]).ConfigureAwait(false);
            }
        }
        finally
        {
            if (_rootDir is not null && Directory.Exists(_rootDir))
            {
                Directory.Delete(_rootDir, recursive: true);
            }
        }
    }

    /// <summary>Connection string of another database on this server.</summary>
    public string BuildConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = SuperUser,
    }.ConnectionString;

    /// <summary>libpq (psql) form of the connection to a database on this server.</summary>
    public string BuildLibpqConnection(string database) =>
        $"host=127.0.0.1 port={Port} dbname={database} user={SuperUser}";

    public async Task CreateDatabaseAsync(string database)
    {
        await using var connection = new NpgsqlConnection(BuildConnectionString("postgres"));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Applies every schema script with psql, one transaction per script.</summary>
    public async Task ApplySchemaAsync(string database)
    {
        var scripts = Directory.GetFiles(SchemaDirectory, "*.sql").Order(StringComparer.Ordinal).ToArray();
        if (scripts.Length == 0)
        {
            throw new InvalidOperationException($"No schema scripts found in {SchemaDirectory}.");
        }

        foreach (var script in scripts)
        {
            await RunAsync(Path.Combine(BinDirectory, "psql"),
            [
                "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction",
                "--dbname", BuildLibpqConnection(database), "--file", script,
            ]).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a program and returns its output; throws with the output if it fails.</summary>
    public static async Task<string> RunAsync(
        string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                startInfo.Environment[key] = value;
            }
        }

        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', startInfo.ArgumentList)} did not finish within {CommandTimeout}.");
        }

        var output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', startInfo.ArgumentList)} exited with {process.ExitCode}:{Environment.NewLine}{output}");
        }

        return output;
    }

    private static bool RunningAsRoot => string.Equals(Environment.UserName, "root", StringComparison.Ordinal);

    private Task<string> RunServerToolAsync(string tool, IReadOnlyList<string> arguments)
    {
        var path = Path.Combine(BinDirectory, tool);
        return RunningAsRoot
            ? RunAsync("runuser", ["-u", "postgres", "--", path, .. arguments])
            : RunAsync(path, arguments);
    }

    private static string FindPostgresBinaries()
    {
        var candidates = new List<string>();
        var configured = Environment.GetEnvironmentVariable("OCAPDGC_PG_BIN");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            candidates.Add(configured);
        }

        candidates.Add("/usr/lib/postgresql/15/bin");
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var major) ? major : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        foreach (var dir in candidates)
        {
            if (new[] { "initdb", "pg_ctl", "postgres", "psql" }.All(tool => File.Exists(Path.Combine(dir, tool))))
            {
                return dir;
            }
        }

        throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) were not found in "
            + string.Join(", ", candidates)
            + ". Install PostgreSQL 15 with `apt-get install -y postgresql` (or point OCAPDGC_PG_BIN at its bin folder).");
    }

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

    /// <summary>A loopback TCP port nobody listens on right now.</summary>
    public static int FindFreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
