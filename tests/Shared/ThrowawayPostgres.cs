using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace OcapDgc.Testing;

/// <summary>
/// A throwaway PostgreSQL server, shared by the tests and the benchmark (this file is compiled into
/// both): a fresh cluster in a temporary folder, listening on a free loopback port only, run as the
/// <c>postgres</c> user when the caller is root (initdb and postgres refuse root). Durability is off
/// (fsync, synchronous commit, full-page writes): it measures and tests the DGC, not the disk.
/// Stopped and deleted on dispose.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    private const string SuperUser = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private static readonly string[] Tools = ["initdb", "pg_ctl", "postgres", "psql"];
    private readonly string _root;
    private bool _running;

    private ThrowawayPostgres(string root, string binDirectory, int port)
    {
        _root = root;
        BinDirectory = binDirectory;
        Port = port;
    }

    /// <summary>Folder holding initdb, pg_ctl, postgres and psql.</summary>
    public string BinDirectory { get; }

    /// <summary>The loopback port the server listens on.</summary>
    public int Port { get; }

    /// <summary>Where to look for the server binaries: <c>OCAPDGC_PG_BIN</c>, then PostgreSQL 15, then any other version, newest first.</summary>
    public static IReadOnlyList<string> BinaryCandidates()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("OCAPDGC_PG_BIN") is { Length: > 0 } configured)
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

        return candidates;
    }

    /// <summary>The first candidate folder with every server binary, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries() =>
        BinaryCandidates().FirstOrDefault(dir => Tools.All(tool => File.Exists(Path.Combine(dir, tool))));

    /// <summary>Creates and starts a server; <paramref name="settings"/> are extra <c>-c name=value</c> server settings.</summary>
    public static async Task<ThrowawayPostgres> StartAsync(string binDirectory, params string[] settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var root = Path.Combine(Path.GetTempPath(), "ocapdgc-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var server = new ThrowawayPostgres(root, binDirectory, FindFreeLoopbackPort());
        try
        {
            await server.InitAndStartAsync(settings).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the server and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (_running)
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]).ConfigureAwait(false);
            }
        }
        finally
        {
            if (Directory.Exists(_root))
            {
                Directory.Delete(_root, recursive: true);
            }
        }
    }

    /// <summary>Npgsql connection string of a database on this server.</summary>
    public string BuildConnectionString(string database, int? maxPoolSize = null)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Database = database, Username = SuperUser };
        if (maxPoolSize is { } size)
        {
            builder.MaxPoolSize = size;
        }

        return builder.ConnectionString;
    }

    /// <summary>libpq (psql) form of the connection to a database on this server.</summary>
    public string BuildLibpqConnection(string database) =>
        $"host=127.0.0.1 port={Port} dbname={database} user={SuperUser}";

    /// <summary>Creates an empty database.</summary>
    public async Task CreateDatabaseAsync(string database)
    {
        await using var connection = new NpgsqlConnection(BuildConnectionString("postgres"));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Applies every schema script of <paramref name="schemaDirectory"/> with psql, in file-name order, one transaction per script.</summary>
    public async Task ApplySchemaAsync(string database, string schemaDirectory)
    {
        var scripts = Directory.GetFiles(schemaDirectory, "*.sql").Order(StringComparer.Ordinal).ToArray();
        if (scripts.Length == 0)
        {
            throw new InvalidOperationException($"No schema scripts found in {schemaDirectory}.");
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

    /// <summary>Runs a program and returns its output; throws with the output if it fails or takes longer than 90 s.</summary>
    public static async Task<string> RunAsync(
        string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
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

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
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

    private string DataDirectory => Path.Combine(_root, "data");

    private static bool RunningAsRoot => string.Equals(Environment.UserName, "root", StringComparison.Ordinal);

    private async Task InitAndStartAsync(string[] settings)
    {
        if (RunningAsRoot)
        {
            await RunAsync("chown", ["postgres:postgres", _root]).ConfigureAwait(false);
        }

        await RunToolAsync("initdb", ["-D", DataDirectory, "-U", SuperUser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]).ConfigureAwait(false);
        var options = string.Join(' ', new[]
        {
            "-c listen_addresses=127.0.0.1",
            $"-c port={Port}",
            $"-c unix_socket_directories={_root}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        }.Concat(settings.Select(s => "-c " + s)));
        await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o", options, "start"]).ConfigureAwait(false);
        _running = true;
    }

    private Task<string> RunToolAsync(string tool, IReadOnlyList<string> arguments)
    {
        var path = Path.Combine(BinDirectory, tool);
        return RunningAsRoot
            ? RunAsync("runuser", ["-u", SuperUser, "--", path, .. arguments])
            : RunAsync(path, arguments);
    }
}
