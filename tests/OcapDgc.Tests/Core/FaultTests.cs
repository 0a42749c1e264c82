using OcapDgc.Hosting;
using OcapDgc.Transport;

namespace OcapDgc.Tests.Core;

/// <summary>Batches through the fault-injecting transport: duplicated, reordered, lost, and crossing re-sends.</summary>
[Collection(DgcCluster.Name)]
public sealed class FaultTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task Drop_that_crosses_a_resend_keeps_the_export_alive()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        // b drops its only receipt; the dropRef is on the wire when a sends o again.
        fx.Faults.HoldNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        await b.Grain.DropAllAsync(a.Id, retire: false);
        await b.HandleTo(a).FlushAsync();
        Assert.Equal(1, fx.Faults.HeldCount(b.Id, a.Id));
        fx.Faults.HoldNext(a.Id, b.Id);
        await a.Grain.SendAsync(b.Id, [o]);

        await fx.Faults.ReleaseHeldAsync(b.Id, a.Id);
        await fx.IdleAsync();
        var crossed = await a.Export(o).GetSnapshotAsync();
        Assert.Equal(1, crossed.CountsByRemote[b.Id]);
        Assert.True(crossed.Reachable);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        await fx.Faults.ReleaseHeldAsync(a.Id, b.Id);
        await fx.SettleAsync(a, b);
        Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await a.LedgerAsync()).Premature);

        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
    }

    [Fact]
    public async Task Duplicated_batch_is_applied_once()
    {
        var (a, b) = await fx.NewPairAsync();
        var objects = await a.Grain.CreateObjectsAsync(2);
        await a.Grain.SendAsync(b.Id, objects);
        await a.Grain.SendAsync(b.Id, objects);
        await fx.SettleAsync(a, b);
        var imports = await b.Grain.GetHeldImportsAsync(a.Id);

        var duplicatesBefore = (await a.HandleTo(b).GetFiguresAsync()).DuplicateBatches;
        fx.Faults.DuplicateNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        await b.Grain.DropAsync(a.Id, [imports[0]], retire: false);
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();

        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(duplicatesBefore + 1, figures.DuplicateBatches);
        Assert.Equal(0, figures.RejectedOps);
        var dropped = await a.Export(objects[0]).GetSnapshotAsync();
        Assert.Equal(0, dropped.CountsByRemote[b.Id]);
        Assert.Equal(2, (await a.Export(objects[1]).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);
    }

    [Fact]
    public async Task Reordered_batches_are_applied_in_order()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();

        // Batch 2 (drop) and batch 3 (retire) arrive as 3 then 2: the retire must wait for the drop.
        fx.Faults.HoldNext(b.Id, a.Id, count: 2, match: FaultInjectingTransport.IsBatch);
        var handle = b.HandleTo(a);
        await handle.DropImportsAsync([import]);
        await handle.FlushAsync();
        await handle.RetireImportsAsync([import]);
        await handle.FlushAsync();
        Assert.Equal(2, fx.Faults.HeldCount(b.Id, a.Id));

        await fx.Faults.ReleaseHeldAsync(b.Id, a.Id, reverse: true);
        await fx.IdleAsync();

        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(0, figures.RejectedOps);
        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));

        // Fully released, a's side of the pair keeps no row either.
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, a.HandleTo(b).GetGrainId()));
    }

    [Fact]
    public async Task Lost_batch_is_retransmitted_and_applied_once()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        var duplicatesBefore = (await a.HandleTo(b).GetFiguresAsync()).DuplicateBatches;
        fx.Faults.DropNext(b.Id, a.Id, match: FaultInjectingTransport.IsBatch);
        await b.Grain.DropAllAsync(a.Id, retire: false);
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();
        Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);
        Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);

        // The next flush resends the unacknowledged batch with its original sequence number.
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();

        Assert.False((await a.Export(o).GetSnapshotAsync()).Reachable);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);
        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(duplicatesBefore, figures.DuplicateBatches);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);
    }

    [Fact]
    public async Task Lost_ack_makes_the_sender_resend_and_the_receiver_ignore_the_copy()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        await a.Grain.SendAsync(b.Id, [o, o, o]);
        await fx.SettleAsync(a, b);

        var duplicatesBefore = (await a.HandleTo(b).GetFiguresAsync()).DuplicateBatches;
        fx.Faults.DropNext(a.Id, b.Id, match: FaultInjectingTransport.IsAck);
        await b.Grain.DropAllAsync(a.Id, retire: false);
        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();
        Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);

        await b.HandleTo(a).FlushAsync();
        await fx.IdleAsync();

        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).UnackedBatches);
        Assert.Equal(0, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Equal(duplicatesBefore + 1, (await a.HandleTo(b).GetFiguresAsync()).DuplicateBatches);
        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
    }

    [Fact]
    public async Task Duplicated_application_message_is_delivered_once_and_counts_one_receipt()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        fx.Faults.DuplicateNext(a.Id, b.Id, match: f => f.Contains("\"deliver\"", StringComparison.Ordinal));
        await a.Grain.SendAsync(b.Id, [o]);
        await fx.SettleAsync(a, b);

        Assert.Equal(1, (await b.LedgerAsync()).MessagesReceived);
        Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).DuplicateMessages);

        // Had the copy counted a second receipt, this drop would over-release and be refused.
        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);
        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
        Assert.Equal(1, (await a.LedgerAsync()).ExportsRetired);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
