using OcapDgc.Hosting;
using OcapDgc.Storage;
using Orleans.Storage;

namespace OcapDgc.Tests.Core;

/// <summary>
/// Two activations of one remote handle over the same rows (Orleans can keep a duplicate for a while after
/// a silo dies), run against each of the DGC's storages: once one of them wrote, the other can write
/// nothing, neither interleaving its changes with the first one's nor leaving a row behind its clear.
/// </summary>
internal static class DuplicateJournalScenarios
{
    /// <summary>Every scenario by name: each storage's tests run them all.</summary>
    public static readonly IReadOnlyDictionary<string, Func<IGrainStorage, Task>> All = new Dictionary<string, Func<IGrainStorage, Task>>
    {
        [nameof(A_duplicate_cannot_write_after_the_other_cleared)] = A_duplicate_cannot_write_after_the_other_cleared,
        [nameof(A_duplicate_cannot_overwrite_the_other_ones_entries)] = A_duplicate_cannot_overwrite_the_other_ones_entries,
        [nameof(Only_the_activation_that_wrote_last_is_current)] = Only_the_activation_that_wrote_last_is_current,
    };

    /// <summary>
    /// The first activation clears the pair; the duplicate's next write (an entry, by its own account) is
    /// refused, and no row is left.
    /// </summary>
    public static async Task A_duplicate_cannot_write_after_the_other_cleared(IGrainStorage storage)
    {
        var id = GrainId.Create("remote", "alice/bob-" + Guid.NewGuid().ToString("N")[..8]);
        Func<Task<int>> rows = () => RowsOfAsync(storage, id);
        var first = new PairJournal(new GrainPairRows(storage, id));
        var state = await first.LoadAsync();
        state.NextSeq = 1;
        await first.WriteAsync(state);
        state.NextSeq = 2;
        await first.WriteAsync(state);
        Assert.Equal(2, await rows()); // a snapshot and an entry

        var duplicate = new PairJournal(new GrainPairRows(storage, id));
        var stale = await duplicate.LoadAsync();
        Assert.Equal(2, stale.NextSeq);

        await first.ClearAsync();
        Assert.Equal(0, await rows());

        stale.NextSeq = 3;
        await Assert.ThrowsAsync<InconsistentStateException>(() => duplicate.WriteAsync(stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => duplicate.WriteAsync(stale));
        Assert.Equal(0, await rows());
    }

    /// <summary>
    /// Both activations read the same state; the first appends an entry. The duplicate's entry collides and
    /// its snapshot after that is refused too, so the first one's change is what a later load reads.
    /// </summary>
    public static async Task A_duplicate_cannot_overwrite_the_other_ones_entries(IGrainStorage storage)
    {
        var id = GrainId.Create("remote", "alice/carol-" + Guid.NewGuid().ToString("N")[..8]);
        var first = new PairJournal(new GrainPairRows(storage, id));
        var state = await first.LoadAsync();
        state.NextSeq = 10;
        await first.WriteAsync(state);

        var duplicate = new PairJournal(new GrainPairRows(storage, id));
        var stale = await duplicate.LoadAsync();

        state.NextSeq = 11;
        await first.WriteAsync(state);

        stale.NextSeq = 99;
        await Assert.ThrowsAsync<InconsistentStateException>(() => duplicate.WriteAsync(stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => duplicate.WriteAsync(stale)); // a snapshot, after the failure

        var reader = new PairJournal(new GrainPairRows(storage, id));
        Assert.Equal(11, (await reader.LoadAsync()).NextSeq);

        // The first activation goes on as if nothing happened.
        state.NextSeq = 12;
        await first.WriteAsync(state);
        Assert.Equal(12, (await new PairJournal(new GrainPairRows(storage, id)).LoadAsync()).NextSeq);
        await first.ClearAsync();
        Assert.Equal(0, await RowsOfAsync(storage, id));
    }

    /// <summary>
    /// Each activation can ask whether it still owns the rows (before it tells its kernel anything that waited from
    /// earlier): only the one that wrote last does, also after it cleared them.
    /// </summary>
    public static async Task Only_the_activation_that_wrote_last_is_current(IGrainStorage storage)
    {
        var id = GrainId.Create("remote", "alice/dave-" + Guid.NewGuid().ToString("N")[..8]);
        var first = new PairJournal(new GrainPairRows(storage, id));
        var state = await first.LoadAsync();
        Assert.True(await first.IsCurrentAsync()); // nothing stored, nothing known
        state.NextSeq = 1;
        await first.WriteAsync(state);

        var duplicate = new PairJournal(new GrainPairRows(storage, id));
        await duplicate.LoadAsync();
        Assert.True(await first.IsCurrentAsync());
        Assert.True(await duplicate.IsCurrentAsync());

        state.NextSeq = 2;
        await first.WriteAsync(state); // an entry, fenced by the snapshot row: its ETag changes
        Assert.True(await first.IsCurrentAsync());
        Assert.False(await duplicate.IsCurrentAsync());

        await first.ClearAsync();
        Assert.True(await first.IsCurrentAsync());
        Assert.False(await duplicate.IsCurrentAsync());
    }

    /// <summary>The rows stored for handle <paramref name="id"/>: its snapshot and its first entries (the scenarios write no more).</summary>
    private static async Task<int> RowsOfAsync(IGrainStorage storage, GrainId id)
    {
        var head = new GrainState<PairState>();
        await storage.ReadStateAsync(DgcStateNames.RemoteHandle, id, head);
        var n = head.RecordExists ? 1 : 0;
        for (var i = 1; i <= 16; i++)
        {
            var entry = new GrainState<PairDelta>();
            await storage.ReadStateAsync(DgcStateNames.RemoteHandleEntry(i), id, entry);
            n += entry.RecordExists ? 1 : 0;
        }

        return n;
    }
}
