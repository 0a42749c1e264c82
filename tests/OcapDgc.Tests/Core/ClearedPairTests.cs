namespace OcapDgc.Tests.Core;

/// <summary>
/// A late copy of a delivered message is never delivered again after both handles cleared their rows
/// (the grain-level side of Hole2). Here the exporter's handle cleared too and started a new session,
/// which the importer heard of, so the copy is refused as stale; the case where the importer alone
/// forgot (only its manager's memory of the remote refuses the copy) is HoleTests.Hole2 at protocol level.
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

        await b.InternalHandleTo(a).ReceiveFrameAsync(copy.Json);
        await fx.IdleAsync();

        Assert.Equal(delivered, (await b.LedgerAsync()).MessagesReceived);
        Assert.Empty(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.Equal(0, (await b.LedgerAsync()).Confused);
        await fx.AssertNothingLeftAsync(a, b);
    }
}
