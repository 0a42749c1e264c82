using OcapDgc.Hosting;
using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

[Collection(DgcCluster.Name)]
public sealed class LifecycleTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task Export_import_drop_retire_reclaims_the_export_and_its_storage()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();

        await a.Grain.SendAsync(b.Id, [o]);
        await fx.SettleAsync(a, b);
        var imports = await b.Grain.GetHeldImportsAsync(a.Id);
        Assert.Single(imports);
        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.Equal(1, snapshot.CountsByRemote[b.Id]);
        Assert.True(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));

        await b.Grain.DropAsync(a.Id, imports, retire: false);
        await fx.SettleAsync(a, b);
        var afterDrop = await a.LedgerAsync();
        Assert.Equal(1, afterDrop.ExportsDroppedEvents);
        Assert.Equal(0, afterDrop.ExportsRetired);
        snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.False(snapshot.Reachable);
        Assert.True(snapshot.Recognizable);

        await b.HandleTo(a).RetireImportsAsync(imports);
        await fx.SettleAsync(a, b);
        var afterRetire = await a.LedgerAsync();
        Assert.Equal(1, afterRetire.ExportsRetired);
        Assert.Equal(0, afterRetire.Premature);
        Assert.False((await a.Export(o).GetSnapshotAsync()).Recognizable);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
        var figures = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(0, figures.Exports);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).Imports);

        // L3: both sides of the pair left no row, and neither manager lists the other any more.
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, a.HandleTo(b).GetGrainId()));
        Assert.False(fx.Storage.Has(DgcStateNames.RemoteHandle, b.HandleTo(a).GetGrainId()));
        Assert.Empty(await a.Manager.GetRemoteFiguresAsync());
        Assert.Empty(await b.Manager.GetRemoteFiguresAsync());
    }

    [Fact]
    public async Task Many_holders_keep_an_export_until_the_last_one_drops()
    {
        var kernels = await fx.NewKernelsAsync("a", "b", "c", "d");
        var (a, holders) = (kernels[0], kernels[1..]);
        var o = await a.CreateAsync();
        foreach (var h in holders)
        {
            await a.Grain.SendAsync(h.Id, [o]);
        }

        await fx.SettleAsync(kernels);
        Assert.Equal(3, (await a.Export(o).GetSnapshotAsync()).CountsByRemote.Count);

        foreach (var h in holders[..2])
        {
            await h.Grain.DropAllAsync(a.Id, retire: true);
        }

        await fx.SettleAsync(kernels);
        var ledger = await a.LedgerAsync();
        Assert.Equal(0, ledger.ExportsDroppedEvents);
        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.True(snapshot.Reachable);
        Assert.Equal([holders[2].Id], snapshot.CountsByRemote.Keys);

        await holders[2].Grain.DropAllAsync(a.Id, retire: true);
        await fx.SettleAsync(kernels);
        ledger = await a.LedgerAsync();
        Assert.Equal(1, ledger.ExportsDroppedEvents);
        Assert.Equal(1, ledger.ExportsRetired);
        Assert.Equal(0, ledger.Premature);
    }

    [Fact]
    public async Task Sending_an_import_back_names_the_receivers_export_and_is_not_counted()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();

        var wire = await b.HandleTo(a).ExportRefsAsync([import]);

        // a's first export in its session towards b (wire ids carry the session, see SessionTracker.FirstExportId).
        var first = $"ro-{SessionTracker.FirstExportId((await a.HandleTo(b).GetFiguresAsync()).Epoch)}";
        Assert.Equal([first], wire);
        Assert.Equal(1, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
        Assert.Equal([o], await a.HandleTo(b).ImportRefsAsync([first]));
    }

    [Fact]
    public async Task Exporter_can_delete_a_dropped_object_and_the_importer_hears_it_retired()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        var refused = await Assert.ThrowsAsync<DgcException>(() => a.Manager.DeleteExportsAsync([o]));
        Assert.Equal(DgcError.StillReachable, refused.Code);
        Assert.True((await a.Export(o).GetSnapshotAsync()).Reachable);

        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        await b.HandleTo(a).DropImportsAsync([import]);
        await fx.SettleAsync(a, b);
        await a.Manager.DeleteExportsAsync([o]);
        await fx.SettleAsync(a, b);

        Assert.Equal(1, (await b.LedgerAsync()).ImportsRetiredByExporter);
        Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).Imports);
        Assert.Equal(0, (await a.HandleTo(b).GetFiguresAsync()).Exports);
        Assert.False(fx.Storage.Has(DgcStateNames.Export, a.Export(o).GetGrainId()));
    }

    [Fact]
    public async Task Boyd_flushes_queued_drops_and_is_never_echoed_back()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        await b.Grain.DropAllAsync(a.Id, retire: false);
        Assert.Equal(1, (await b.HandleTo(a).GetFiguresAsync()).QueuedOps);

        fx.Faults.Capture = true;
        try
        {
            await b.Manager.BringOutYourDeadAsync();
            await fx.IdleAsync();

            var frames = fx.Faults.Captured.Where(f => (f.From, f.To) == (b.Id, a.Id) || (f.From, f.To) == (a.Id, b.Id)).ToList();
            Assert.Equal(1, frames.Count(f => f.From == b.Id && f.Json.Contains(WireCodec.BoydMethod, StringComparison.Ordinal)));
            Assert.Equal(0, frames.Count(f => f.From == a.Id && f.Json.Contains(WireCodec.BoydMethod, StringComparison.Ordinal)));
            Assert.Equal(1, (await a.LedgerAsync()).ExportsDroppedEvents);
            Assert.Equal(0, (await b.HandleTo(a).GetFiguresAsync()).QueuedOps);
        }
        finally
        {
            fx.Faults.Capture = false;
        }
    }

    [Fact]
    public async Task The_reference_kernel_traces_an_import_it_holds_through_its_handle_and_says_when_it_holds_none()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var label = $"{a.Id}/{o}";

        var held = await b.Grain.TraceImportAsync(label, a.Id);
        var kref = Assert.Single(await b.Grain.GetHeldImportsAsync(a.Id));
        Assert.StartsWith($"held as {kref};", held, StringComparison.Ordinal);
        Assert.Contains($"Role = {RefRole.Import}", held, StringComparison.Ordinal);

        await fx.ReleaseAllAsync(b, a);
        Assert.Equal("not held", await b.Grain.TraceImportAsync(label, a.Id));
    }
}
