using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

/// <summary>
/// Leases, partitions and crashes (issue 3's named scenarios). The fake DGC clock stands in for time:
/// each test advances it and then runs what the lease reminder runs (<c>CheckLeaseAsync</c>) once, so
/// "within lease + one check period" is exactly what is shown.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class LeaseTests(DgcClusterFixture fx)
{
    private static readonly TimeSpan Lease = DgcClusterFixture.Lease;
    private static readonly TimeSpan CheckPeriod = DgcClusterFixture.CheckPeriod;

    [Fact]
    public async Task Partition_shorter_than_the_lease_releases_nothing_and_queued_drops_arrive_after_the_heal()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            await b.Grain.DropAllAsync(a.Id, retire: true);
            await b.HandleTo(a).FlushAsync();
            fx.Clock.Advance(Lease - TimeSpan.FromMinutes(1));
            await a.InternalHandleTo(b).CheckLeaseAsync();

            Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);
            Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
            Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }

        await fx.SettleAsync(a, b);
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task Partition_longer_than_the_lease_reclaims_within_lease_plus_one_check_and_revokes_after_the_heal()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            // b's pings are lost; one check period after the lease ran out, the reminder's check runs once.
            fx.Clock.Advance(Lease / 2);
            await b.InternalHandleTo(a).CheckLeaseAsync();
            fx.Clock.Advance((Lease / 2) + CheckPeriod);
            await a.InternalHandleTo(b).CheckLeaseAsync();

            var exporter = await a.LedgerAsync();
            Assert.Equal(1, exporter.ExportsDroppedEvents);
            Assert.Equal(1, exporter.ExportsRetired);
            Assert.Equal(0, exporter.Premature);
            Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
            Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).LeaseExpiries);

            // b cannot know yet.
            Assert.Equal(1, (await b.LedgerAsync()).ImportsHeld);
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }

        // b's next ping is answered in a's new session: b revokes, and the kernel hears it.
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();
        var importer = await b.LedgerAsync();
        Assert.Equal(1, importer.ImportsRevoked);
        Assert.Equal(0, importer.ImportsHeld);

        // Any later use of the revoked ref is refused with a clear error, never a different object.
        var e = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).SendAsync("deliver", "[]", [import]));
        Assert.Equal(DgcError.Revoked, e.Code);
        Assert.Contains(import, e.Message, StringComparison.Ordinal);

        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task The_exporters_kernel_hears_that_its_session_with_a_silent_remote_ended()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            fx.Clock.Advance(Lease / 2);
            await a.InternalHandleTo(b).CheckLeaseAsync();
            Assert.Equal(0, (await a.LedgerAsync()).SessionsEnded);

            fx.Clock.Advance((Lease / 2) + CheckPeriod);
            await a.InternalHandleTo(b).CheckLeaseAsync();

            Assert.Equal(1, (await a.LedgerAsync()).SessionsEnded);
            Assert.Equal(0, (await b.LedgerAsync()).SessionsEnded);
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }
    }

    [Fact]
    public async Task Importer_crash_before_any_drop_is_reclaimed_after_the_lease()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var second = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [second, o]);
        await fx.SettleAsync(a, b);

        // b crashes: it never pings or drops again.
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            fx.Clock.Advance(Lease - TimeSpan.FromSeconds(1));
            await a.InternalHandleTo(b).CheckLeaseAsync();
            Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

            fx.Clock.Advance(CheckPeriod);
            await a.InternalHandleTo(b).CheckLeaseAsync();
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }

        var ledger = await a.LedgerAsync();
        Assert.Equal(2, ledger.ExportsDroppedEvents);
        Assert.Equal(2, ledger.ExportsRetired);
        Assert.Empty(ledger.ExportedNotRetired);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(second).GetGrainId()));
        Assert.Empty(await a.Manager.GetRemoteFiguresAsync());
    }

    [Fact]
    public async Task Importer_restart_releases_its_holds_at_its_first_contact()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        await b.Grain.RestartAsync();
        await fx.IdleAsync();

        // No lease had to run out: b's greeting carried its new incarnation.
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        Assert.Equal(0, (await a.LedgerAsync()).Premature);
        await fx.SettleAsync(a, b);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task Exporter_restart_with_a_new_incarnation_revokes_the_importers_imports()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();

        await a.Grain.RestartAsync();
        await fx.IdleAsync();

        var importer = await b.LedgerAsync();
        Assert.Equal(1, importer.ImportsRevoked);
        Assert.Equal(0, importer.ImportsHeld);
        var e = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).SendAsync("deliver", "[]", [import]));
        Assert.Equal(DgcError.Revoked, e.Code);

        // The old incarnation's export is gone, and its restart told the new kernel nothing about it.
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task Drop_crossing_a_resend_under_reordering_keeps_the_export_until_the_last_receipt_is_released()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        // b's drop and a's re-send cross; each direction's frames also arrive in reverse order.
        fx.Faults.HoldNext(b.Id, a.Id, count: 2);
        fx.Faults.HoldNext(a.Id, b.Id, count: 2);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await b.HandleTo(a).FlushAsync();
        await a.Grain.SendAsync(b.Id, [o]);
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.Faults.ReleaseHeldAsync(b.Id, a.Id, reverse: true);
        await fx.Faults.ReleaseHeldAsync(a.Id, b.Id, reverse: true);
        await fx.SettleAsync(a, b);

        Assert.Equal(2, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await a.LedgerAsync()).Premature);

        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task Retire_crossing_a_retire_leaves_nothing_and_refuses_nothing()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        await b.Grain.DropAsync(a.Id, [import], retire: false);
        await fx.SettleAsync(a, b);

        // b forgets the dropped import while a deletes the object: both retires are on the wire at once.
        fx.Faults.HoldNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        fx.Faults.HoldNext(a.Id, b.Id, match: FaultInjectingTransport.IsBatch);
        await b.HandleTo(a).RetireImportsAsync([import]);
        await b.HandleTo(a).FlushAsync();
        await a.Manager.DeleteExportsAsync([o]);
        await a.HandleTo(b).FlushAsync();
        await fx.Faults.ReleaseHeldAsync(b.Id, a.Id);
        await fx.Faults.ReleaseHeldAsync(a.Id, b.Id);
        await fx.SettleAsync(a, b);

        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).RejectedOps);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        Assert.Equal(0, (await b.LedgerAsync()).ImportsHeld);
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, a.HandleTo(b).GetGrainId()));
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, b.HandleTo(a).GetGrainId()));
    }

    [Fact]
    public async Task Lost_addRef_is_recovered_by_the_next_ping()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        fx.Faults.DropNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.IdleAsync();
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();
        Assert.False((await a.HandleTo(b).TraceRefAsync(o)).Confirmed);

        // No retransmission timer runs here: the ping tells a is behind, and b resends at once.
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();

        Assert.True((await a.HandleTo(b).TraceRefAsync(o)).Confirmed);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task Lost_drop_is_recovered_by_reconciliation()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        fx.Faults.DropNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        await b.Grain.DropAllAsync(a.Id, retire: false);
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();
        Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);

        fx.Clock.Advance(DgcClusterFixture.PingInterval);
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();

        Assert.False((await a.Export(o).GetSnapshotAsync()).Reachable);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await b.HandleTo(a).RetireImportsAsync([.. await b.Grain.GetHeldImportsAsync(a.Id)]);
        await fx.SettleAsync(a, b);
    }

    [Fact]
    public async Task A_ref_whose_carrying_message_is_lost_is_reclaimed_because_no_addRef_confirms_it()
    {
        var (a, b, kept) = await fx.PairSharingOneAsync();
        var lost = await a.CreateAsync();
        fx.Faults.DropNext(a.Id, b.Id);
        await a.Grain.SendAsync(b.Id, [lost]);
        await fx.IdleAsync();
        Assert.False((await a.HandleTo(b).TraceRefAsync(lost)).Confirmed);

        // b keeps pinging (its lease stays good), but its import set never has the lost ref.
        await PingForALeaseAsync(b, a, checkExporter: true);

        // a fenced the lost message off (b will refuse it if it ever turns up) and released just that send.
        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(1, figures.Reconciliations);
        Assert.Equal(0, figures.LeaseExpiries);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(lost).GetGrainId()));
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        Assert.Equal(0, (await a.LedgerAsync()).Premature);

        // The other ref was never in doubt: it stays held, and b's session with a goes on.
        Assert.Equal(1, (await a.Export(kept).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_lost_message_that_turns_up_after_its_fence_is_refused()
    {
        var (a, b, kept) = await fx.PairSharingOneAsync();
        var late = await a.CreateAsync();
        fx.Faults.HoldNext(a.Id, b.Id);
        await a.Grain.SendAsync(b.Id, [late]);
        await PingForALeaseAsync(b, a);

        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(late).GetGrainId()));

        // The message arrives after all: b refuses it, so it never imports a ref a no longer counts.
        var delivered = (await b.LedgerAsync()).MessagesReceived;
        await fx.Faults.ReleaseHeldAsync(a.Id, b.Id);
        await fx.IdleAsync();
        Assert.Equal(delivered, (await b.LedgerAsync()).MessagesReceived);
        Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).DuplicateMessages);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task Without_a_known_carrying_message_reconciliation_ends_the_session()
    {
        var (a, b, kept) = await fx.PairSharingOneAsync();
        var lost = await a.CreateAsync();

        // The kernel carries this message itself (ExportRefsAsync) and loses it: a cannot fence it off.
        await a.HandleTo(b).ExportRefsAsync([lost]);
        await PingForALeaseAsync(b, a);

        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(lost).GetGrainId()));
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(kept).GetGrainId()));
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Equal(0, (await a.LedgerAsync()).Premature);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task Boyd_during_a_partition_releases_nothing_does_not_loop_and_completes_after_the_heal()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            await b.Grain.DropAllAsync(a.Id, retire: true);
            var before = (await b.HandleTo(a).GetFiguresAsync()).FramesSent;
            await b.Manager.BringOutYourDeadAsync();
            await a.Manager.BringOutYourDeadAsync();
            await fx.IdleAsync();

            Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);
            Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).LeaseExpiries);

            // One BOYD is a bounded number of frames (batch resend and the BOYD request), not a loop.
            Assert.InRange((await b.HandleTo(a).GetFiguresAsync()).FramesSent - before, 1, 3);
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }

        await fx.SettleAsync(a, b);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task One_ping_per_remote_per_interval_however_many_refs_are_held()
    {
        var (a, b) = await fx.NewPairAsync();
        var objects = await a.Grain.CreateObjectsAsync(1000);
        await a.Grain.SendAsync(b.Id, objects);
        await fx.SettleAsync(a, b);
        var before = await b.HandleTo(a).GetFiguresAsync();

        fx.Clock.Advance(DgcClusterFixture.PingInterval);
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();

        var after = await b.HandleTo(a).GetFiguresAsync();
        Assert.Equal(before.PingsSent + 1, after.PingsSent);
        Assert.Equal(before.FramesSent + 1, after.FramesSent);
        Assert.Equal(0, after.Reconciliations);
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_frame_of_an_ended_session_is_refused_and_never_names_a_new_object()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var old = await b.HandleTo(a).GetFiguresAsync();
        fx.Faults.Partition(a.Id, b.Id);
        fx.Clock.Advance(Lease + CheckPeriod);
        await a.InternalHandleTo(b).CheckLeaseAsync();
        fx.Faults.Heal(a.Id, b.Id);

        // a exports a new object in its new session; wire id 2 is new, and id 1 of the old session is void.
        var fresh = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [fresh]);
        await fx.IdleAsync();

        // A late frame of b's, written in a's old session, names ro-1: refused, never delivered.
        var delivered = (await a.LedgerAsync()).MessagesReceived;
        await a.InternalHandleTo(b).ReceiveFrameAsync(WireCodec.Encode(
            new AppFrame(1, 1, "deliver", "[\"x\"]", [WireRef.ToReceiverExport(1)]) { Session = new SessionHeader(old.Incarnation, old.Epoch, old.PeerEpoch) }));
        Assert.Equal(delivered, (await a.LedgerAsync()).MessagesReceived);
        Assert.True((await a.HandleTo(b).GetFiguresAsync()).StaleOps > 0);

        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        await fx.ReleaseAllAsync(b, a);
    }

    /// <summary>The importer pings every interval for a whole lease and one interval more (the exporter checks too, if asked).</summary>
    private async Task PingForALeaseAsync(Kernel importer, Kernel exporter, bool checkExporter = false)
    {
        for (var elapsed = TimeSpan.Zero; elapsed <= Lease + DgcClusterFixture.PingInterval; elapsed += DgcClusterFixture.PingInterval)
        {
            await importer.InternalHandleTo(exporter).CheckLeaseAsync();
            if (checkExporter)
            {
                await exporter.InternalHandleTo(importer).CheckLeaseAsync();
            }

            await fx.IdleAsync();
            fx.Clock.Advance(DgcClusterFixture.PingInterval);
        }
    }

    [Fact]
    public async Task A_session_end_whose_new_epoch_could_not_be_drawn_is_finished_before_the_remote_is_heard_again()
    {
        var (a, b, _) = await fx.PairSharingAsync(2);
        var imports = await b.Grain.GetHeldImportsAsync(a.Id);
        fx.Faults.Partition(a.Id, b.Id);
        try
        {
            // b's lease lapses. a's check lets its holds go at the owners, then drawing the new epoch from a's manager
            // fails (as when the manager's silo dies under the call): the session end stops part way.
            fx.Clock.Advance(Lease + CheckPeriod);
            var failed = fx.ExportFaults.Failed;
            fx.ExportFaults.FailCallsTo(nameof(IRemoteManagerInternal.NextEpochAsync), pass: 0, fail: 1);
            await Assert.ThrowsAnyAsync<Exception>(() => a.InternalHandleTo(b).CheckLeaseAsync());
            Assert.Equal(failed + 1, fx.ExportFaults.Failed);
        }
        finally
        {
            fx.Faults.Heal(a.Id, b.Id);
        }

        // b, which heard nothing, drops one of its imports. Before, a's activation went on with the session's exports
        // forgotten but its epoch not moved on: it refused b's drop as naming no object, and b's other import stayed
        // valid though a had let its hold go. Now the end is finished first: b's drop is of an ended session, and b's
        // imports are revoked at its next contact.
        await b.Grain.DropAsync(a.Id, [imports[0]], retire: false);
        await fx.SettleAsync(a, b);
        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(0, figures.RejectedOps);
        Assert.Equal(1, (await a.LedgerAsync()).SessionsEnded);
        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(RefRole.RevokedImport, (await b.HandleTo(a).TraceRefAsync(imports[1])).Role);
        Assert.Equal(0, (await a.LedgerAsync()).Premature);
        await fx.ReleaseAllAsync(b, a);
    }
}
