using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

/// <summary>Bad calls from a kernel and bad frames from a remote are refused and change nothing.</summary>
[Collection(DgcCluster.Name)]
public sealed class RejectionTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task Retire_before_drop_is_rejected_and_the_import_stays_reachable()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        var before = await b.HandleTo(a).GetFiguresAsync();

        var e = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).RetireImportsAsync([import]));

        Assert.Equal(DgcError.RetireBeforeDrop, e.Code);
        Assert.Contains(import, e.Message, StringComparison.Ordinal);
        var after = await b.HandleTo(a).GetFiguresAsync();
        Assert.Equal(before.ReachableImports, after.ReachableImports);
        Assert.Equal(before.QueuedOps, after.QueuedOps);
    }

    [Fact]
    public async Task Dropping_an_import_twice_is_an_over_release_and_changes_nothing()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        await b.HandleTo(a).DropImportsAsync([import]);
        var queued = (await b.HandleTo(a).GetFiguresAsync()).QueuedOps;

        var e = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).DropImportsAsync([import]));

        Assert.Equal(DgcError.OverRelease, e.Code);
        Assert.Equal(queued, (await b.HandleTo(a).GetFiguresAsync()).QueuedOps);
    }

    [Fact]
    public async Task Inbound_over_release_is_rejected_with_the_count_unchanged()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        // b claims to release 5 receipts of ro-1 while a sent it once.
        await a.ReceiveForgedAsync(b, await a.NextBatchFromAsync(b, new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(1), 5)));

        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.Equal(1, snapshot.CountsByRemote[b.Id]);
        Assert.True(snapshot.Reachable);
        Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
        Assert.Equal(0, (await a.LedgerAsync()).ExportsDroppedEvents);
    }

    [Fact]
    public async Task A_ref_never_exported_to_that_remote_is_rejected_and_other_holds_are_untouched()
    {
        var k = await fx.NewKernelsAsync("a", "b", "c");
        var (a, b, c) = (k[0], k[1], k[2]);
        var o = await a.CreateAsync();
        await a.Grain.SendAsync(c.Id, [o]);
        await fx.SettleAsync(k);

        // b was never sent anything, yet drops and retires "ro-1" (c's wire id for o) and mentions it in a message.
        await a.ReceiveForgedAsync(b, await a.NextBatchFromAsync(
            b,
            new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(1), 1),
            new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(1))));
        await a.ReceiveForgedAsync(b, new AppFrame(1, 1, "deliver", "[\"x\"]", [WireRef.ToReceiverExport(1)]));

        // Each is refused: as an unknown ref, or (once b has heard a's session) as naming a session a never gave b.
        var refused = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(3, refused.RejectedOps + refused.StaleOps);
        Assert.Equal(0, (await a.LedgerAsync()).MessagesReceived);
        var snapshot = await a.Export(o).GetSnapshotAsync();
        Assert.Equal(1, snapshot.CountsByRemote[c.Id]);
        Assert.False(snapshot.CountsByRemote.ContainsKey(b.Id));

        var e = await Assert.ThrowsAsync<DgcException>(() => a.HandleTo(b).ImportRefsAsync(["ro-1"]));
        Assert.Equal(DgcError.UnknownRef, e.Code);
        var unknown = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).DropImportsAsync(["ko999"]));
        Assert.Equal(DgcError.UnknownRef, unknown.Code);
    }

    [Fact]
    public async Task A_gc_message_with_the_wrong_sign_is_rejected()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();

        // A dropRef must name the receiver's export (ro-1); ro+1 would be b's own object.
        await a.ReceiveForgedAsync(b, await a.NextBatchFromAsync(b, new DgcOp(DgcOpKind.DropRef, WireRef.ToSenderExport(1), 1)));

        Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).RejectedOps);
        Assert.Equal(1, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
    }

    [Fact]
    public async Task An_import_list_with_the_wrong_sign_is_refused_and_reconciles_nothing()
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var mine = await a.HandleTo(b).GetFiguresAsync();
        var theirs = await b.HandleTo(a).GetFiguresAsync();

        // A dgc:imports must list the receiver's exports (ro-N); ro+1 would be b's own object.
        await a.ReceiveForgedAsync(b, new ImportListFrame(theirs.Stream, mine.HighestAppliedInbound, [new ImportListEntry(WireRef.ToSenderExport(1), true)]));

        var after = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(mine.RejectedOps + 1, after.RejectedOps);
        Assert.Equal(mine.Reconciliations, after.Reconciliations);
        Assert.Equal(1, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"method\":\"dgc:dropRef\",\"params\":{\"refs\":[\"ro-1\"],\"counts\":[1]}}")]
    [InlineData("{\"method\":\"dgc:batch\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"stream\":1,\"seq\":0,\"acked\":0,\"messages\":[]}}")]
    [InlineData("{\"method\":\"dgc:batch\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"stream\":1,\"seq\":1,\"acked\":0,\"messages\":[{\"method\":\"dgc:dropRef\",\"params\":{\"refs\":[\"ro-1\"],\"counts\":[0]}}]}}")]
    [InlineData("{\"method\":\"deliver\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"refs\":[\"ko1\"]}}")]
    [InlineData("{\"method\":\"deliver\",\"params\":{\"refs\":[\"ro+1\"]}}")]
    [InlineData("{\"method\":\"dgc:ping\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"stream\":1,\"asOf\":0,\"imports\":-1,\"digest\":\"0\"}}")]
    [InlineData("{\"method\":\"dgc:fence\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"stream\":0,\"seq\":5}}")]
    [InlineData("{\"method\":\"dgc:imports\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"stream\":1,\"asOf\":0,\"refs\":[\"ro-1\"],\"reachable\":[]}}")]
    [InlineData("{\"method\":\"dgc:pong\",\"session\":{\"inc\":1,\"epoch\":1,\"peer\":0},\"params\":{\"status\":\"maybe\"}}")]
    public async Task Malformed_frames_are_rejected_and_change_nothing(string frame)
    {
        var (a, b, o) = await fx.PairSharingOneAsync();
        var before = await a.HandleTo(b).GetFiguresAsync();

        await a.InternalHandleTo(b).ReceiveFrameAsync(frame);

        var after = await a.HandleTo(b).GetFiguresAsync();
        Assert.Equal(before.RejectedOps + 1, after.RejectedOps);
        Assert.Equal(before.HighestAppliedInbound, after.HighestAppliedInbound);
        Assert.Equal(1, (await a.Export(o).GetSnapshotAsync()).CountsByRemote[b.Id]);
    }

    [Theory]
    [InlineData("kp3")]
    [InlineData("ko")]
    [InlineData("o12")]
    [InlineData("ko-1")]
    [InlineData("")]
    public async Task Malformed_krefs_are_refused_at_the_kernel_api(string kref)
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var e = await Assert.ThrowsAsync<DgcException>(() => a.HandleTo(b).ExportRefsAsync([kref]));
        Assert.Equal(DgcError.InvalidInput, e.Code);
        Assert.Equal(1, (await a.HandleTo(b).GetFiguresAsync()).Exports);
    }

    [Fact]
    public async Task A_dropped_import_cannot_be_sent_on()
    {
        var (a, b, _) = await fx.PairSharingOneAsync();
        var import = (await b.Grain.GetHeldImportsAsync(a.Id)).Single();
        await b.HandleTo(a).DropImportsAsync([import]);

        var e = await Assert.ThrowsAsync<DgcException>(() => b.HandleTo(a).ExportRefsAsync([import]));
        Assert.Equal(DgcError.UnknownRef, e.Code);
    }
}
