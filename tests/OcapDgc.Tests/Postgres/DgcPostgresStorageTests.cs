using Npgsql;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using Orleans.Serialization;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace OcapDgc.Tests.Postgres;

/// <summary>
/// The DGC's PostgreSQL storage with group commit, on a real server: copies in and out, ETags checked per
/// operation even inside a shared round trip, a cleared state deletes its row, and many grains' writes at
/// once share round trips.
/// </summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed class DgcPostgresStorageTests(PostgresServer server)
{
    private static readonly Serializer Serializer = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(ExportState).Assembly)).BuildServiceProvider().GetRequiredService<Serializer>();

    private DgcPostgresGrainStorage NewStorage(string serviceId) => new(server.ConnectionString, Serializer, serviceId);

    /// <summary>A service id of its own, so each test counts only its own rows.</summary>
    private static string NewServiceId() => "pg-store-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_state_reads_back_as_written_and_a_clear_deletes_its_row()
    {
        var service = NewServiceId();
        await using var storage = NewStorage(service);
        var id = GrainId.Create("export", "alice/ko1");
        var state = new ExportState();
        state.Holds["bob"] = new RemoteHold { Count = 3 };
        var written = new GrainState<ExportState>(state);
        await storage.WriteStateAsync(DgcStateNames.Export, id, written);
        Assert.Equal(1, await RowsAsync(service));

        var read = new GrainState<ExportState>(new ExportState());
        await storage.ReadStateAsync(DgcStateNames.Export, id, read);
        Assert.True(read.RecordExists);
        Assert.Equal(3, read.State!.Holds["bob"].Count);
        Assert.Equal(written.ETag, read.ETag);

        await storage.ClearStateAsync(DgcStateNames.Export, id, read);
        Assert.False(read.RecordExists);
        Assert.Equal(0, await RowsAsync(service));
        var gone = new GrainState<ExportState>(new ExportState());
        await storage.ReadStateAsync(DgcStateNames.Export, id, gone);
        Assert.False(gone.RecordExists);
    }

    [Fact]
    public async Task A_stale_etag_is_refused_and_changes_nothing_also_across_a_delete_and_a_new_row()
    {
        var service = NewServiceId();
        await using var storage = NewStorage(service);
        var id = GrainId.Create("export", "alice/ko2");
        var first = new GrainState<ExportState>(new ExportState());
        await storage.WriteStateAsync(DgcStateNames.Export, id, first);
        var stale = new GrainState<ExportState>(new ExportState()) { ETag = first.ETag };
        await storage.WriteStateAsync(DgcStateNames.Export, id, first);

        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(DgcStateNames.Export, id, stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(DgcStateNames.Export, id, stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(DgcStateNames.Export, id, new GrainState<ExportState>(new ExportState())));

        // Deleted and written anew: the old ETag names nothing (versions are never reused).
        await storage.ClearStateAsync(DgcStateNames.Export, id, first);
        var again = new GrainState<ExportState>(new ExportState());
        await storage.WriteStateAsync(DgcStateNames.Export, id, again);
        Assert.NotEqual(stale.ETag, again.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(DgcStateNames.Export, id, stale));
        await storage.ClearStateAsync(DgcStateNames.Export, id, again);
        Assert.Equal(0, await RowsAsync(service));
    }

    [Fact]
    public async Task Writes_of_many_grains_at_once_share_round_trips_and_each_lands()
    {
        var service = NewServiceId();
        await using var storage = NewStorage(service);
        var states = Enumerable.Range(0, 2_000).Select(i => (Id: GrainId.Create("export", $"alice/ko{i}"), State: new GrainState<ExportState>(new ExportState()))).ToList();
        foreach (var (_, s) in states)
        {
            s.State!.Holds["bob"] = new RemoteHold { Count = 1 };
        }

        await Task.WhenAll(states.Select(s => storage.WriteStateAsync(DgcStateNames.Export, s.Id, s.State)));

        Assert.Equal(2_000, await RowsAsync(service));
        Assert.Equal(2_000, storage.Operations);
        Assert.True(storage.RoundTrips < 200, $"{storage.RoundTrips} round trips for 2,000 writes at once");
        await Task.WhenAll(states.Select(s => storage.ClearStateAsync(DgcStateNames.Export, s.Id, s.State)));
        Assert.Equal(0, await RowsAsync(service));
    }

    /// <summary>Each duplicate-handle scenario (<see cref="Core.DuplicateJournalScenarios"/>).</summary>
    public static TheoryData<string> DuplicateScenarios => [.. Core.DuplicateJournalScenarios.All.Keys];

    [Theory]
    [MemberData(nameof(DuplicateScenarios))]
    public async Task A_duplicate_handle_activation_cannot_write_over_the_one_that_wrote_last(string scenario)
    {
        var service = NewServiceId();
        await using var storage = NewStorage(service);
        await Core.DuplicateJournalScenarios.All[scenario](storage);
        Assert.Equal(0, await RowsAsync(service));
    }

    [Fact]
    public async Task Each_write_stamps_the_row_with_the_time_it_was_written()
    {
        var service = NewServiceId();
        await using var storage = NewStorage(service);
        var id = GrainId.Create("export", "alice/ko9");
        var state = new GrainState<ExportState>(new ExportState());
        await storage.WriteStateAsync(DgcStateNames.Export, id, state);
        var first = await ModifiedOnAsync(service);

        // The server's clock moves on between two transactions (now() is the transaction's start).
        await storage.WriteStateAsync(DgcStateNames.Export, id, state);
        Assert.True(await ModifiedOnAsync(service) > first, "an update kept the time of the row's first write");
    }

    private async Task<DateTime> ModifiedOnAsync(string service) => (DateTime)await ScalarAsync("SELECT modified_on FROM dgc_state WHERE service_id = @s", service);

    private async Task<long> RowsAsync(string service) => (long)await ScalarAsync("SELECT count(*) FROM dgc_state WHERE service_id = @s", service);

    /// <summary>The one value <paramref name="sql"/> selects, with <c>@s</c> the service id.</summary>
    private async Task<object> ScalarAsync(string sql, string service)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("s", service);
        return (await command.ExecuteScalarAsync())!;
    }
}
