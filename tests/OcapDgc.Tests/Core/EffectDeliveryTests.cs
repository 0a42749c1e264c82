namespace OcapDgc.Tests.Core;

/// <summary>
/// Kernel callbacks for effects (dropped, retired, revoked, ...) and application messages are delivered at least
/// once, and a kernel that ignores repeated ids hears each once.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class EffectDeliveryTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task A_failed_dropped_callback_is_delivered_again_and_heard_once()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        await a.Grain.FailNextCallbacksAsync(1);

        var imported = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        await b.Grain.DropAsync(a.Id, [imported], retire: false);
        await fx.SettleAsync(a, b);

        // The export is unreachable in the DGC (b still recognizes it); the kernel's "dropped" callback failed and waits in a's outbox.
        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.False(snapshot.Reachable);
        Assert.True(snapshot.Recognizable);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        await a.InternalHandleTo(b).CheckLeaseAsync(); // the next lease check (or flush tick) delivers it again
        await fx.IdleAsync();

        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(0, ledger.ToldTwice);

        await b.Grain.RetireAsync(a.Id, [imported]);
        await fx.SettleAsync(a, b);
        ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_failed_dropped_callback_whose_export_was_retired_meanwhile_is_said_by_retired_alone()
    {
        var (a, b, o) = await fx.RetiredWaitingAsync();

        // The export is forgotten in the DGC; the kernel's "dropped" callback failed and waits in a's outbox, "retired" behind it.
        Assert.False((await a.Export(o).GetSnapshotAsync()).Recognizable);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        await a.InternalHandleTo(b).CheckLeaseAsync(); // the next lease check (or flush tick) delivers what still holds
        await fx.IdleAsync();

        // Nobody recognizes the export any more, so whether the waiting "dropped" is stale cannot be told: "retired" says it.
        var ledger = await a.LedgerAsync();
        Assert.Equal(0, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.Equal(0, ledger.ToldTwice);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_dropped_that_waited_while_the_export_went_round_again_through_another_remote_is_not_heard_twice()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var c = (await fx.NewKernelsAsync("c"))[0];
        var fromB = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        // b drops o; a's kernel fails to hear it, so that "dropped" waits in the a->b outbox.
        await a.Grain.FailNextCallbacksAsync(1);
        await b.Grain.DropAsync(a.Id, [fromB], retire: false);
        await fx.SettleAsync(a, b);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        // Meanwhile a sends o to c, which drops and retires it: that release is reported, through the a->c pair.
        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(a, c);
        await c.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, c);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);

        // b retires o: nobody recognizes it any more. The old "dropped" waiting for a->b is stale (the kernel heard the
        // later release already), and nothing left can tell it so: it is withheld, and "retired" is said.
        await b.Grain.RetireAsync(a.Id, [fromB]);
        await fx.SettleAsync(a, b);
        await a.InternalHandleTo(b).CheckLeaseAsync();
        await fx.IdleAsync();

        var ledger = await a.LedgerAsync();
        Assert.Equal(0, ledger.ToldTwice);
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b, c);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task A_dropped_still_on_its_way_when_the_kernel_sends_the_export_again_is_one_report_of_one_release(bool bRetires, bool earlierFirst)
    {
        // a shares o with b and with c; c drops it (c's count is 0; it still recognizes o), b still holds it.
        var (a, b, o) = await fx.PairSharingOneAsync();
        var c = (await fx.NewKernelsAsync("c"))[0];
        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(a, c);
        var fromB = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        await c.Grain.DropAllAsync(a.Id, retire: false);
        await fx.SettleAsync(a, c);

        // b drops o (and retires it, or not): that release makes it unreachable, and its "dropped" (from the a->b pair)
        // is held on its way in.
        fx.Gate.Hold(nameof(IDgcKernel.OnExportsDroppedAsync), a.Id, count: 2);
        await b.Grain.DropAsync(a.Id, [fromB], retire: bRetires);
        await b.HandleTo(a).FlushAsync();
        await fx.Gate.ArrivedAsync(0);

        // Before it arrives, a's kernel sends o to c again, and c's lease lapses: that second release's "dropped"
        // (from the a->c pair) is held too.
        await a.Grain.SendAsync(c.Id, [o]);
        fx.Clock.Advance(DgcClusterFixture.Lease * 2);
        var lapse = a.InternalHandleTo(c).CheckLeaseAsync();
        await fx.Gate.ArrivedAsync(1);

        // The two reports arrive, in either order: two releases, each told once. The export's row names only the later
        // release by then, or (b retired it, c's hold was the last) is gone: the kernel tells the reports apart by who
        // made them. With the row gone, only the earlier report first can be told apart (see the README's kill soak).
        foreach (var held in earlierFirst ? new[] { 0, 1 } : [1, 0])
        {
            await fx.Gate.ReleaseAsync(held);
        }

        await lapse;
        var ledger = await a.LedgerAsync();
        Assert.Equal(2, ledger.ExportsDroppedEvents);
        Assert.Equal(0, ledger.ToldTwice);
        Assert.Equal(0, ledger.Premature);

        await fx.SettleAsync(a, b, c);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await c.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b, c);
        await fx.AssertNothingLeftAsync(a, b, c);
    }

    [Fact]
    public async Task A_message_whose_delivery_failed_is_delivered_again_and_its_refs_are_then_held_and_released()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        await b.Grain.FailNextCallbacksAsync(1);

        await a.Grain.SendAsync(b.Id, [o]);
        await fx.SettleAsync(a, b);

        // b's DGC imported o (a counts b's hold), but b's kernel never heard the message: it waits in b's outbox.
        Assert.Equal(1, (await a.Export(o).GetSnapshotAsync()).CountsByRemote.GetValueOrDefault(b.Id));
        Assert.Equal(0, (await b.LedgerAsync()).MessagesReceived);
        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));

        await b.InternalHandleTo(a).CheckLeaseAsync(); // the next lease check (or flush tick) delivers it again
        await fx.IdleAsync();

        Assert.Equal(1, (await b.LedgerAsync()).MessagesReceived);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        await fx.ReleaseAllAsync(b, a);
    }

    [Fact]
    public async Task A_drop_while_a_message_carrying_the_import_waits_keeps_the_receipt_of_that_message()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var imported = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        // o is sent again; b's kernel fails to take that message, then drops the import it heard of the first time.
        await b.Grain.FailNextCallbacksAsync(1);
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.IdleAsync();
        await b.Grain.DropAsync(a.Id, [imported], retire: true);
        await fx.SettleAsync(a, b);

        // The drop released the first receipt only: the waiting message hands o to b's kernel again, so a still counts b.
        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.True(snapshot.Reachable);
        Assert.Equal(1, snapshot.CountsByRemote.GetValueOrDefault(b.Id));
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal([imported], await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await a.LedgerAsync()).Premature);

        await fx.ReleaseAllAsync(b, a);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);
    }

    [Fact]
    public async Task A_waiting_message_that_sends_back_an_object_another_remote_let_go_meanwhile_is_refused_and_its_imports_released()
    {
        var k = await fx.NewKernelsAsync("a", "b", "c");
        var (a, b, c) = (k[0], k[1], k[2]);
        var o = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [o]);
        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(a, b, c);
        var atB = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        var p = await b.CreateAsync();

        // a's kernel cannot take deliveries from its handle to b: b's message sending o back, with p, waits there.
        await a.Grain.FailDeliveriesFromAsync(b.Id, true);
        await b.Grain.SendAsync(a.Id, [atB, p]);
        await fx.IdleAsync();
        var received = (await a.LedgerAsync()).MessagesReceived;

        // b drops o, then c does: c's release makes it unreachable, and a's kernel hears "dropped" through its handle to c.
        await b.Grain.DropAsync(a.Id, [atB], retire: true);
        await fx.SettleAsync(a, b);
        await c.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, c);
        Assert.False((await a.Export(o).GetSnapshotAsync()).Reachable);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);

        // Deliveries from b work again: the waiting message would hand a's kernel an object it may have let go, so it is
        // refused; a's kernel is told that p's import (which it never heard of) names nothing, and p's receipt goes back to b.
        await a.Grain.FailDeliveriesFromAsync(b.Id, false);
        await a.InternalHandleTo(b).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).LateMessagesRefused);
        var ledger = await a.LedgerAsync();
        Assert.Equal(received, ledger.MessagesReceived);
        Assert.Equal(1, ledger.ImportsRetiredByExporter);

        await fx.SettleAsync(a, b, c);
        Assert.False((await b.Export(p).GetSnapshotAsync()).Recognizable);
        await fx.AssertNothingLeftAsync(a, b, c);
    }
    /// <summary>How the importing kernel let go of the import before the late repeat came.</summary>
    public enum LetGo { Dropped, Retired, RevokedAndRetired }

    [Theory]
    [InlineData(LetGo.Dropped)]
    [InlineData(LetGo.Retired)]
    [InlineData(LetGo.RevokedAndRetired)]
    public async Task A_message_repeated_late_after_its_import_was_let_go_does_not_hand_the_import_back(LetGo how)
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        var heardBefore = await b.Grain.GetHeardIdsAsync();
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.SettleAsync(a, b);
        var messageId = Assert.Single((await b.Grain.GetHeardIdsAsync()).Except(heardBefore));
        var imported = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));

        switch (how)
        {
            case LetGo.Dropped or LetGo.Retired:
                await b.Grain.DropAsync(a.Id, [imported], retire: how == LetGo.Retired);
                break;
            case LetGo.RevokedAndRetired:
                await a.Grain.RestartAsync(); // a's session ends: b's import is revoked at the next contact
                await fx.SettleAsync(a, b);
                Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
                await b.Grain.DropAllAsync(a.Id, retire: true);
                break;
        }

        await fx.SettleAsync(a, b);
        Assert.False(await b.HandleTo(a).TraceRefAsync(imported) is { Role: RefRole.Import, Reachable: true });

        // The same delivery again, late (a call that reported failure but ran after all, or one made by a second
        // activation of b's handle after a silo crash): the DGC no longer counts the import as b's, so b does not take it back.
        await b.Grain.DeliverAsync(a.Id, messageId, "deliver", $"[\"{a.Id}/{o}\"]", [imported]);

        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));
        var ledger = await b.LedgerAsync();
        Assert.Equal(1, ledger.MessagesReceived);
        Assert.Equal(1, ledger.EffectRepeats);
        await fx.ReleaseAllAsync(b, a);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_revocation_that_waited_while_the_kernel_retired_the_import_is_not_told(bool droppedFirst)
    {
        var (a, b, imported) = await RetiredWhileItsRevocationWaitsAsync(droppedFirst);

        // The next lease check delivers the waiting revocation, checked again first: the import it names is retired.
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.IdleAsync();
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Equal($"{b.Id} holds nothing named {imported}.", await b.Grain.DescribeRefAsync(imported));
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_revocation_that_crosses_the_kernels_retire_leaves_the_reference_kernel_nothing_to_retire(bool droppedFirst)
    {
        var (a, b, imported) = await RetiredWhileItsRevocationWaitsAsync(droppedFirst);

        // The revocation reaches the kernel after its retire reached the DGC (delivered while the retire was on its way).
        await b.Grain.OnImportsRevokedAsync(a.Id, "a test's crossing revocation", [imported]);
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        Assert.Equal($"{b.Id} holds nothing named {imported}.", await b.Grain.DescribeRefAsync(imported));

        // Retiring it again would be refused as unknown: the drop-all with retire names nothing of it.
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await b.InternalHandleTo(a).CheckLeaseAsync();
        await fx.SettleAsync(a, b);
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRevoked);
        await fx.AssertNothingLeftAsync(a, b);
    }

    /// <summary>
    /// b imports one object of a (dropped first, or held); a restarts, so b's import is revoked, but b's "revoked"
    /// callback fails and waits; b, not told, then retires the import, and the DGC forgets the revoked import.
    /// </summary>
    private async Task<(Kernel A, Kernel B, string Imported)> RetiredWhileItsRevocationWaitsAsync(bool droppedFirst)
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var imported = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        if (droppedFirst)
        {
            await b.Grain.DropAsync(a.Id, [imported], retire: false); // recognized still, to be retired later
            await fx.SettleAsync(a, b);
        }

        await b.Grain.FailNextCallbacksAsync(1);
        await a.Grain.RestartAsync();
        await fx.SettleAsync(a, b);
        Assert.Equal(RefRole.RevokedImport, (await b.HandleTo(a).TraceRefAsync(imported)).Role);
        Assert.Equal(0, (await b.LedgerAsync()).ImportsRevoked);

        if (droppedFirst)
        {
            await b.Grain.RetireAsync(a.Id, [imported]);
        }
        else
        {
            await b.Grain.DropAsync(a.Id, [imported], retire: true);
        }

        Assert.Equal(RefRole.Unknown, (await b.HandleTo(a).TraceRefAsync(imported)).Role);
        return (a, b, imported);
    }

    [Fact]
    public async Task A_dropped_an_earlier_activation_left_waiting_goes_out_after_reactivation_though_the_kernel_calls_back_into_the_handle()
    {
        var (a, b, _, fromB) = await fx.DroppedWaitingAsync();
        await fx.DeactivateAsync(a.HandleTo(b));

        // The next call activates the handle from its rows. The waiting "dropped" goes out once the activation is
        // done: a's kernel, hearing it, asks this very handle for its figures (to check b's hold), which would wait for
        // an activation still under way, and the call that activated it would time out.
        await a.HandleTo(b).GetFiguresAsync();
        await a.InternalHandleTo(b).CheckLeaseAsync();
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(0, ledger.Premature);

        await b.Grain.RetireAsync(a.Id, [fromB]);
        await fx.SettleAsync(a, b);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task The_call_that_wakes_a_handle_returns_after_the_effects_an_earlier_activation_left_and_the_clear_they_allow()
    {
        // b drops and retires o; a's kernel fails to hear it, so the effects are all the a->b pair still holds.
        var (a, b, _) = await fx.RetiredWaitingAsync();
        Assert.Equal(0, (await a.LedgerAsync()).ExportsRetired);
        await fx.DeactivateAsync(a.HandleTo(b));

        // The lease check wakes the handle. When it returns, the kernel heard "retired", and the pair, left holding
        // nothing, cleared its row and left its manager's list: no later timer tick still has that work under way.
        await a.InternalHandleTo(b).CheckLeaseAsync();
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b);
    }

    [Fact]
    public async Task A_dropped_for_a_release_after_a_send_the_kernel_did_not_see_is_not_taken_for_the_same_release_twice()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [o]);
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.SettleAsync(a, b);
        await b.Grain.DropAllAsync(a.Id, retire: false);
        await fx.SettleAsync(a, b);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);

        // o is sent again, not through a's kernel but past it, as a second activation of that kernel (left for a moment
        // by a silo crash) would send it, whose record of the send is then lost. b takes it and lets it go again.
        await a.HandleTo(b).SendAsync("deliver", $"[\"{a.Id}/{o}\"]", [o]);
        await fx.SettleAsync(a, b);
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);

        // Two releases, each reported once: a's kernel saw no send in between, but the DGC recorded another release.
        var ledger = await a.LedgerAsync();
        Assert.Equal(2, ledger.ExportsDroppedEvents);
        Assert.Equal(0, ledger.ToldTwice);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
