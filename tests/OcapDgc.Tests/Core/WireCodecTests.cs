using OcapDgc.Wire;

namespace OcapDgc.Tests.Core;

public sealed class WireCodecTests
{
    [Fact]
    public void A_batch_is_json_in_ocap_kernel_shape_with_seq_and_counts()
    {
        var json = WireCodec.Encode(new BatchFrame(7, [
            new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(2), 3),
            new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(5), 1),
            new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(2)),
        ]));

        Assert.Equal(
            "{\"method\":\"dgc:batch\",\"params\":{\"seq\":7,\"messages\":[" +
            "{\"method\":\"dgc:dropRef\",\"params\":{\"refs\":[\"ro-2\",\"ro-5\"],\"counts\":[3,1]}}," +
            "{\"method\":\"dgc:retire\",\"params\":{\"refs\":[\"ro-2\"]}}]}}",
            json);
    }

    [Fact]
    public void Frames_round_trip()
    {
        WireFrame[] frames =
        [
            new BatchFrame(1, [new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(9)), new DgcOp(DgcOpKind.Retire, WireRef.ToSenderExport(4))]),
            new AckFrame(12),
            new AppFrame("deliver", "hello", [WireRef.ToSenderExport(1), WireRef.ToReceiverExport(2)]),
        ];
        foreach (var frame in frames)
        {
            var back = WireCodec.Decode(WireCodec.Encode(frame));
            Assert.Equal(WireCodec.Encode(frame), WireCodec.Encode(back));
        }

        Assert.IsType<BringOutYourDeadFrame>(WireCodec.Decode(WireCodec.Encode(new BringOutYourDeadFrame())));
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
