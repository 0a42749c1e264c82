namespace OcapDgc.Tests.Core;

/// <summary>A kernel that carries its messages itself translates with ExportRefsAsync / ImportRefsAsync.</summary>
[Collection(DgcCluster.Name)]
public sealed class KernelCarriedMessagesTests(DgcClusterFixture fx)
{
    // Found by the benchmark (issue 5): a fresh importer's handle has PeerEpoch 0 and ImportRefsAsync imports
    // under it; the first frame from the exporter (epoch 1) used to revoke every such import, so their drops
    // went nowhere and the exporter kept the holds while the importer lived.
    [Fact]
    public async Task Refs_imported_before_any_frame_from_the_exporter_are_not_revoked_and_can_be_dropped()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();

        var wire = await a.HandleTo(b).ExportRefsAsync([o]);
        var krefs = await b.HandleTo(a).ImportRefsAsync(wire);
        await fx.SettleAsync(a, b);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).RevokedImports);

        await b.HandleTo(a).DropImportsAsync(krefs);
        await fx.SettleAsync(a, b);
        Assert.False((await a.Export(o).GetSnapshotAsync()).Reachable);
    }
}
