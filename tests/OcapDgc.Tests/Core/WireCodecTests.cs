using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

public sealed class WireCodecTests
{
    private static readonly SessionHeader Session = new(2, 17, 9);

    [Fact]
    public void A_batch_is_json_in_ocap_kernel_shape_with_session_seq_and_counts()
    {
        var json = WireCodec.Encode(new BatchFrame(5, 7, 6, [
            new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(2), 3),
            new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(5), 1),
            new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(2)),
        ]) { Session = Session });

        Assert.Equal(
            "{\"method\":\"dgc:batch\",\"session\":{\"inc\":2,\"epoch\":17,\"peer\":9},\"params\":{\"stream\":5,\"seq\":7,\"acked\":6,\"messages\":[" +
            "{\"method\":\"dgc:dropRef\",\"params\":{\"refs\":[\"ro-2\",\"ro-5\"],\"counts\":[3,1]}}," +
            "{\"method\":\"dgc:retire\",\"params\":{\"refs\":[\"ro-2\"]}}]}}",
            json);
    }

    [Fact]
    public void A_ping_carries_one_digest_however_many_refs_are_held()
    {
        var json = WireCodec.Encode(new PingFrame(5, 12, 100_000, ImportDigest.Compute([(1, true), (2, false)])) { Session = Session });

        Assert.StartsWith("{\"method\":\"dgc:ping\",\"session\":{\"inc\":2,\"epoch\":17,\"peer\":9},\"params\":{\"stream\":5,\"asOf\":12,\"imports\":100000,\"digest\":\"", json, StringComparison.Ordinal);
        Assert.True(json.Length < 200);
    }

    [Fact]
    public void The_digest_ignores_order_and_sees_any_single_change()
    {
        var d = ImportDigest.Compute([(1, true), (2, false), (3, true)]);
        Assert.Equal(d, ImportDigest.Compute([(3, true), (1, true), (2, false)]));
        Assert.NotEqual(d, ImportDigest.Compute([(1, true), (2, true), (3, true)]));
        Assert.NotEqual(d, ImportDigest.Compute([(1, true), (3, true)]));
    }

    [Fact]
    public void Frames_round_trip()
    {
        WireFrame[] frames =
        [
            new BatchFrame(3, 1, 0, [new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(9)), new DgcOp(DgcOpKind.Retire, WireRef.ToSenderExport(4))]),
            new AckFrame(3, 12),
            new BringOutYourDeadFrame(),
            new PingFrame(3, 4, 2, "00000000000000ff"),
            new PongFrame(PongStatus.Match),
            new PongFrame(PongStatus.Behind),
            new PongFrame(PongStatus.Mismatch),
            new PongFrame(PongStatus.NewSession),
            new ImportListFrame(3, 4, [new ImportListEntry(WireRef.ToReceiverExport(1), true), new ImportListEntry(WireRef.ToReceiverExport(7), false)]),
            new AppFrame(4, 9, "deliver", "hello", [WireRef.ToSenderExport(1), WireRef.ToReceiverExport(2)]),
        ];
        foreach (var frame in frames)
        {
            var json = WireCodec.Encode(frame with { Session = Session });
            var back = WireCodec.Decode(json);
            Assert.Equal(frame.GetType(), back.GetType());
            Assert.Equal(Session, back.Session);
            Assert.Equal(json, WireCodec.Encode(back));
        }
    }

    [Fact]
    public void A_frame_without_a_session_is_refused()
    {
        var e = Assert.Throws<FormatException>(() => WireCodec.Decode("{\"method\":\"deliver\",\"params\":{\"body\":\"\",\"refs\":[]}}"));
        Assert.Contains("session", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_lease_options_are_named()
    {
        var problems = new Hosting.LeaseOptions { Lease = TimeSpan.FromSeconds(10), PingInterval = TimeSpan.FromSeconds(8), CheckPeriod = TimeSpan.Zero }.Validate().ToList();
        Assert.Contains(problems, p => p.Contains("CheckPeriod must be positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("at most half of Lease", StringComparison.Ordinal));
        Assert.Empty(new Hosting.LeaseOptions().Validate());
    }

    [Theory]
    [InlineData("ro+1", true, 1)]
    [InlineData("ro-42", false, 42)]
    public void Wire_refs_parse(string text, bool senderExport, long id)
    {
        Assert.Equal(new WireRef(senderExport, id), WireRef.Parse(text));
        Assert.Equal(text, WireRef.Parse(text).ToString());
    }

    [Theory]
    [InlineData("ro+0")]
    [InlineData("ro1")]
    [InlineData("ko1")]
    [InlineData("ro+-1")]
    [InlineData("ro+1x")]
    [InlineData(null)]
    public void Bad_wire_refs_are_refused_with_the_text_in_the_message(string? text)
    {
        var e = Assert.Throws<FormatException>(() => WireRef.Parse(text));
        Assert.Contains($"'{text}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("kernel with space")]
    public void Bad_kernel_ids_are_refused(string id) =>
        Assert.Throws<ArgumentException>(() => DgcIds.ValidateKernelId(id));

    [Fact]
    public void Promise_krefs_are_refused_as_out_of_scope()
    {
        var e = Assert.Throws<ArgumentException>(() => DgcIds.ValidateKref("kp3"));
        Assert.Contains("promise", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_batching_options_are_named()
    {
        var problems = new Hosting.BatchingOptions { MaxBatchSize = 0, FlushInterval = TimeSpan.Zero }.Validate().ToList();
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("MaxBatchSize", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("FlushInterval", StringComparison.Ordinal));
    }
}
