using OcapDgc.Hosting;
using Orleans.Storage;

namespace OcapDgc.Tests.Core;

/// <summary>
/// An export shard or a remote handle answering from a state older than what is stored (as a second activation
/// Orleans kept after a silo died would). A shard's call that would change nothing by its cached row looks at the
/// stored one first, so a hold another activation recorded is released, not left counted for good (and once that
/// row says a second remote made it shared, the call goes to the export grain); a handle delivers nothing that
/// waited from earlier once another activation wrote its rows.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class StaleActivationTests(DgcClusterFixture fx)
{
    /// <summary>
    /// Records a hold of <paramref name="remote"/> in the stored state only, as another activation of the shard would
    /// have: a second remote makes the row shared, owned by the export grain from then on.
    /// </summary>
    private async Task HoldBehindItsBackAsync(IAddressable export, string remote)
    {
        var row = await fx.ExportRowAsync(export);
        row.State!.Holds[remote] = new RemoteHold { Count = 1 };
        row.State.Shared = row.State.Holds.Count > 1;
        await fx.WriteExportRowAsync(export, row);
    }

    [Fact]
    public async Task A_session_end_releases_a_hold_the_activation_has_not_seen()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var export = a.Export(o);
        Assert.Equal(1, (await export.GetSnapshotAsync()).CountsByRemote[b.Id]);
        await HoldBehindItsBackAsync(export, "carol");

        var result = (await a.ExportShard(o).ExpireRemoteAsync("carol", [o]))[0];

        Assert.False((await fx.ExportRowAsync(export)).State!.Holds.ContainsKey("carol"), "carol's hold stayed counted");
        Assert.False(result.Replay, "answered as a repeat from the activation's own, older state");
        Assert.Equal(1, (await export.GetSnapshotAsync()).CountsByRemote[b.Id]);
        await fx.ReleaseAllAsync(b, a);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_release_of_lost_sends_releases_a_hold_the_activation_has_not_seen()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var export = a.Export(o);
        await export.GetSnapshotAsync();
        await HoldBehindItsBackAsync(export, "carol");

        await a.ExportShard(o).ReleaseLostSendsAsync("carol", [o], [true]);

        Assert.False((await fx.ExportRowAsync(export)).State!.Holds.ContainsKey("carol"), "carol's hold stayed counted");
        await fx.ReleaseAllAsync(b, a);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_waiting_dropped_is_checked_against_the_stored_state_and_withheld_when_another_activation_made_the_export_reachable()
    {
        // b drops o; a's kernel fails to hear it, so that "dropped" waits in the a->b outbox.
        var (a, b, o, fromB) = await fx.DroppedWaitingAsync();
        var export = a.Export(o);
        Assert.False((await export.GetSnapshotAsync()).Reachable);

        // Another activation of the export shard (one Orleans kept after a silo died) recorded a send to carol since:
        // stored, o is reachable again; this activation's cached row still says it is not.
        await HoldBehindItsBackAsync(export, "carol");
        await a.InternalHandleTo(b).CheckLeaseAsync(); // the waiting "dropped" is checked again before it is delivered
        await fx.IdleAsync();

        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
        Assert.True((await export.GetSnapshotAsync()).Reachable);

        await export.ExpireRemoteAsync("carol");
        await b.Grain.RetireAsync(a.Id, [fromB]);
        await fx.SettleAsync(a, b);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_handle_activation_whose_rows_another_one_wrote_delivers_no_waiting_effect_and_the_next_one_does()
    {
        // b drops o; a's kernel fails to hear it, so that "dropped" waits in the a->b outbox.
        var (a, b, _, fromB) = await fx.DroppedWaitingAsync();

        // Another activation of a's handle writes its rows (here: the same snapshot again, under a new ETag).
        var handle = a.HandleTo(b).GetGrainId();
        var row = new GrainState<PairState>();
        await fx.Store.ReadStateAsync(DgcStateNames.RemoteHandle, handle, row);
        await fx.Store.WriteStateAsync(DgcStateNames.RemoteHandle, handle, row);

        // This activation's next retry finds it no longer owns the rows: it tells the kernel nothing, and goes.
        await Assert.ThrowsAsync<InconsistentStateException>(() => a.InternalHandleTo(b).CheckLeaseAsync());
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        // The next call activates the handle afresh from the rows, and that activation delivers the waiting "dropped".
        await a.InternalHandleTo(b).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);

        await b.Grain.RetireAsync(a.Id, [fromB]);
        await fx.SettleAsync(a, b);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
