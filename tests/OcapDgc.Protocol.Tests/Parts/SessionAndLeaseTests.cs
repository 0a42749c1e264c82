using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Parts;

/// <summary>The session tracker, the lease clock, the c-list and the reconciler on their own.</summary>
public sealed class SessionAndLeaseTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Wire_ids_carry_their_export_session_so_no_id_is_reused_across_sessions()
    {
        var state = new PairState();
        var sessions = new SessionTracker(state);
        var clist = new CList(state);
        sessions.Start(new SessionStart(1, 3));
        var first = clist.ExportIdOf("ko1", out _);
        sessions.NewEpoch(4);
        var second = clist.ExportIdOf("ko2", out _);

        Assert.Equal(3, SessionTracker.EpochOf(first));
        Assert.Equal(4, SessionTracker.EpochOf(second));
        Assert.Equal(1, first & 0xFFFF_FFFF);
        Assert.True(sessions.IsCurrentLocalId(second));
        Assert.False(sessions.IsCurrentLocalId(first));
    }

    [Fact]
    public void A_header_of_a_dead_incarnation_is_stale_a_newer_epoch_ends_the_old_and_only_the_current_one_renews()
    {
        var state = new PairState { Epoch = 5, PeerIncarnation = 2, PeerEpoch = 7 };
        var sessions = new SessionTracker(state);

        Assert.True(sessions.Classify(new SessionHeader(1, 7, 5)).Stale);
        var newer = sessions.Classify(new SessionHeader(2, 9, 5));
        Assert.True(newer.PeerEpochEnded);
        Assert.True(newer.Renews);
        Assert.False(sessions.Classify(new SessionHeader(2, 7, 4)).Renews);
        Assert.True(sessions.Classify(new SessionHeader(3, 9, 5)).PeerRestarted);
    }

    [Fact]
    public void The_lease_lapses_only_after_a_whole_lease_of_silence()
    {
        var lease = new LeaseClock(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(30), T0);

        Assert.False(lease.Lapsed(T0 + TimeSpan.FromMinutes(2)));
        Assert.True(lease.Lapsed(T0 + TimeSpan.FromMinutes(2.01)));
        lease.Renew(T0 + TimeSpan.FromMinutes(1));
        Assert.False(lease.Lapsed(T0 + TimeSpan.FromMinutes(2.5)));
        Assert.True(lease.AgreementDue(T0 + TimeSpan.FromMinutes(2.5)));
    }

    [Fact]
    public void Reconciliation_waits_for_a_list_behind_or_ahead_and_agrees_on_an_equal_one()
    {
        var state = new PairState { Epoch = 3, PeerStream = 8, HighestApplied = 5 };
        var clist = new CList(state);
        var id = clist.ExportIdOf("ko1", out _);
        state.Exports[id].Reachable = true;
        var reconciler = new Reconciler(state, clist, TimeSpan.FromMinutes(2));
        ImportListFrame List(long asOf, bool holds) =>
            new ImportListFrame(8, asOf, holds ? [new ImportListEntry(WireRef.ToReceiverExport(id), true)] : []) { Session = new SessionHeader(1, 9, 3) };

        Assert.Equal(ReconcileAction.None, reconciler.Decide(List(4, holds: false), false, T0, T0).Action); // behind: delayed
        Assert.Equal(ReconcileAction.None, reconciler.Decide(List(6, holds: false), false, T0, T0).Action); // ahead: batches in flight
        Assert.Equal(ReconcileAction.Agreed, reconciler.Decide(List(5, holds: true), false, T0, T0).Action);
    }

    [Fact]
    public void A_ref_lost_for_a_lease_is_fenced_when_its_message_is_known_and_ends_the_session_when_not()
    {
        var state = new PairState { Epoch = 3, PeerStream = 8, HighestApplied = 5 };
        var clist = new CList(state);
        var id = clist.ExportIdOf("ko1", out _);
        state.Exports[id].Reachable = true;
        clist.RecordSend(id, T0, carrierStream: 0, carrierSeq: 0); // carried by the kernel: no message to fence
        var reconciler = new Reconciler(state, clist, TimeSpan.FromMinutes(2));
        var empty = new ImportListFrame(8, 5, []) { Session = new SessionHeader(1, 9, 3) };
        var later = T0 + TimeSpan.FromMinutes(3);

        Assert.Equal(ReconcileAction.None, reconciler.Decide(empty, false, T0 + TimeSpan.FromMinutes(1), T0).Action);
        Assert.Equal(ReconcileAction.EndSession, reconciler.Decide(empty, false, later, T0).Action);
        clist.RecordSend(id, T0, carrierStream: 4, carrierSeq: 12);
        var fence = reconciler.Decide(empty, false, later, T0);
        Assert.Equal(ReconcileAction.Fence, fence.Action);
        Assert.Equal((4, 12), (fence.FenceStream, fence.FenceSeq));
        Assert.Equal(ReconcileAction.ReleaseLost, reconciler.Decide(empty with { FenceStream = 4, FenceSeq = 12 }, false, later, T0).Action);
    }

    [Fact]
    public void One_fence_on_the_newest_stream_covers_carriers_of_an_earlier_activation()
    {
        var state = new PairState { Epoch = 3, PeerStream = 8, HighestApplied = 5 };
        var clist = new CList(state);
        var old = clist.ExportIdOf("ko1", out _);
        var recent = clist.ExportIdOf("ko2", out _);
        state.Exports[old].Reachable = state.Exports[recent].Reachable = true;
        clist.RecordSend(old, T0, carrierStream: 4, carrierSeq: 30); // sent by an earlier activation (stream 4)
        clist.RecordSend(recent, T0, carrierStream: 7, carrierSeq: 2); // and by this one (stream 7)
        var reconciler = new Reconciler(state, clist, TimeSpan.FromMinutes(2));
        var empty = new ImportListFrame(8, 5, []) { Session = new SessionHeader(1, 9, 3) };
        var later = T0 + TimeSpan.FromMinutes(3);

        var fence = reconciler.Decide(empty, false, later, T0);
        Assert.Equal((ReconcileAction.Fence, 7L, 2L), (fence.Action, fence.FenceStream, fence.FenceSeq));
        var release = reconciler.Decide(empty with { FenceStream = 7, FenceSeq = 2 }, false, later, T0);
        Assert.Equal(ReconcileAction.ReleaseLost, release.Action);
        Assert.Equal([old, recent], release.Lost!.Order());
    }
}
