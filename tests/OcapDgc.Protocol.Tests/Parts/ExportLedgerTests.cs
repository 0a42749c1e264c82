using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Parts;

public sealed class ExportLedgerTests
{
    private readonly ExportLedger _ledger = new("ko1", new ExportState());

    [Fact]
    public void A_drop_that_crosses_a_resend_keeps_the_export_reachable()
    {
        _ledger.RecordSent("bob", 1);
        _ledger.RecordSent("bob", 1); // re-sent while bob's drop of the first receipt is on the wire

        var result = _ledger.Apply("bob", 1, 1, [DgcOpKind.DropRef], [1], out _);

        Assert.False(result.Dropped);
        Assert.Equal(1, result.RemoteCount);
        Assert.True(_ledger.State.Reachable);
    }

    [Fact]
    public void Dropped_fires_when_the_last_remote_releases_and_retired_when_none_recognizes_it()
    {
        _ledger.RecordSent("bob", 1);
        _ledger.RecordSent("carol", 1);

        Assert.False(_ledger.Apply("bob", 1, 1, [DgcOpKind.DropRef, DgcOpKind.Retire], [1, 0], out _).Dropped);
        var last = _ledger.Apply("carol", 1, 1, [DgcOpKind.DropRef], [1], out _);
        Assert.True(last.Dropped);
        Assert.False(last.Retired);
        Assert.True(_ledger.Apply("carol", 1, 2, [DgcOpKind.Retire], [0], out _).Retired);
        Assert.Empty(_ledger.State.Holds);
    }

    [Fact]
    public void A_replayed_batch_changes_nothing()
    {
        _ledger.RecordSent("bob", 2);
        _ledger.Apply("bob", 1, 5, [DgcOpKind.DropRef], [1], out _);

        var replay = _ledger.Apply("bob", 1, 5, [DgcOpKind.DropRef], [1], out var changed);

        Assert.False(changed);
        Assert.Equal(1, replay.RemoteCount);
    }

    [Fact]
    public void An_over_release_is_refused_and_changes_nothing()
    {
        _ledger.RecordSent("bob", 1);

        var result = _ledger.Apply("bob", 1, 1, [DgcOpKind.DropRef], [2], out _);

        Assert.Single(result.Errors);
        Assert.Equal(1, _ledger.State.Holds["bob"].Count);
    }

    [Fact]
    public void A_retire_with_sends_outstanding_is_kept_and_one_remote_cannot_release_anothers_hold()
    {
        _ledger.RecordSent("bob", 1);
        _ledger.RecordSent("carol", 1);

        _ledger.Apply("bob", 1, 1, [DgcOpKind.Retire], [0], out _);
        var expired = _ledger.ExpireRemote("mallory", out var changed);

        Assert.False(changed);
        Assert.False(expired.Dropped);
        Assert.Equal(1, _ledger.State.Holds["bob"].Count);
        Assert.Equal(1, _ledger.State.Holds["carol"].Count);
    }

    [Fact]
    public void Delete_is_refused_while_reachable_and_names_the_remotes_that_still_recognize_it()
    {
        _ledger.RecordSent("bob", 1);
        Assert.Equal(DgcError.StillReachable, Assert.Throws<DgcException>(() => _ledger.Delete()).Code);

        _ledger.Apply("bob", 1, 1, [DgcOpKind.DropRef], [1], out _);
        Assert.Equal(["bob"], _ledger.Delete());
        Assert.Empty(_ledger.State.Holds);
    }
}
