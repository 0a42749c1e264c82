namespace OcapDgc.Tests.Core;

/// <summary>Kernel callbacks for effects (dropped, retired, revoked, ...) are delivered at least once, and a kernel that ignores repeated ids hears each once.</summary>
[Collection(DgcCluster.Name)]
public sealed class EffectDeliveryTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task A_failed_dropped_callback_is_delivered_again_and_heard_once()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        await a.Grain.FailNextCallbacksAsync(1);

        await b.Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(a, b);

        // The export is released in the DGC; the kernel's "dropped" callback failed and waits in a's outbox.
        Assert.False((await a.Export(o).GetSnapshotAsync()).Recognizable);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);

        await a.InternalHandleTo(b).CheckLeaseAsync(); // the next lease check (or flush tick) delivers it again
        await fx.IdleAsync();

        var ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.Equal(0, ledger.ToldTwice);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
