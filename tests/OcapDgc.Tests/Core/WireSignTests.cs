using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

/// <summary>
/// In every message the sign is read from the receiver's side: + is an object the sender exported,
/// - one the receiver exported. These tests read the real frames of a two-kernel round trip.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class WireSignTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task Every_message_type_uses_the_receivers_sign_in_both_directions()
    {
        var k = await fx.NewKernelsAsync("a", "b");
        var (a, b) = (k[0], k[1]);
        var o = await a.CreateAsync();
        var p = await b.CreateAsync();
        fx.Faults.Capture = true;
        try
        {
            await a.Grain.SendAsync(b.Id, [o]);                 // a's object travels a -> b
            await fx.SettleAsync(a, b);
            var oAtB = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
            await b.Grain.SendAsync(a.Id, [p, oAtB]);           // b's object, and a's object sent back
            await fx.SettleAsync(a, b);
            var pAtA = (await a.Grain.GetHeldImportsAsync(b.Id)).Single();
            await b.Grain.DropAsync(a.Id, [oAtB], retire: false); // b releases a's object
            await a.Grain.DropAsync(b.Id, [pAtA], retire: true);  // a releases and forgets b's object
            await fx.SettleAsync(a, b);
            await a.Manager.DeleteExportsAsync([o]);            // a deletes o, which b still recognizes
            await fx.SettleAsync(a, b);
        }
        finally
        {
            fx.Faults.Capture = false;
        }

        var frames = fx.Faults.Captured.Where(f => f.From == a.Id || f.From == b.Id).ToList();
        var aToB = Decode(frames, a, b);
        var bToA = Decode(frames, b, a);

        // Application messages.
        Assert.Equal(["ro+1"], Refs<AppFrame>(aToB, f => f.Refs));
        Assert.Equal(["ro+1", "ro-1"], Refs<AppFrame>(bToA, f => f.Refs));

        // GC operations: addRef/dropRef always name the receiver's export; a retire names whichever side owns
        // the object: ro-1 when a forgets b's p, ro+1 when a deletes its own o.
        Assert.Equal(["AddRef ro-1", "DropRef ro-1", "Retire ro-1", "Retire ro+1"], Ops(aToB, a, b));
        Assert.Equal(["AddRef ro-1", "DropRef ro-1"], Ops(bToA, b, a));
        Assert.Equal(1, (await b.LedgerAsync()).ImportsRetiredByExporter);
        Assert.Equal(1, (await b.LedgerAsync()).ExportsRetired);
    }

    private static List<WireFrame> Decode(List<Transport.CapturedFrame> frames, Kernel from, Kernel to) =>
        [.. frames.Where(f => f.From == from.Id && f.To == to.Id).Select(f => WireCodec.Decode(f.Json))];

    private static string[] Refs<T>(List<WireFrame> frames, Func<T, IReadOnlyList<WireRef>> refs)
        where T : WireFrame =>
        [.. frames.OfType<T>().SelectMany(f => refs(f).Select(r => Short(f, r)))];

    // Distinct by seq: a batch may be sent more than once by BOYD before its ack arrives.
    private static string[] Ops(List<WireFrame> frames, Kernel from, Kernel to) =>
        [.. frames.OfType<BatchFrame>().DistinctBy(b => b.Seq).OrderBy(b => b.Seq).SelectMany(b => b.Ops.Select(op => $"{op.Kind} {Short(b, op.Ref)}"))];

    /// <summary>
    /// A wire id carries its exporter's session in its high bits (SessionTracker.FirstExportId). Checks that
    /// the session is the one the frame's header names for that sign (the sender's epoch for +, the
    /// receiver's, as the sender knows it, for -), and returns the ref with the count within it: ro+1, ro-1.
    /// </summary>
    private static string Short(WireFrame frame, WireRef r)
    {
        Assert.Equal(r.SenderExport ? frame.Session.Epoch : frame.Session.Peer, SessionTracker.EpochOf(r.Id));
        return $"{(r.SenderExport ? "ro+" : "ro-")}{r.Id & 0xFFFF_FFFF}";
    }
}
