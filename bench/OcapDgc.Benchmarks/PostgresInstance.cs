using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace OcapDgc.Benchmarks;

/// <summary>
/// A throwaway PostgreSQL server for item 8: a fresh cluster in a temporary folder on a free loopback
/// port (run as the <c>postgres</c> user when we are root), with the repository's schema scripts
/// applied. Durability is switched off (fsync, synchronous commit): the figures show the DGC's cost on
/// the database, not the disk's. Stopped and deleted on dispose.
/// </summary>
internal sealed class PostgresInstance : IAsyncDisposable
{
    private const string Database = "ocapdgc_bench";
    private readonly string _root;
    private readonly string _bin;
    private bool _running;

    private PostgresInstance(string root, string bin, int port)
    {
        _root = root;
        _bin = bin;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => Connection(Database);

    public string DataDirectory => Path.Combine(_root, "data");

    /// <summary>The folder with initdb and pg_ctl, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries()
    {
        var dirs = new List<string>();
        if (Environment.GetEnvironmentVariable("OCAPDGC_PG_BIN") is { Length: > 0 } configured)
        {
            dirs.Add(configured);
        }

        dirs.Add("/usr/lib/postgresql/15/bin");
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            dirs.AddRange(Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")));
        }

        return dirs.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    public static async Task<PostgresInstance> StartAsync(string bin, string schemaDirectory)
    {
        var root = Path.Combine(Path.GetTempPath(), "ocapdgc-bench-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var pg = new PostgresInstance(root, bin, FreePort());
        try
        {
            await pg.InitAndStartAsync();
            await pg.CreateDatabaseAndSchemaAsync(schemaDirectory);
            return pg;
        }
        catch
        {
            await pg.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (_running)
            {
                await ToolAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
            }
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>Rows and payload bytes of the grain storage table.</summary>
    public async Task<(long Rows, long Bytes)> StorageTotalsAsync()
    {
        await using var db = new NpgsqlConnection(ConnectionString);
        await db.OpenAsync();
        await using var q = new NpgsqlCommand("SELECT count(*), coalesce(sum(octet_length(payloadbinary)), 0) FROM orleansstorage", db);
        await using var r = await q.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.GetInt64(1));
    }

    private async Task InitAndStartAsync()
    {
        if (IsRoot)
        {
            // initdb and postgres refuse to run as root.
            await RunAsync("chown", "postgres:postgres", _root);
        }

        await ToolAsync("initdb", "-D", DataDirectory, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync");
        var settings = $"-c listen_addresses=127.0.0.1 -c port={Port} -c unix_socket_directories={_root} "
            + "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200";
        await ToolAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o", settings, "start");
        _running = true;
    }

    private async Task CreateDatabaseAndSchemaAsync(string schemaDirectory)
    {
        await using (var admin = new NpgsqlConnection(Connection("postgres")))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Database}", admin);
            await create.ExecuteNonQueryAsync();
        }

        await using var db = new NpgsqlConnection(ConnectionString);
        await db.OpenAsync();
        foreach (var script in Directory.GetFiles(schemaDirectory, "*.sql").Order(StringComparer.Ordinal))
        {
            await using var tx = await db.BeginTransactionAsync();
            await using var apply = new NpgsqlCommand(await File.ReadAllTextAsync(script), db, tx);
            await apply.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }
    }

    private string Connection(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = "postgres",
        MaxPoolSize = 100,
    }.ConnectionString;

    private static bool IsRoot => Environment.UserName == "root";

    private Task ToolAsync(string tool, params string[] args) => IsRoot
        ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args])
        : RunAsync(Path.Combine(_bin, tool), args);

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(timeout.Token);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {await output}{await errors}");
        }
    }

    private static int FreePort()
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
