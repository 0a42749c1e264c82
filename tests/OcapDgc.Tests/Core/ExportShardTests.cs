namespace OcapDgc.Tests.Core;

/// <summary>
/// A kernel's export shards: an object exported to one remote is kept by its shard, in its export grain's row,
/// without activating that grain; a send to a second remote hands the row to the export grain, which then counts
/// across remotes; a shard refuses bad input changing nothing, and decides again on the stored row when another
/// activation wrote it since.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class ExportShardTests(DgcClusterFixture fx)
{
    private async Task<bool> ActiveAsync(IAddressable grain)
    {
        var stats = await fx.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Any(s => s.GrainId == grain.GetGrainId());
    }

    [Fact]
    public async Task An_export_to_one_remote_stays_with_its_shard_and_a_second_remote_hands_it_to_its_export_grain()
    {
        var (a, b, c, o) = await SentToOneOfTwoAsync();

        var export = a.Export(o);
        var row = await fx.ExportRowAsync(export);
        Assert.True(row.RecordExists);
        Assert.False(row.State!.Shared, "one remote, yet the row is the export grain's");
        Assert.Equal(1, row.State.Holds[b.Id].Count);
        Assert.False(await ActiveAsync(export), "an export to one remote activated its export grain");

        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(a, b, c);
        row = await fx.ExportRowAsync(export);
        Assert.True(row.State!.Shared, "a second remote recognizes it, yet the shard still owns the row");
        Assert.Equal([1L, 1L], [row.State.Holds[b.Id].Count, row.State.Holds[c.Id].Count]);

        // Counted across remotes by the export grain: b's release leaves it reachable through c.
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b, c);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
        Assert.True((await export.GetSnapshotAsync()).Reachable);

        await c.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b, c);
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.False((await fx.ExportRowAsync(export)).RecordExists, "the retired export left its row");
        await fx.AssertNothingLeftAsync(a, b, c);
    }

    [Fact]
    public async Task An_export_retired_by_its_only_remote_leaves_no_row_and_no_activation()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        await fx.ReleaseAllAsync(b, a);

        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.False((await fx.ExportRowAsync(a.Export(o))).RecordExists);
        Assert.False(await ActiveAsync(a.Export(o)));
    }

    [Fact]
    public async Task A_shard_refuses_bad_input_and_changes_nothing()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var shard = a.ExportShard(o);
        var other = Enumerable.Range(1, 200).Select(i => $"ko{i}").First(k => DgcIds.ExportShardOf(k) != DgcIds.ExportShardOf(o));
        var before = (await fx.ExportRowAsync(a.Export(o))).ETag;

        var wrongShard = await Assert.ThrowsAsync<ArgumentException>(() => shard.RecordSentAsync(b.Id, [o, other], [1, 1]));
        Assert.Contains($"{other} belongs to export shard", wrongShard.Message, StringComparison.Ordinal);
        var twice = await Assert.ThrowsAsync<ArgumentException>(() => shard.ExpireRemoteAsync(b.Id, [o, o]));
        Assert.Contains("named twice", twice.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => shard.ReleaseLostSendsAsync(b.Id, [o], [true, false]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => shard.RecordSentAsync(b.Id, [o], [0]));
        await Assert.ThrowsAsync<ArgumentException>(() => shard.ApplyAsync(b.Id, 1, 1, [new ExportOps(o, [Wire.DgcOpKind.DropRef], [])]));
        await Assert.ThrowsAsync<ArgumentException>(() => shard.ExpireRemoteAsync("not a kernel/id", [o]));
        await Assert.ThrowsAsync<ArgumentException>(() => shard.GetStoredSnapshotsAsync(["kp3"]));

        Assert.Equal(before, (await fx.ExportRowAsync(a.Export(o))).ETag);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_shard_whose_cached_row_is_old_decides_again_on_the_stored_row()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var shard = a.ExportShard(o);
        var export = a.Export(o);

        // Another activation of the shard (one Orleans kept after a silo died) counted a second send to b since.
        var row = await fx.ExportRowAsync(export);
        row.State!.Holds[b.Id].Count = 2;
        await fx.WriteExportRowAsync(export, row);

        // This activation's cached row says 1: its write is refused on the ETag, and it counts again on the stored 2.
        await shard.RecordSentAsync(b.Id, [o], [1]);
        Assert.Equal(3, (await fx.ExportRowAsync(export)).State!.Holds[b.Id].Count);

        // Undo the counts this test made up, so the pair can be released as usual.
        row = await fx.ExportRowAsync(export);
        row.State!.Holds[b.Id].Count = 1;
        await fx.WriteExportRowAsync(export, row);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_shard_that_has_not_cached_a_row_counts_a_send_on_the_row_already_stored()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var shard = a.ExportShard(o);
        var export = a.Export(o);

        // A fresh activation of the shard has no row cached; since the first one counted o's send to b, another
        // activation counted a second one.
        await fx.DeactivateAsync(shard);
        var row = await fx.ExportRowAsync(export);
        row.State!.Holds[b.Id].Count = 2;
        await fx.WriteExportRowAsync(export, row);
        var stored = row.ETag;

        // The shard first takes o for a fresh export and creates its row without reading it: the storage refuses
        // that write (a row is stored), and the send is counted on the stored 2.
        await shard.RecordSentAsync(b.Id, [o], [1]);
        row = await fx.ExportRowAsync(export);
        Assert.NotEqual(stored, row.ETag);
        Assert.Equal(3, row.State!.Holds[b.Id].Count);
        Assert.False(row.State!.Shared);

        // Undo the counts this test made up, so the pair can be released as usual.
        row.State!.Holds[b.Id].Count = 1;
        await fx.WriteExportRowAsync(export, row);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_hand_over_whose_call_to_the_export_grain_fails_counts_the_send_once_when_it_is_sent_again()
    {
        var (a, b, c, o) = await SentToOneOfTwoAsync();

        // The shard marks the row shared, then its call to the export grain fails (as when that grain's silo dies).
        var failed = fx.ExportFaults.Failed;
        fx.ExportFaults.FailCallsTo(nameof(Internal.IExportGrain.RecordSentAsync), pass: 1, fail: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => a.Grain.SendAsync(c.Id, [o]));
        Assert.Equal(failed + 1, fx.ExportFaults.Failed);
        var row = await fx.ExportRowAsync(a.Export(o));
        Assert.True(row.State!.Shared, "the hand-over was not written before the call");
        Assert.False(row.State.Holds.ContainsKey(c.Id), "a send that failed was counted");

        // Sent again: counted once, by the export grain.
        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(a, b, c);
        row = await fx.ExportRowAsync(a.Export(o));
        Assert.Equal([1L, 1L], [row.State!.Holds[b.Id].Count, row.State.Holds[c.Id].Count]);

        await b.Grain.DropAllAsync(a.Id, retire: true);
        await c.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b, c);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b, c);
    }

    /// <summary>Three fresh kernels, after a sent one new object <c>O</c> to b (not to c) and everything settled.</summary>
    private async Task<(Kernel A, Kernel B, Kernel C, string O)> SentToOneOfTwoAsync()
    {
        var k = await fx.NewKernelsAsync("a", "b", "c");
        var o = await k[0].CreateAsync();
        await k[0].Grain.SendAsync(k[1].Id, [o]);
        await fx.SettleAsync(k[0], k[1]);
        return (k[0], k[1], k[2], o);
    }
}
