using OcapDgc.Protocol.Tests.Simulation;
using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests;

/// <summary>
/// The holes independent randomized testing found, one minimal scenario each, at protocol level. Each
/// scenario fails on the code before its fix (the simulation's oracle, or the assertion, says how).
/// </summary>
public sealed class HoleTests
{
    private readonly World _w = new(honest: 2, withMallory: false);

    private SimKernel Alice => _w["alice"];

    private SimKernel Bob => _w["bob"];

    /// <summary>alice sends bob a new object and everything settles (bob's addRef applied); returns bob's import of it.</summary>
    private string AliceSharesOneWithBob()
    {
        _w.Send("alice", "bob", Alice.NewObject());
        _w.Drain();
        _w.Tick(checkLeases: false);
        _w.Drain();
        return Bob.Imports.Single().Key;
    }

    [Fact]
    public void Hole1_a_lost_send_is_reclaimed_while_the_importer_keeps_talking_though_it_imports_nothing()
    {
        // bob exports y to alice, so alice pings bob and bob's pongs renew bob's lease at alice forever.
        var y = Bob.NewObject();
        _w.Send("bob", "alice", y);
        _w.Drain();
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Lose(_w.Net.Find("alice", "bob", "deliver"));
        _w.Release("alice", x);

        _w.RunQuietly(leases: 4);

        Assert.False(Alice.Ledgers.ContainsKey(x), "alice still counts the lost send of x for bob");
        Assert.DoesNotContain(Alice.Events, e => e is SessionEnded);
        Assert.True(Bob.Ledgers[y].Holds.ContainsKey("alice"), "bob's y, still held by alice, stays");
    }

    [Fact]
    public void Hole2_a_late_copy_of_a_delivered_message_is_refused_after_both_pairs_cleared()
    {
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Duplicate(0);
        var copy = _w.Net.Hold(_w.Net.Frames.Count - 1);
        _w.Drain();
        _w.Release("alice", x);
        foreach (var import in Bob.Imports.Keys.ToList())
        {
            _w.Release("bob", import);
        }

        _w.RunQuietly(leases: 1);
        Assert.Empty(Alice.Store);
        Assert.Empty(Bob.Store);

        _w.Net.Inject(copy);
        _w.Drain(); // the oracle throws if the copy is delivered ("exactly once", or "dangling")

        Assert.Empty(Bob.Imports);
        Assert.Equal(1, Bob.Pair("alice").Counters.DuplicateMessages + Bob.Pair("alice").Counters.StaleOps);
    }

    [Fact]
    public void Hole3_a_delayed_import_list_is_not_compared_and_ends_no_session()
    {
        var (x, y) = (Alice.NewObject(), Alice.NewObject());
        _w.Send("alice", "bob", x, y);
        _w.Drain();
        AskForImportList();
        var stale = _w.Net.Hold(_w.Net.Find("bob", "alice", "dgc:imports"));
        _w.Release("bob", Bob.Imports.Single(i => i.Value.Identity.Kref == y).Key);
        _w.EndStep(); // bob's local GC drops y
        _w.Retire("bob", [.. Bob.Imports.Where(i => i.Value.Dropped).Select(i => i.Key)]);
        _w.Tick(checkLeases: false);
        _w.Drain();

        _w.Net.Inject(stale);
        _w.Drain();

        Assert.DoesNotContain(Alice.Events, e => e is SessionEnded or ReconcileFailed);
        Assert.Single(Bob.Imports);
        Assert.DoesNotContain(Bob.Imports.Values, i => i.Revoked);
    }

    [Fact]
    public void Hole4_a_pair_with_no_state_of_its_own_answers_a_request_for_its_imports_with_a_well_formed_list()
    {
        // alice's message to bob is lost, so bob's pair towards alice has no state (as after a clear);
        // alice, talking to bob but never seeing his imports agree, asks for his import list.
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Lose(_w.Net.Find("alice", "bob", "deliver"));
        Assert.Empty(Bob.Store);

        AskForImportList();
        Assert.Equal(1, _w.Net.Frames.Count(f => f.From == "bob" && f.Json!.Contains("dgc:imports", StringComparison.Ordinal)));
        _w.Drain();

        Assert.Equal(0, Alice.Pair("bob").Counters.Rejected);
    }

    [Fact]
    public void Hole5_a_drop_does_not_overtake_the_message_that_sent_the_object_back()
    {
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Drain();
        _w.Release("alice", x); // alice keeps x only while a remote can reach it
        var atBob = Bob.Imports.Single().Key;
        _w.Send("bob", "alice", atBob); // x goes back to alice...
        _w.Release("bob", atBob); // ...and bob drops it
        _w.EndStep();
        _w.Tick(checkLeases: false); // the drop is sealed into a batch

        var message = _w.Net.Hold(_w.Net.Find("bob", "alice", "deliver"));
        _w.Drain(); // the batch arrives first and must wait for the message
        Assert.False(Alice.Own[x].Freed, "alice freed x while bob's message carrying it was on its way");

        _w.Net.Inject(message);
        _w.Drain(); // the oracle throws "dangling" if x was freed before this delivery
        _w.RunQuietly(leases: 1);
        Assert.False(Alice.Ledgers.ContainsKey(x));
    }

    [Fact]
    public void Hole5_a_batch_waiting_for_a_lost_message_gives_it_up_and_applies()
    {
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Drain();
        var atBob = Bob.Imports.Single().Key;
        _w.Send("bob", "alice", atBob);
        _w.Release("bob", atBob);
        _w.EndStep();
        _w.Tick(checkLeases: false);
        _w.Lose(_w.Net.Find("bob", "alice", "deliver"));

        _w.RunQuietly(leases: 1);

        Assert.False(Alice.Ledgers.ContainsKey(x), "the drop waited forever for a lost message");
    }

    [Fact]
    public void Hole6_a_kernel_carried_ref_of_an_ended_session_never_names_an_object_of_the_new_one()
    {
        var x = Alice.NewObject();
        _w.Carry("alice", "bob", x);
        var late = _w.Net.Hold(0);
        var y = Alice.NewObject();
        _w.Carry("alice", "bob", y);
        _w.Drain();
        _w.Release("bob", Bob.Imports.Single().Key);
        _w.Release("alice", x);
        _w.Release("alice", y);
        _w.RunQuietly(leases: 2); // y is dropped and retired; alice's pair clears and its session with it
        Assert.Empty(Alice.Store);

        var z = Alice.NewObject();
        _w.Carry("alice", "bob", z);
        _w.Drain();
        _w.Net.Inject(late); // x's ref, of alice's ended session, arrives after z's (same low bits as z's before the fix)
        _w.Drain(); // the oracle throws S2 if bob resolves x's wire id to z's import

        Assert.Equal(new ObjId("alice", z), Assert.Single(Bob.Imports).Value.Identity);
        Assert.Equal(1, _w.Refusals);
    }

    [Fact]
    public void Hole6_imports_carried_before_any_frame_from_the_exporter_are_released_there()
    {
        var x = Alice.NewObject();
        _w.Carry("alice", "bob", x);
        _w.Drain(); // bob has never had a frame from alice
        _w.Release("alice", x);
        _w.Release("bob", Bob.Imports.Single().Key);
        _w.EndStep(); // bob drops x before its addRef was even sent: both go in one batch

        _w.RunQuietly(leases: 2);

        Assert.False(Alice.Ledgers.ContainsKey(x), "bob's drop named no session of alice's and was ignored");
        Assert.DoesNotContain(Alice.Events, e => e is SessionEnded); // released by bob's drop, not by ending the session
    }

    [Fact]
    public void Hole7_exports_into_a_session_idle_for_nearly_a_lease_get_a_whole_lease()
    {
        var y = Bob.NewObject();
        _w.Send("bob", "alice", y);
        _w.Drain();
        _w.Net.Cut("alice", "bob");
        _w.Advance(_w.Settings.Lease - TimeSpan.FromSeconds(5));
        _w.Tick(checkLeases: false);
        _w.Net.Heal("alice", "bob");

        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Advance(TimeSpan.FromSeconds(10));
        _w.Tick(checkLeases: true); // the oracle throws if alice lets bob's lease lapse 10 s after exporting

        Assert.DoesNotContain(Alice.Events, e => e is LeaseLapsed);
    }

    /// <summary>Found by the kill soak (scripts/soak.sh, seed 2024); fixed by writing the batch being applied first (PairState.Applying).</summary>
    [Fact]
    public void Hole8_a_batch_replayed_after_a_crash_does_not_apply_to_a_hold_that_a_resend_created_since()
    {
        // bob holds x and y from alice, and alice has applied bob's addRefs (so the pair writes, rather than clears, below).
        var (x, y) = (Alice.NewObject(), Alice.NewObject());
        _w.Send("alice", "bob", x, y);
        _w.Drain();
        _w.Tick(checkLeases: false);
        _w.Drain();

        // bob drops and retires x: one batch, dropRef then retire.
        var import = Bob.Imports.Single(i => i.Value.Identity.Kref == x).Key;
        _w.Release("bob", import);
        _w.EndStep();
        _w.Retire("bob", [import]);
        _w.Tick(checkLeases: false);

        // alice's silo dies after the batch reached x's ledger (bob's hold removed, the ledger gone) and before
        // the pair recorded the batch: the pair comes back from its last write, x still in its c-list.
        Alice.CrashAtWrite = 1;
        Assert.Throws<SimCrashException>(() => _w.Drain());
        _w.Recover();
        Assert.False(Alice.Ledgers.ContainsKey(x));

        // alice sends x to bob again (a kernel need not wait for "dropped" to do that): a new hold, count 1.
        _w.Send("alice", "bob", x);
        _w.Drain();

        // bob resends the unacknowledged batch. Applying it again releases the new hold: the oracle throws
        // "S1: alice was told ko1 is dropped while bob still holds it".
        _w.Advance(TimeSpan.FromSeconds(5));
        _w.Tick(checkLeases: false);
        _w.Drain();

        Assert.Equal(1, Alice.Ledgers[x].Holds["bob"].Count);
    }

    [Fact]
    public void Hole10_a_pair_that_dies_right_after_clearing_its_row_recalls_how_far_it_applied_the_remote_batches()
    {
        var import = AliceSharesOneWithBob();

        // bob drops and retires it; applying that batch leaves alice's pair towards bob holding nothing, so it clears
        // its row, and alice's silo dies before her manager hears what the pair knew of bob.
        _w.Release("bob", import);
        _w.EndStep();
        _w.Retire("bob", [import]);
        Alice.CrashAfterClear = true;
        Assert.Throws<SimCrashException>(() =>
        {
            _w.Tick(checkLeases: false);
            _w.Drain();
        });
        _w.Recover();

        // The next activation recalls bob's batch stream as far as it was applied: every batch bob sent, none to
        // apply again (with the memory left only after the clear, it recalled nothing and would take a late copy for new).
        var sent = Bob.StateOf("alice")!;
        var recalled = Alice.Pair("bob").State;
        Assert.Equal(sent.Stream, recalled.PeerStream);
        Assert.Equal(sent.NextSeq - 1, recalled.HighestApplied);

        // It also finishes what the crash cut short: its manager no longer lists bob (the row is gone), so bring-out-your-dead
        // and restarts stop waking an empty pair, and nothing is left once all is released.
        Assert.DoesNotContain("bob", Alice.Remotes);
        _w.RunQuietly(leases: 2);
        _w.CheckNothingLeft();
    }

    [Fact]
    public void Hole9_a_restart_forgets_the_effects_the_old_incarnation_never_acknowledged()
    {
        var import = AliceSharesOneWithBob();

        // alice restarts; bob hears it at the next contact and revokes his import, but his kernel's callback fails: the effect waits.
        Bob.FailCallbacks = 1000;
        _w.Restart("alice");
        _w.Drain();
        Assert.Contains(Bob.StateOf("alice")!.Outbox, e => e.Kind == EffectKind.ImportsRevoked && e.Krefs.Contains(import));

        // bob restarts without his memory before it is delivered: his new incarnation never had the import, and
        // retiring a revoked import it is told of would be refused (UnknownRef: the reset forgot it).
        _w.Restart("bob");
        Assert.DoesNotContain(Bob.StateOf("alice")?.Outbox ?? [], e => e.Krefs.Contains(import));
    }

    /// <summary>Found by the crash simulation at 1,000,000 steps (seed 6jDfD_FfbW81).</summary>
    [Fact]
    public void Hole11_a_message_that_waited_is_refused_if_the_object_it_sends_back_was_let_go_meanwhile_and_its_imports_are_released()
    {
        var (w, x) = AliceSharesOneWithBobAndCarol(settle: false);
        var (alice, bob, carol) = (w["alice"], w["bob"], w["carol"]);

        // bob sends x back to alice with one of his own objects, y; alice's kernel cannot hear her pair towards bob,
        // so the message waits in that pair's outbox. Then bob drops x: carol still reaches it.
        alice.DeafTo.Add("bob");
        var y = bob.NewObject();
        var atBob = bob.Imports.Single().Key;
        w.Send("bob", "alice", atBob, y);
        w.Drain();
        w.Release("bob", atBob);
        w.Release("bob", y);
        w.EndStep();
        w.Tick(checkLeases: false);
        w.Drain();
        Assert.Contains(alice.StateOf("bob")!.Outbox, e => e.Kind == EffectKind.MessageDelivered);

        // carol drops x too: alice hears "dropped" from her pair towards carol and frees x.
        w.Release("carol", carol.Imports.Single().Key);
        w.EndStep();
        w.Tick(checkLeases: false);
        w.Drain();
        w.EndStep();
        Assert.True(alice.Own[x].Freed, "alice should have freed x once no remote reached it");

        // alice hears bob's pair again. Delivering the waiting message would hand her x, freed: the oracle throws "dangling".
        alice.DeafTo.Clear();
        w.Tick(checkLeases: false);
        w.Drain();

        Assert.Equal(1, alice.Pair("bob").Counters.LateMessagesRefused);
        Assert.Contains(alice.Events, e => e is LateMessageRefused r && r.Returned == x);
        Assert.DoesNotContain(alice.Imports.Values, i => i.Identity == new ObjId("bob", y));

        // The receipt of y the refused message carried is released at bob, so y is reclaimed there.
        w.RunQuietly(leases: 2);
        Assert.False(bob.Ledgers.ContainsKey(y), "bob still counts alice's receipt of y from the refused message");
        Assert.Empty(alice.Store);
    }

    [Fact]
    public void Hole11_a_message_that_waited_is_still_delivered_when_only_its_sender_released_the_object_it_sends_back()
    {
        // bob alone holds alice's x; he sends it back while alice's kernel cannot hear that pair, then drops it.
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        _w.Drain();
        _w.Release("alice", x);
        Alice.DeafTo.Add("bob");
        var atBob = Bob.Imports.Single().Key;
        _w.Send("bob", "alice", atBob);
        _w.Drain();
        _w.Release("bob", atBob);
        _w.EndStep();
        _w.Tick(checkLeases: false);
        _w.Drain();
        Assert.False(Alice.Ledgers[x].Reachable);

        // bob's release made x unreachable, after the message: alice hears "dropped" only after the message, so x
        // is alive when it is delivered, and the message is not refused.
        var delivered = _w.MessagesDelivered;
        Alice.DeafTo.Clear();
        _w.Tick(checkLeases: false);
        _w.Drain();

        Assert.Equal(0, Alice.Pair("bob").Counters.LateMessagesRefused);
        Assert.Equal(delivered + 1, _w.MessagesDelivered);
        Assert.DoesNotContain(Alice.StateOf("bob")!.Outbox, e => e.Kind == EffectKind.MessageDelivered);
    }

    /// <summary>Found by the crash simulation at 1,000,000 steps (seed 8tJlA2Kf9LP1).</summary>
    [Fact]
    public void Hole12_a_kernel_that_deletes_an_object_first_finishes_the_batch_applied_in_part_that_released_it()
    {
        var (w, x) = AliceSharesOneWithBobAndCarol(settle: true);
        var (alice, bob, carol) = (w["alice"], w["bob"], w["carol"]);

        // bob drops x. Applying his batch, the call to x's owner takes effect and then fails (its silo died): the
        // pair lives on with the batch applied at the owner only.
        w.Release("bob", bob.Imports.Single().Key);
        w.EndStep();
        w.Tick(checkLeases: false);
        alice.FailApply = (true, true);
        w.Deliver(w.Net.Find("bob", "alice", "dgc:batch"));
        Assert.NotNull(alice.StateOf("bob")!.Applying);
        Assert.False(alice.Ledgers[x].Holds["bob"].Count > 0, "bob's drop took effect at x's owner");

        // alice and bob lose touch for a while, so bob does not resend the batch yet.
        w.Net.Cut("alice", "bob");
        foreach (var (from, to) in new[] { ("alice", "bob"), ("bob", "alice") })
        {
            while (w.Net.Find(from, to, "") is var i and >= 0)
            {
                w.Lose(i);
            }
        }

        // carol drops x too: now no remote reaches it, alice hears "dropped" from her pair towards carol and deletes x.
        w.Release("carol", carol.Imports.Single().Key);
        w.EndStep();
        w.Tick(checkLeases: false);
        w.Drain();
        w.Delete("alice", x);
        Assert.True(alice.Own[x].Freed);

        // bob resends his batch. Had alice's pair forgotten x before recording the batch, its dropRef would name an
        // object the pair no longer knows: refused (the oracle throws "refused what an honest kernel sent").
        w.Net.Heal("alice", "bob");
        w.Advance(TimeSpan.FromSeconds(5));
        w.Tick(checkLeases: false);
        w.Drain();

        Assert.Equal(0, alice.Pair("bob").Counters.Rejected);
        Assert.Null(alice.StateOf("bob")?.Applying);
        w.RunQuietly(leases: 2);
        Assert.Empty(alice.Store);
        Assert.Empty(bob.Imports);
    }

    /// <summary>
    /// In a world of alice, bob and carol, alice shares a new object x with bob and carol (with <paramref name="settle"/>,
    /// their addRefs are applied too) and keeps it only while a remote can reach it.
    /// </summary>
    private static (World W, string X) AliceSharesOneWithBobAndCarol(bool settle)
    {
        var w = new World(honest: 3, withMallory: false);
        var x = w["alice"].NewObject();
        w.Send("alice", "bob", x);
        w.Send("alice", "carol", x);
        w.Drain();
        if (settle)
        {
            w.Tick(checkLeases: false);
            w.Drain();
        }

        w.Release("alice", x);
        return (w, x);
    }

    /// <summary>alice asks bob for his import list, as its lease check does when their views have not agreed for a lease.</summary>
    private void AskForImportList()
    {
        var header = Alice.Pair("bob").Sessions.Header;
        World.Run(Bob.Pair("alice").ReceiveFrameAsync(WireCodec.Encode(new PongFrame(PongStatus.Mismatch) { Session = header })));
    }

    [Fact]
    public void Hole13_a_fence_that_reaches_a_pair_holding_nothing_still_refuses_the_fenced_message_after_a_reactivation()
    {
        // bob imports z from alice, so bob pings alice and alice can compare import lists with him.
        var z = AliceSharesOneWithBob();

        // alice sends x; the message is held up in the network (not lost: it will arrive, late).
        var x = Alice.NewObject();
        _w.Send("alice", "bob", x);
        var late = _w.Net.Hold(_w.Net.Find("alice", "bob", "deliver"));
        _w.Release("alice", x);

        // A lease on, reconciliation declares it lost: alice fences it off. The fence is held up too.
        InFlight? fence = null;
        for (var i = 0; i < 40 && fence is null; i++)
        {
            _w.Advance(_w.Settings.PingInterval / 2);
            _w.Tick(checkLeases: true);
            while (_w.Net.Frames.Count > 0 && fence is null)
            {
                var at = _w.Net.Find("alice", "bob", WireCodec.FenceMethod);
                if (at >= 0)
                {
                    fence = _w.Net.Hold(at);
                }
                else
                {
                    _w.Deliver(0);
                }
            }
        }

        Assert.NotNull(fence);

        // Meanwhile bob lets z go: his pair with alice then holds nothing and clears its row.
        _w.Release("bob", z);
        _w.EndStep();
        _w.Drain();
        _w.Retire("bob", [z]);
        _w.EndStep();
        _w.Drain();
        _w.Tick(checkLeases: false);
        _w.Drain();
        Assert.True(Bob.Pair("alice").State.IsEmpty);
        Assert.False(Bob.Store.ContainsKey("alice"), "bob's pair with alice left a row");

        // The fence arrives; bob answers with his (empty) list, and his pair, holding nothing, would clear itself and
        // leave what it knows of alice (the fence included) with his manager; his silo dies just before.
        _w.Net.Inject(fence);
        Bob.CrashBeforeRemember = true;
        Assert.Throws<SimCrashException>(() => _w.Drain());
        _w.Recover();

        // alice gets the list and releases the lost send of x.
        _w.Drain();
        Assert.False(Alice.Ledgers.ContainsKey(x), "alice still counts the fenced-off send of x");

        // Then the late message arrives at bob's new activation. It was fenced off: refused, not delivered.
        _w.Net.Inject(late);
        _w.Drain(); // the oracle throws if bob's kernel gets x, which alice let go
        Assert.Empty(Bob.Imports);

        // The row bob's pair wrote to keep the fence goes once the pair settles, like any row of a pair holding nothing.
        _w.RunQuietly(leases: 2);
        _w.CheckNothingLeft();
    }
}
