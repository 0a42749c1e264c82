using System.Text.Json;
using OcapDgc.Protocol.Tests.Simulation;
using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests;

/// <summary>A remote is trusted only with its own pair: what it sends beyond its pair's limits is refused whole, and changes nothing.</summary>
public sealed class HostileTests
{
    private static readonly PairLimits Small = new(MaxOpsPerBatch: 10, MaxRefsPerMessage: 6, MaxBufferedBytes: 2_000, MaxImports: 5, MaxExports: 5);

    private readonly World _w = new(honest: 2, withMallory: true, settings: new PairSettings(8, 64, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(20)) { Limits = Small });

    private SimKernel Alice => _w["alice"];

    [Fact]
    public void A_batch_over_the_operation_limit_is_refused_whole_with_one_report_and_changes_nothing()
    {
        var pair = PairWithExportToMallory(out var id);
        var before = JsonSerializer.Serialize(pair.State);
        var ops = Enumerable.Range(0, 11).Select(_ => new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(id), 1)).ToList();

        Receive(new BatchFrame(StreamOfMallory(), NextSeq(), 0, ops));

        Assert.Equal(before, JsonSerializer.Serialize(pair.State));
        Assert.Equal(11, pair.Counters.Rejected);
        Assert.Single(Alice.Events.OfType<InboundRefused>());
        Assert.Equal(1, Alice.Ledgers.Values.Single().Holds[World.Mallory].Count);
    }

    [Fact]
    public void A_batch_of_many_unknown_refs_is_reported_once_not_once_per_ref()
    {
        var pair = PairWithExportToMallory(out _);
        var ops = Enumerable.Range(1, 9).Select(i => new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(SessionTracker.FirstExportId(pair.State.Epoch) + 100 + i), 1)).ToList();

        Receive(new BatchFrame(StreamOfMallory(), NextSeq(), 0, ops));

        Assert.Equal(9, pair.Counters.Rejected);
        Assert.Single(Alice.Events.OfType<InboundRefused>());
    }

    [Fact]
    public void A_message_over_the_ref_limit_is_refused_whole_and_imports_nothing()
    {
        var pair = Alice.Pair(World.Mallory);
        var refs = Enumerable.Range(1, 7).Select(i => WireRef.ToSenderExport(SessionTracker.FirstExportId(1) + i)).ToList();

        Receive(new AppFrame(1, 1, "deliver", "0", refs), epoch: 1);

        Assert.Empty(pair.State.Imports);
        Assert.Equal(7, pair.Counters.Rejected);
    }

    [Theory]
    [InlineData(long.MaxValue, 1, 0)]
    [InlineData(1, long.MaxValue - 1, 0)]
    [InlineData(1, 1, (long)int.MaxValue + 1)]
    public void A_session_value_no_honest_peer_can_reach_is_refused_and_later_real_frames_still_count(long inc, long epoch, long peer)
    {
        var pair = PairWithExportToMallory(out var id);
        var before = JsonSerializer.Serialize(pair.State);
        var header = new SessionHeader(inc, epoch, peer);
        World.Run(pair.ReceiveFrameAsync(WireCodec.Encode(new PongFrame(PongStatus.Match) { Session = header })));

        Assert.Equal(1, pair.Counters.Rejected);
        Assert.Equal(before, JsonSerializer.Serialize(pair.State));

        // Mallory's real drop still counts.
        Receive(new BatchFrame(StreamOfMallory(), NextSeq(), 0, [new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(id), 1)]));
        Assert.Equal(0, Alice.Ledgers.Values.Single().Holds[World.Mallory].Count);
    }

    [Fact]
    public void The_reorder_buffer_holds_at_most_its_bytes()
    {
        var pair = PairWithExportToMallory(out var id);
        for (var seq = NextSeq() + 1; seq <= NextSeq() + 40; seq++) // a gap at NextSeq(): everything after waits
        {
            Receive(new BatchFrame(StreamOfMallory(), seq, 0, [new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(id))]));
        }

        Assert.InRange(pair.Inbound.BufferedBytes, 1, Small.MaxBufferedBytes);
        Assert.True(pair.Inbound.Buffered < 39, $"{pair.Inbound.Buffered} batches buffered");
    }

    [Fact]
    public void Import_and_export_quotas_refuse_beyond_and_leave_other_remotes_alone()
    {
        var six = Enumerable.Range(0, 6).Select(_ => Alice.NewObject()).ToArray();
        var e = Assert.Throws<DgcException>(() => _w.ExpectingRefusal(() => World.Run(Alice.Pair("bob").ExportRefsAsync(six))));
        Assert.Equal(DgcError.QuotaExceeded, e.Code);
        Assert.Empty(Alice.Ledgers);

        _w.Send("alice", "bob", six[..5]);                    // up to the quota: fine
        _w.Send("alice", World.Mallory, six[..5]);            // another remote has a quota of its own
        _w.Drain();
        Assert.Equal(5, _w["bob"].Imports.Count);
        Assert.Equal(5, _w[World.Mallory].Imports.Count);

        // Mallory, which keeps no quota of its own, offers alice six new imports: over her quota for it.
        var epoch = _w[World.Mallory].Pair("alice").State.Epoch;
        var six6 = Enumerable.Range(1, 6).Select(i => WireRef.ToSenderExport(SessionTracker.FirstExportId(epoch) + 100 + i)).ToList();
        _w.ExpectingRefusal(() => Receive(new AppFrame(7, 1, "deliver", "0", six6), epoch));
        Assert.Empty(Alice.Pair(World.Mallory).State.Imports);
        Assert.Equal(5, _w["bob"].Imports.Count);
    }

    /// <summary>alice exports one object to mallory (delivered, confirmed); returns alice's pair towards mallory and the wire id.</summary>
    private RemotePair PairWithExportToMallory(out long id)
    {
        var x = Alice.NewObject();
        _w.Send("alice", World.Mallory, x);
        _w.Drain();
        _w.Tick(checkLeases: false);
        _w.Drain();
        var pair = Alice.Pair(World.Mallory);
        id = pair.State.Exports.Keys.Single();
        Alice.Events.Clear();
        return pair;
    }

    private long StreamOfMallory() => Alice.Pair(World.Mallory).State.PeerStream;

    private long NextSeq() => Alice.Pair(World.Mallory).State.HighestApplied + 1;

    /// <summary>A frame from mallory, in its own name and current session.</summary>
    private void Receive(WireFrame frame, long epoch = 0)
    {
        var m = _w[World.Mallory].Pair("alice");
        var alice = Alice.Pair(World.Mallory);
        var header = new SessionHeader(_w[World.Mallory].Incarnation, epoch == 0 ? Math.Max(1, m.State.Epoch) : epoch, alice.State.Epoch);
        World.Run(alice.ReceiveFrameAsync(WireCodec.Encode(frame with { Session = header })));
    }
}
