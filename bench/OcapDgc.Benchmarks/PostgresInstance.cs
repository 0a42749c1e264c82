using Npgsql;
using OcapDgc.Testing;

namespace OcapDgc.Benchmarks;

/// <summary>
/// The database of item 8: a <see cref="ThrowawayPostgres"/> (the tests' throwaway server, durability
/// off, so the figures show the DGC's cost on the database, not the disk's) with one database that has
/// the repository's schema scripts applied. Stopped and deleted on dispose.
/// </summary>
internal sealed class PostgresInstance : IAsyncDisposable
{
    private const string Database = "ocapdgc_bench";
    private readonly ThrowawayPostgres _server;

    private PostgresInstance(ThrowawayPostgres server)
    {
        _server = server;
        ConnectionString = server.BuildConnectionString(Database, maxPoolSize: 100);
    }

    public string ConnectionString { get; }

    /// <summary>The folder with the PostgreSQL server binaries, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries() => ThrowawayPostgres.FindBinaries();

    public static async Task<PostgresInstance> StartAsync(string bin, string schemaDirectory)
    {
        var server = await ThrowawayPostgres.StartAsync(bin, "max_connections=200");
        try
        {
            await server.CreateDatabaseAsync(Database);
            await server.ApplySchemaAsync(Database, schemaDirectory);
            return new PostgresInstance(server);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>Rows and payload bytes of the DGC storage table (<c>dgc_state</c>).</summary>
    public async Task<(long Rows, long Bytes)> StorageTotalsAsync()
    {
        await using var db = new NpgsqlConnection(ConnectionString);
        await db.OpenAsync();
        await using var q = new NpgsqlCommand("SELECT count(*), coalesce(sum(octet_length(payload)), 0) FROM dgc_state", db);
        await using var r = await q.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.GetInt64(1));
    }
}
