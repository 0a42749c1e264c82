using OcapDgc.Protocol.Tests.Simulation;
using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests;

/// <summary>
/// Cycle detection on the protocol simulation: real pairs, ledgers and collectors of several kernels over
/// the simulated network, with the world's oracle checking every verdict against the global graph (an
/// import called garbage must not be reachable from any root or message in flight).
/// </summary>
public sealed class CycleTests
{
    private static readonly string[] Five = ["alice", "bob", "carol", "dave", "erin"];

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void A_cycle_across_kernels_is_reclaimed_once_no_root_reaches_it(int size)
    {
        var w = new World(honest: 5, withMallory: false);
        var kernels = Five.Take(size).ToArray();
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        // Reference counting alone keeps the whole cycle: every object is held by the next kernel.
        Assert.All(kernels.Zip(objects), x => Assert.True(w[x.First].Ledgers.ContainsKey(x.Second), $"{x.First}/{x.Second} should still be held"));

        w.StartTraces(kernels[0]);
        Settle(w);

        Assert.True(w[kernels[0]].Tracer.Counters.Garbage == 1, string.Join("\n", (w.Trace ?? []).Where(l => l.Contains("cycle", StringComparison.Ordinal)).TakeLast(60)));
        AssertReclaimed(w, kernels, objects);
        var frames = kernels.Sum(k => w[k].Tracer.Counters.FramesSent);
        Assert.Equal(4 * size, frames); // an ask and a reply per inter-kernel edge, in each of the two rounds
    }

    [Fact]
    public void A_cycle_with_one_member_still_rooted_anywhere_is_kept_and_reclaimed_after_the_root_goes()
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob", "carol"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels[..2], objects[..2]);
        Settle(w);

        foreach (var k in kernels[..2])
        {
            w.StartTraces(k);
        }

        Settle(w);
        Assert.Equal(0, kernels.Sum(k => w[k].Tracer.Counters.Garbage));
        Assert.True(w["alice"].Tracer.Counters.Live >= 1);
        Assert.All(kernels.Zip(objects), x => Assert.False(w[x.First].Own[x.Second].Freed));

        ReleaseRoots(w, kernels[2..], objects[2..]);
        TraceUntilReclaimed(w, kernels, objects);
    }

    [Fact]
    public void A_send_that_reroots_a_cycle_during_its_trace_keeps_it_and_it_is_reclaimed_when_garbage_again()
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        w.StartTraces("alice");
        DeliverUntil(w, () => w["bob"].Tracer.ActiveRounds > 0); // bob was asked and asked back

        // bob passes its import of alice's object on to carol, whose root now holds it.
        var bobsImport = w["bob"].Imports.Single(i => i.Value.Identity.Owner == "alice").Key;
        w.Send("bob", "carol", bobsImport);
        Settle(w);

        Assert.Equal(0, w["alice"].Tracer.Counters.Garbage);
        Assert.All(kernels.Zip(objects), x => Assert.False(w[x.First].Own[x.Second].Freed));
        Assert.Contains(w["carol"].Imports.Values, i => i.InUse && !i.Dropped);

        // carol lets go: the cycle is garbage again.
        foreach (var kref in w["carol"].Imports.Keys.ToList())
        {
            w.Release("carol", kref);
        }

        TraceUntilReclaimed(w, kernels, objects);
    }

    [Fact]
    public void A_send_back_in_flight_keeps_the_cycle_until_it_arrives()
    {
        var w = new World(honest: 2, withMallory: false);
        string[] kernels = ["alice", "bob"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        // bob sends alice's object back to alice; the message is held on the way, so alice's root gets it late.
        var bobsImport = w["bob"].Imports.Single().Key;
        w.Send("bob", "alice", bobsImport);
        var held = w.Net.Hold(w.Net.Find("bob", "alice", "\"deliver\""));
        w.StartTraces("alice");
        Settle(w);
        Assert.Equal(0, w["alice"].Tracer.Counters.Garbage);

        w.Net.Inject(held);
        Settle(w);
        Assert.False(w["alice"].Own[objects[0]].Freed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void A_trace_under_loss_duplication_and_reordering_never_frees_early_and_reclaims_in_the_end(int seed)
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob", "carol"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        var r = new Random(seed);
        w.StartTraces("alice");
        for (var i = 0; i < 200 && w.Net.Frames.Count > 0; i++)
        {
            var at = r.Next(w.Net.Frames.Count);
            switch (r.Next(6))
            {
                case 0:
                    w.Lose(at);
                    break;
                case 1:
                    w.Duplicate(at);
                    break;
                default:
                    w.Deliver(at);
                    w.EndStep();
                    break;
            }
        }

        TraceUntilReclaimed(w, kernels, objects);
    }

    [Fact]
    public void A_partition_during_a_trace_gives_it_up_and_the_cycle_is_reclaimed_after_the_heal()
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob", "carol"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        w.StartTraces("alice");
        w.Net.Cut("bob", "carol");
        Settle(w);
        w.Advance(w.CycleSettings.TraceTimeout * 3);
        w.Tick(checkLeases: false);
        Assert.Equal(0, w["alice"].Tracer.Counters.Garbage);
        Assert.Equal(1, w["alice"].Tracer.Counters.GaveUp);
        Assert.All(kernels.Zip(objects), x => Assert.False(w[x.First].Own[x.Second].Freed));

        w.Net.Heal("bob", "carol");
        TraceUntilReclaimed(w, kernels, objects);
    }

    [Fact]
    public void A_crash_during_a_trace_gives_it_up_and_the_cycle_is_reclaimed_afterwards()
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob", "carol"];
        var objects = w.BuildCycle(kernels);
        Settle(w);
        ReleaseRoots(w, kernels, objects);
        Settle(w);

        w.StartTraces("alice");
        DeliverUntil(w, () => w["carol"].Tracer.ActiveRounds > 0);

        // bob's silo goes down: its collector's traces and its pairs' memory are lost.
        w["bob"].NewTracer();
        w.Deactivate("bob", "alice", graceful: false);
        w.Deactivate("bob", "carol", graceful: false);
        Settle(w);
        w.Advance(w.CycleSettings.TraceTimeout * 3);
        w.Tick(checkLeases: false);
        Assert.Equal(0, w["alice"].Tracer.Counters.Garbage);
        Assert.All(kernels.Zip(objects), x => Assert.False(w[x.First].Own[x.Second].Freed));

        TraceUntilReclaimed(w, kernels, objects);
    }

    [Fact]
    public void Two_traces_of_overlapping_cycles_at_once_reclaim_both()
    {
        var w = new World(honest: 3, withMallory: false);
        var a = w.BuildCycle("alice", "bob");
        var c = w.BuildCycle("carol", "bob");
        Settle(w);

        // bob's two objects reference each other, so the two cycles share bob's part.
        w.Link("bob", a[1], c[1]);
        w.Link("bob", c[1], a[1]);
        ReleaseRoots(w, ["alice", "bob", "bob", "carol"], [a[0], a[1], c[1], c[0]]);
        Settle(w);

        w.StartTraces("alice");
        w.StartTraces("carol");
        Settle(w);

        Assert.True(w["alice"].Tracer.Counters.Garbage + w["carol"].Tracer.Counters.Garbage >= 1, string.Join("\n", (w.Trace ?? []).Where(l => l.Contains("cycle", StringComparison.Ordinal) || l.Contains("notice", StringComparison.Ordinal)).TakeLast(60)));
        TraceUntilReclaimed(w, ["alice", "bob", "bob", "carol"], [a[0], a[1], c[1], c[0]]);
    }

    [Fact]
    public void A_kernel_that_lies_about_its_roots_cannot_free_what_an_honest_root_reaches()
    {
        var w = new World(honest: 3, withMallory: false);
        string[] kernels = ["alice", "bob", "carol"];
        var objects = w.BuildCycle(kernels);
        Settle(w);

        // carol lies: says nothing of hers is rooted. alice's object stays rooted at alice.
        w["carol"].LiesAboutRoots = true;
        ReleaseRoots(w, ["bob", "carol"], objects[1..]);
        Settle(w);
        foreach (var k in kernels)
        {
            w.StartTraces(k);
        }

        Settle(w);
        Assert.False(w["alice"].Own[objects[0]].Freed);
        Assert.Equal(0, w["bob"].Tracer.Counters.Garbage);
    }

    [Fact]
    public void Cycle_frames_round_trip_and_malformed_ones_are_refused()
    {
        var ask = new CycleAskFrame(7, 0, WireRef.ToSenderExport(4294967297)) { Session = new SessionHeader(1, 2, 3) };
        Assert.Equal(ask, WireCodec.Decode(WireCodec.Encode(ask)));
        var reply = new CycleReplyFrame(7, 9, WireRef.ToReceiverExport(5), false, ["bob/ko3", "carol.x/ko12"], 2, 4, 6) { Session = new SessionHeader(1, 2, 3) };
        var decoded = Assert.IsType<CycleReplyFrame>(WireCodec.Decode(WireCodec.Encode(reply)));
        Assert.Equal(reply.Pending, decoded.Pending);
        Assert.Equal((7L, 9L, false, 2L, 4L, 6L), (decoded.Trace, decoded.Confirm, decoded.Live, decoded.Receipts, decoded.AfterStream, decoded.AfterSeq));

        const string head = "{\"method\":\"dgc:cycleReply\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":1},\"params\":";
        string[] bad =
        [
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro+5\",\"live\":false,\"pending\":[],\"receipts\":1}}", // wrong sign
            head + "{\"trace\":0,\"confirm\":0,\"ref\":\"ro-5\",\"live\":false,\"pending\":[],\"receipts\":1}}", // trace 0
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":true,\"pending\":[\"bob/ko1\"],\"receipts\":1}}", // live with pending
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":false,\"pending\":[\"bob/kp1\"],\"receipts\":1}}", // not a node id
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":false,\"pending\":[\"b ob/ko1\"],\"receipts\":1}}",
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":\"no\",\"pending\":[],\"receipts\":1}}",
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":false,\"pending\":[],\"receipts\":-1}}",
            head + "{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\",\"live\":false,\"pending\":[" + string.Join(",", Enumerable.Repeat("\"bob/ko1\"", WireCodec.MaxCyclePending + 1)) + "],\"receipts\":1}}",
            "{\"method\":\"dgc:cycleAsk\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":1},\"params\":{\"trace\":1,\"confirm\":0,\"ref\":\"ro-5\"}}",
            "{\"method\":\"dgc:cycleAsk\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":1},\"params\":{\"trace\":1,\"ref\":\"ro+5\"}}",
        ];
        foreach (var json in bad)
        {
            Assert.Throws<FormatException>(() => WireCodec.Decode(json));
        }
    }

    /// <summary>Flush ticks and deliveries until nothing is in flight (no lease checks, no clock).</summary>
    private static void Settle(World w)
    {
        for (var i = 0; i < 30; i++)
        {
            w.Tick(checkLeases: false);
            w.EndStep();
            w.Drain();
            foreach (var k in w.Kernels.Values)
            {
                w.Retire(k.Id, [.. k.Imports.Where(x => x.Value.Dropped).Select(x => x.Key).Order(StringComparer.Ordinal)]);
            }

            w.EndStep();
            w.Drain();
        }
    }

    private static void DeliverUntil(World w, Func<bool> condition)
    {
        while (!condition())
        {
            Assert.NotEmpty(w.Net.Frames);
            w.Deliver(0);
            w.EndStep();
        }
    }

    private static void ReleaseRoots(World w, string[] kernels, string[] objects)
    {
        foreach (var (k, o) in kernels.Zip(objects))
        {
            w.Release(k, o);
        }

        w.EndStep();
    }

    /// <summary>Traces from every kernel, round after round (the clock moving past give-ups), until the objects are freed.</summary>
    private static void TraceUntilReclaimed(World w, string[] kernels, string[] objects)
    {
        for (var round = 0; round < 10 && !kernels.Zip(objects).All(x => w[x.First].Own[x.Second].Freed); round++)
        {
            w.Advance(w.CycleSettings.TraceTimeout * 3);
            w.Tick(checkLeases: false);
            foreach (var k in kernels.Distinct())
            {
                w.StartTraces(k);
            }

            Settle(w);
        }

        AssertReclaimed(w, kernels, objects);
    }

    private static void AssertReclaimed(World w, string[] kernels, string[] objects)
    {
        foreach (var (k, o) in kernels.Zip(objects))
        {
            Assert.True(w[k].Own[o].Freed, $"{k}/{o} was not reclaimed");
            Assert.False(w[k].Ledgers.ContainsKey(o), $"{k} still has a ledger for {o}");
        }

        Assert.All(kernels, k => Assert.DoesNotContain(w[k].Imports.Values, i => !i.Dropped));
    }
}
