namespace OcapDgc.Tests.Core;

/// <summary>
/// What a remote handle knew of its remote outlives its row: once a pair holds nothing, its row is
/// deleted, and the kernel's manager keeps the remote's session and how far its messages were delivered,
/// so a late copy of an old message is refused by the next activation (the grain-level side of Hole2).
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class ClearedPairTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task A_late_copy_of_a_delivered_message_is_refused_after_both_handles_cleared()
    {
        var k = await fx.NewKernelsAsync("a", "b");
        var (a, b) = (k[0], k[1]);
        var o = await a.CreateAsync();
        fx.Faults.Capture = true;
        try
        {
            await a.Grain.SendAsync(b.Id, [o]);
            await fx.IdleAsync();
        }
        finally
        {
            fx.Faults.Capture = false;
        }

        var copy = fx.Faults.Captured.Last(f => f.From == a.Id && f.To == b.Id && f.Json.Contains("\"method\":\"deliver\"", StringComparison.Ordinal));
        await fx.ReleaseAllAsync(b, a);
        await fx.AssertNothingLeftAsync(a, b);
        var delivered = (await b.LedgerAsync()).MessagesReceived;

        await b.HandleTo(a).ReceiveFrameAsync(copy.Json);
        await fx.IdleAsync();

        Assert.Equal(delivered, (await b.LedgerAsync()).MessagesReceived);
        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await b.LedgerAsync()).Confused);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
