using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Parts;

/// <summary>The outbound queue, the inbound sequencer and the message de-duplication, each on its own state.</summary>
public sealed class SequencingTests
{
    private static readonly SessionHeader Header = new(1, 1, 1);

    private static BatchFrame Batch(long seq, long acked = 0, long stream = 7) =>
        new(stream, seq, acked, [new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(1))]);

    [Fact]
    public void Seal_splits_the_queue_into_numbered_batches_kept_until_acknowledged()
    {
        var state = new PairState { Stream = 7 };
        var outbound = new Outbound(state, maxBatchSize: 2);
        for (var i = 1; i <= 5; i++)
        {
            outbound.Enqueue(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(i)));
        }

        Assert.True(outbound.IsFull);
        Assert.Equal(3, outbound.Seal(Header));
        Assert.Equal([1L, 2, 3], state.Unacked.Select(b => b.Seq));
        Assert.Equal(3, outbound.FramesToSend(3, resend: false).Count);

        outbound.Acknowledge(7, 2);
        Assert.Equal([3L], state.Unacked.Select(b => b.Seq));
        outbound.Acknowledge(8, 3); // another stream's ack names nothing here
        Assert.Single(state.Unacked);
    }

    [Fact]
    public void A_resent_batch_states_how_far_acknowledgements_got_since()
    {
        var state = new PairState { Stream = 7 };
        var outbound = new Outbound(state, 1);
        outbound.Enqueue(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(1)));
        outbound.Enqueue(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(2)));
        outbound.Seal(Header);
        outbound.Acknowledge(7, 1);

        var resent = (BatchFrame)WireCodec.Decode(Assert.Single(outbound.FramesToSend(0, resend: true)));

        Assert.Equal(2, resent.Seq);
        Assert.Equal(1, resent.Acked);
    }

    [Fact]
    public void Batches_apply_once_in_order_and_wait_within_the_window()
    {
        var state = new PairState();
        var inbound = new InboundSequencer(state, window: 2);

        Assert.Equal(BatchVerdict.Apply, inbound.Accept(Batch(1), out _));
        inbound.Applied(1);
        Assert.Equal(BatchVerdict.Duplicate, inbound.Accept(Batch(1), out _));
        Assert.Equal(BatchVerdict.Buffered, inbound.Accept(Batch(3), out _));
        Assert.Equal(BatchVerdict.Buffered, inbound.Accept(Batch(9), out _)); // beyond the window: dropped, resent later
        Assert.Equal(1, inbound.Buffered);
        Assert.Equal(BatchVerdict.Apply, inbound.Accept(Batch(2), out _));
        inbound.Applied(2);
        Assert.Equal(3, inbound.TakeNext()?.Seq);
    }

    [Fact]
    public void A_new_stream_starts_at_its_acked_value_and_an_old_stream_is_stale()
    {
        var state = new PairState { PeerStream = 7, HighestApplied = 4 };
        var inbound = new InboundSequencer(state, 4);

        Assert.Equal(BatchVerdict.StaleStream, inbound.Accept(Batch(5, stream: 6), out _));
        Assert.Equal(BatchVerdict.Apply, inbound.Accept(Batch(3, acked: 2, stream: 8), out var changed));
        Assert.True(changed);
        Assert.Equal(2, state.HighestApplied);
    }

    [Fact]
    public void A_message_is_delivered_once_and_a_fence_refuses_what_has_not_arrived()
    {
        var state = new PairState();
        var messages = new MessageDedup(state, gapLimit: 16);

        Assert.True(messages.FirstDelivery(3, 1));
        Assert.False(messages.FirstDelivery(3, 1));
        Assert.True(messages.FirstDelivery(3, 3));
        messages.Fence(3, 2);
        Assert.False(messages.FirstDelivery(3, 2));
        Assert.True(messages.FirstDelivery(3, 4));
        Assert.False(messages.FirstDelivery(2, 9)); // a stream the sender left
    }

    [Fact]
    public void A_barrier_is_reached_once_every_message_up_to_it_arrived_and_a_newer_stream_voids_older_ones()
    {
        var state = new PairState();
        var messages = new MessageDedup(state, 16);
        messages.FirstDelivery(3, 1);

        Assert.False(messages.Reached(3, 2));
        messages.FirstDelivery(3, 2);
        Assert.True(messages.Reached(3, 2));
        Assert.True(messages.Reached(5, 0));
        Assert.False(messages.FirstDelivery(3, 3)); // stream 3 was left when stream 5 was named
    }
}
