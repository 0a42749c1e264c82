using System.Collections.Concurrent;
using Npgsql;
using NpgsqlTypes;
using Orleans.Serialization;
using Orleans.Storage;

namespace OcapDgc.Storage;

/// <summary>
/// The DGC's grain storage on PostgreSQL, with group commit: reads, writes and deletes from all grains of
/// the silo queue up, and each round trip to the server carries as many of them as are waiting (up to
/// <see cref="MaxBatch"/>), in one transaction. A message that touches 500 export grains costs a few
/// round trips and commits, not 500. Each operation still checks its own ETag (the row's version, drawn
/// from one sequence so a version is never reused), and a write completes only once its transaction
/// committed. Rows live in the <c>dgc_state</c> table (<c>silo-config/postgresql/05-dgc-storage.sql</c>);
/// a cleared state deletes its row.
/// </summary>
public sealed class DgcPostgresGrainStorage : IGrainStorage, IDgcJournalStorage, IAsyncDisposable
{
    /// <summary>Most operations in one round trip.</summary>
    public const int MaxBatch = 1000;

    private const int MaxRoundTrips = 2;

    private readonly NpgsqlDataSource _dataSource;
    private readonly Serializer _serializer;
    private readonly string _serviceId;
    private readonly ConcurrentQueue<Op> _queue = new();
    private int _running;
    private long _roundTrips;
    private long _operations;

    /// <summary>Creates the storage over <paramref name="connectionString"/> for the cluster's <paramref name="serviceId"/>.</summary>
    public DgcPostgresGrainStorage(string connectionString, Serializer serializer, string serviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceId);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _serializer = serializer;
        _serviceId = serviceId;
    }

    /// <summary>Round trips (transactions) so far.</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    /// <summary>Operations carried so far.</summary>
    public long Operations => Interlocked.Read(ref _operations);

    /// <inheritdoc />
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var op = await RunAsync(new Op(OpKind.Read, grainId.ToString(), stateName, null, null)).ConfigureAwait(false);
        if (op.Payload is null)
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }

        grainState.State = _serializer.Deserialize<T>(op.Payload);
        grainState.ETag = Tag(op.Version);
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var key = grainId.ToString();
        var op = await RunAsync(new Op(OpKind.Write, key, stateName, Version(grainState.ETag), _serializer.SerializeToArray(grainState.State))).ConfigureAwait(false);
        if (op.Version is null)
        {
            throw new InconsistentStateException($"ETag mismatch writing {stateName} of {key}: the state changed since this activation read it.", "unknown", grainState.ETag ?? "none");
        }

        grainState.ETag = Tag(op.Version);
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var key = grainId.ToString();
        if (grainState.ETag is null)
        {
            // Nothing stored as far as this activation knows.
            grainState.RecordExists = false;
            return;
        }

        var op = await RunAsync(new Op(OpKind.Clear, key, stateName, Version(grainState.ETag), null)).ConfigureAwait(false);
        if (op.Version is null)
        {
            throw new InconsistentStateException($"ETag mismatch clearing {stateName} of {key}: the state changed since this activation read it.", "unknown", grainState.ETag);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    /// <inheritdoc />
    public async Task AppendAsync<THead, TEntry>(GrainId grainId, string headName, IGrainState<THead> head, string entryName, IGrainState<TEntry> entry)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(entry);
        var key = grainId.ToString();
        if (head.ETag is null)
        {
            throw new InconsistentStateException($"Cannot append {entryName} of {key}: this activation has no {headName} row to fence it with.", "unknown", "none");
        }

        var op = await RunAsync(new Op(OpKind.Append, key, headName, Version(head.ETag), _serializer.SerializeToArray(entry.State), entryName)).ConfigureAwait(false);
        if (op.Version is null)
        {
            throw new InconsistentStateException($"ETag mismatch appending {entryName} of {key}: {headName} changed since this activation read or wrote it.", "unknown", head.ETag);
        }

        head.ETag = Tag(op.Version);
        entry.ETag = Tag(op.EntryVersion);
        entry.RecordExists = true;
    }

    /// <inheritdoc />
    public async Task<string?> ReadTagAsync(string stateName, GrainId grainId)
    {
        var op = await RunAsync(new Op(OpKind.Read, grainId.ToString(), stateName, null, null)).ConfigureAwait(false);
        return op.Payload is null ? null : Tag(op.Version);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static string? Tag(long? version) => version?.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static long? Version(string? etag) =>
        etag is null ? null : long.TryParse(etag, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1;

    private Task<Op> RunAsync(Op op)
    {
        _queue.Enqueue(op);
        StartRoundTrip();
        return op.Done.Task;
    }

    private void StartRoundTrip()
    {
        while (true)
        {
            var running = Volatile.Read(ref _running);
            if (running >= MaxRoundTrips || _queue.IsEmpty)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _running, running + 1, running) == running)
            {
                _ = Task.Run(DrainAsync);
                return;
            }
        }
    }

    private async Task DrainAsync()
    {
        try
        {
            var ops = new List<Op>(MaxBatch);
            while (true)
            {
                ops.Clear();
                while (ops.Count < MaxBatch && _queue.TryDequeue(out var op))
                {
                    ops.Add(op);
                }

                if (ops.Count == 0)
                {
                    break;
                }

                try
                {
                    await ExecuteAsync(ops).ConfigureAwait(false);
                    foreach (var op in ops)
                    {
                        op.Done.TrySetResult(op);
                    }
                }
                catch (Exception e)
                {
                    foreach (var op in ops)
                    {
                        op.Done.TrySetException(e);
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            StartRoundTrip(); // an operation queued while this one was finishing
        }
    }

    private async Task ExecuteAsync(List<Op> ops)
    {
        await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var op in ops)
        {
            batch.BatchCommands.Add(Command(op));
        }

        await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
        {
            foreach (var op in ops)
            {
                if (await reader.ReadAsync().ConfigureAwait(false))
                {
                    op.Version = reader.GetInt64(0);
                    if (op.Kind == OpKind.Read)
                    {
                        op.Payload = (byte[])reader.GetValue(1);
                    }
                    else if (op.Kind == OpKind.Append)
                    {
                        op.EntryVersion = reader.GetInt64(1);
                    }
                }

                await reader.NextResultAsync().ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync().ConfigureAwait(false);
        Interlocked.Increment(ref _roundTrips);
        Interlocked.Add(ref _operations, ops.Count);
    }

    private NpgsqlBatchCommand Command(Op op)
    {
        var command = op.Kind switch
        {
            OpKind.Read => new NpgsqlBatchCommand(
                "SELECT version, payload FROM dgc_state WHERE service_id = $1 AND grain_id = $2 AND state_name = $3"),
            OpKind.Write when op.Expected is null => new NpgsqlBatchCommand(
                "INSERT INTO dgc_state (service_id, grain_id, state_name, version, payload) VALUES ($1, $2, $3, nextval('dgc_state_version'), $4) ON CONFLICT DO NOTHING RETURNING version"),
            OpKind.Write => new NpgsqlBatchCommand(
                "UPDATE dgc_state SET version = nextval('dgc_state_version'), payload = $4, modified_on = now() WHERE service_id = $1 AND grain_id = $2 AND state_name = $3 AND version = $5 RETURNING version"),

            // The head gets a new version only if it still has the expected one, and the entry is written only
            // if it did (no row from the CTE, no insert): one statement, so both or neither.
            OpKind.Append => new NpgsqlBatchCommand(
                """
                WITH head AS (
                    UPDATE dgc_state SET version = nextval('dgc_state_version'), modified_on = now()
                    WHERE service_id = $1 AND grain_id = $2 AND state_name = $3 AND version = $5
                    RETURNING version)
                INSERT INTO dgc_state (service_id, grain_id, state_name, version, payload)
                SELECT $1, $2, $6, nextval('dgc_state_version'), $4 FROM head
                ON CONFLICT (service_id, grain_id, state_name)
                    DO UPDATE SET version = EXCLUDED.version, payload = EXCLUDED.payload, modified_on = now()
                RETURNING (SELECT version FROM head), version
                """),
            _ => new NpgsqlBatchCommand(
                "DELETE FROM dgc_state WHERE service_id = $1 AND grain_id = $2 AND state_name = $3 AND version = $4 RETURNING version"),
        };
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = _serviceId });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = op.GrainId });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = op.StateName });
        switch (op.Kind)
        {
            case OpKind.Write or OpKind.Append:
                command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = op.Data! });
                if (op.Expected is { } expected)
                {
                    command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = expected });
                }

                if (op.Kind == OpKind.Append)
                {
                    command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = op.EntryName! });
                }

                break;
            case OpKind.Clear:
                command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = op.Expected!.Value });
                break;
        }

        return command;
    }

    private enum OpKind
    {
        Read,
        Write,
        Clear,
        Append,
    }

    /// <summary>One queued operation and, once its round trip is done, its result (<see cref="Version"/> null: not found, or an ETag mismatch; for an append, the head's).</summary>
    private sealed class Op(OpKind kind, string grainId, string stateName, long? expected, byte[]? data, string? entryName = null)
    {
        public string? EntryName => entryName;

        public long? EntryVersion { get; set; }

        public OpKind Kind => kind;

        public string GrainId => grainId;

        public string StateName => stateName;

        public long? Expected => expected;

        public byte[]? Data => data;

        public long? Version { get; set; }

        public byte[]? Payload { get; set; }

        public TaskCompletionSource<Op> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
