using OcapDgc.Hosting;
using OcapDgc.Internal;

namespace OcapDgc.Tests.Core;

/// <summary>
/// What a remote handle keeps across a reactivation (another silo after a crash, or an idle handle woken
/// again): which message last carried each export, and when the remote last renewed its lease.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class ReactivationTests(DgcClusterFixture fx)
{
    private static readonly TimeSpan Lease = DgcClusterFixture.Lease;

    [Fact]
    public async Task A_batch_whose_application_fails_part_way_is_applied_once_and_nothing_refused_when_resent()
    {
        var (a, b, objects) = await fx.PairSharingAsync(3);

        // b drops and retires all three in one batch; at a, the second export-grain call of its application fails
        // (as when that grain's silo dies), so the batch is applied to some exports only and not recorded. b resends
        // it: the exports that applied it skip it, the others apply it, and the handle changed nothing before.
        var failed = fx.ExportFaults.Failed;
        fx.ExportFaults.FailApplies(pass: 1, fail: 1);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
        Assert.Equal(failed + 1, fx.ExportFaults.Failed);

        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(0, figures.RejectedOps);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        // Every export is reported retired (an export the failed application had already released may be reported
        // only "retired", which says "dropped" too), none twice.
        var ledger = await a.LedgerAsync();
        Assert.Equal(3, ledger.ExportsRetired);
        Assert.Equal(0, ledger.ToldTwice);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_send_after_a_batch_failed_part_way_waits_for_that_batch_so_its_resend_cannot_release_the_new_hold()
    {
        var (a, b, objects) = await fx.PairSharingAsync(2);

        // b drops and retires both in one batch. At a, the first export's owner applies it (b forgot that object),
        // the second's call fails: the batch is applied in part and not recorded.
        var failed = fx.ExportFaults.Failed;
        fx.ExportFaults.FailApplies(pass: 1, fail: 1);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();
        Assert.Equal(failed + 1, fx.ExportFaults.Failed);

        // a sends both again before b resends the batch: b holds both anew.
        await a.Grain.SendAsync(b.Id, objects);
        await fx.SettleAsync(a, b);

        Assert.Equal(2, (await b.Grain.GetHeldImportsAsync(a.Id)).Length);
        foreach (var o in objects)
        {
            var snapshot = await a.Export(o).GetSnapshotAsync();
            Assert.True(snapshot.Reachable, $"{o} must stay reachable: b holds it again");
            Assert.Equal(1, snapshot.CountsByRemote.GetValueOrDefault(b.Id));
        }

        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(0, figures.RejectedOps);
        Assert.Equal(0, (await a.LedgerAsync()).Premature);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_message_lost_before_a_reactivation_is_fenced_off_and_only_its_sends_are_released()
    {
        var (a, b, kept) = await fx.PairSharingOneAsync();
        var lost = await a.CreateAsync();
        fx.Faults.DropNext(a.Id, b.Id);
        await a.Grain.SendAsync(b.Id, [lost]);
        await fx.IdleAsync();

        // a's handle moves (its record of the carrying message was written with the send).
        await fx.DeactivateAsync(a.HandleTo(b));
        await PingForALeaseAsync(b, a);

        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(1, figures.Reconciliations);
        Assert.Equal(0, figures.LeaseExpiries);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(lost).GetGrainId()));
        Assert.Equal(1, (await a.Export(kept).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await a.LedgerAsync()).Premature);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_remote_left_listed_by_a_handle_that_died_after_clearing_its_row_leaves_the_list_when_the_handle_next_wakes()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        await fx.ReleaseAllAsync(b, a);
        var before = await a.HandleTo(b).GetFiguresAsync();
        await fx.DeactivateAsync(a.HandleTo(b));

        // What a handle that dies between clearing its row and telling its manager leaves: the remote listed, no row.
        // (Opening a session lists the remote as the clear's last step would have unlisted it; the epoch it draws goes unused.)
        await a.ManagerInternal.RegisterRemoteAsync(b.Id);
        Assert.Single(await a.Manager.GetRemoteFiguresAsync()); // the read wakes the handle, too

        // The handle, woken with no row while listed, finishes the clear: the list is empty, what it recalled of b is kept.
        Assert.Empty(await a.Manager.GetRemoteFiguresAsync());
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, a.HandleTo(b).GetGrainId()));
        var after = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal((before.PeerStream, before.HighestAppliedInbound), (after.PeerStream, after.HighestAppliedInbound));
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_reactivated_handle_does_not_give_a_silent_remote_a_new_lease()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        // b falls silent. Three quarters of a lease on, a's handle is reactivated.
        fx.Clock.Advance(Lease * 0.75);
        await fx.DeactivateAsync(a.HandleTo(b));
        await a.InternalHandleTo(b).CheckLeaseAsync();
        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).LeaseExpiries);

        // A lease and a quarter after b's last word (the most the written renewal can be behind) it lapses,
        // though the new activation is only half a lease old.
        fx.Clock.Advance(Lease * 0.5 + TimeSpan.FromSeconds(1));
        await a.InternalHandleTo(b).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).LeaseExpiries);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));

        // b hears at its next contact that its import was revoked.
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
    }

    [Fact]
    public async Task A_handle_reactivated_while_the_remote_talks_keeps_its_lease_good()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        for (var i = 0; i < 6; i++)
        {
            // b pings every half lease; a's handle is reactivated in between each time.
            fx.Clock.Advance(Lease * 0.5);
            await b.InternalHandleTo(a).CheckLeaseAsync();
            await fx.IdleAsync();
            await fx.DeactivateAsync(a.HandleTo(b));
            await a.InternalHandleTo(b).CheckLeaseAsync();
        }

        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).LeaseExpiries);
        Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);
        await fx.ReleaseAllAsync(b, a);
    }

    private async Task PingForALeaseAsync(Kernel importer, Kernel exporter)
    {
        for (var elapsed = TimeSpan.Zero; elapsed <= Lease + DgcClusterFixture.PingInterval; elapsed += DgcClusterFixture.PingInterval)
        {
            await importer.InternalHandleTo(exporter).CheckLeaseAsync();
            await exporter.InternalHandleTo(importer).CheckLeaseAsync();
            await fx.IdleAsync();
            fx.Clock.Advance(DgcClusterFixture.PingInterval);
        }
    }

    [Fact]
    public async Task A_send_after_a_session_end_stopped_part_way_leaves_no_hold_behind()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        // b restarts: a ends b's session, but the export grain's call for o fails (as when its silo dies under the
        // call), so the end stops part way, its list of exports written.
        var failed = fx.ExportFaults.Failed;
        fx.ExportFaults.FailExpiries(pass: 0, fail: 1);
        await b.Grain.RestartAsync();
        await fx.IdleAsync();
        Assert.Equal(failed + 1, fx.ExportFaults.Failed);

        // a's kernel sends a new object to b meanwhile. Before, it was exported in the session being ended, and when
        // that end was finished from its old list, the pair forgot it with the rest while its owner still counted b.
        var p = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [p]);
        await fx.SettleAsync(a, b);
        Assert.Equal(1, (await a.Export(p).GetSnapshotAsync()).CountsByRemote.GetValueOrDefault(b.Id));
        Assert.False((await a.Export(o).GetSnapshotAsync()).Reachable);

        await fx.ReleaseAllAsync(b, a);
        Assert.False((await a.Export(p).GetSnapshotAsync()).Recognizable);
    }

    [Fact]
    public async Task A_retire_after_a_drop_whose_call_to_the_DGC_failed_finishes_that_drop_first()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var imported = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        // b's kernel drops the import; its ground truth is written first, then the call to its handle fails.
        fx.ExportFaults.FailCallsTo(nameof(IRemoteHandleGrain.DropImportsAsync), pass: 0, fail: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => b.Grain.DropAsync(a.Id, [imported], retire: false));
        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.True((await b.HandleTo(a).TraceRefAsync(imported)).Reachable);

        // Its caller drops and retires it again: the kernel no longer holds it, so before, only the retire went to the
        // DGC, which refused it (RetireBeforeDrop: still reachable there). The unfinished drop now goes first.
        await b.Grain.DropAsync(a.Id, [imported], retire: true);
        await fx.SettleAsync(a, b);
        Assert.False((await a.Export(o).GetSnapshotAsync()).Recognizable);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_kernel_restart_a_crash_stopped_part_way_is_finished_by_the_managers_reminder()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var c = (await fx.NewKernelsAsync("c"))[0];
        var p = await a.CreateAsync();
        await a.Grain.SendAsync(c.Id, [p]);
        await fx.SettleAsync(a, c);
        var before = (await a.HandleTo(b).GetFiguresAsync()).Incarnation;

        // a's kernel restarts; the first of its two handle resets fails (as when that handle's silo dies under the
        // call), so the restart stops with one handle still on the old incarnation. Before, only a second restart
        // by the kernel finished it; nobody might make one, and the old incarnation's holds stayed for good.
        var failed = fx.ExportFaults.Failed;
        fx.ExportFaults.FailCallsTo(nameof(IRemoteHandleInternal.ResetAsync), pass: 0, fail: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => a.Grain.RestartAsync());
        await fx.IdleAsync();
        Assert.Equal(failed + 1, fx.ExportFaults.Failed);
        var incarnations = new[] { (await a.HandleTo(b).GetFiguresAsync()).Incarnation, (await a.HandleTo(c).GetFiguresAsync()).Incarnation };
        Assert.Contains(before, incarnations);
        var revoked = new[] { (await b.LedgerAsync()).ImportsRevoked, (await c.LedgerAsync()).ImportsRevoked };
        Assert.Equal(1, revoked.Sum());
        Assert.NotNull(await fx.Reminders.ReadRow(a.Manager.GetGrainId(), RemoteManagerGrain.RestartReminder));

        // The manager's reminder ticks (through the reminder's own entry point, which does not interleave, while the
        // handles it resets call the manager back for a new epoch): it resets the handle left behind, and goes.
        await a.Manager.AsReference<IRemindable>().ReceiveReminder(RemoteManagerGrain.RestartReminder, default);
        await fx.IdleAsync();
        Assert.Null(await fx.Reminders.ReadRow(a.Manager.GetGrainId(), RemoteManagerGrain.RestartReminder));
        Assert.False(await a.ManagerInternal.FinishRestartAsync());

        // Both remotes let go of the old incarnation's exports and had their imports of them revoked.
        await fx.SettleAsync(a, b);
        await fx.SettleAsync(a, c);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(p).GetGrainId()));
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Equal(1, (await c.LedgerAsync()).ImportsRevoked);
    }

    [Fact]
    public async Task Two_restarts_that_interleave_each_get_an_incarnation_of_their_own()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var before = (await a.HandleTo(b).GetFiguresAsync()).Incarnation;

        // A kernel whose restart call failed on its side (its silo died) while the manager went on, restarting again:
        // both calls run at once in the manager. Each must begin an incarnation of its own, or the second restart would
        // leave the handles on the incarnation the first one began, with whatever they took in since.
        // Each call returns the incarnation in force when its resets are done: the second one's, or its own.
        var incarnations = await Task.WhenAll(a.Manager.RestartKernelAsync(), a.Manager.RestartKernelAsync());
        Assert.Equal(before + 2, incarnations.Max());
        Assert.All(incarnations, i => Assert.InRange(i, before + 1, before + 2));
        Assert.Null(await fx.Reminders.ReadRow(a.Manager.GetGrainId(), RemoteManagerGrain.RestartReminder));
        Assert.False(await a.ManagerInternal.FinishRestartAsync());
    }
}
