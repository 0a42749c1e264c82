using OcapDgc.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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

    // ---- the strict decoder: every malformed frame is a FormatException naming what is wrong ----

    private const string App = """{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"hi","refs":["ro+1"]}}""";

    private static FormatException Refused(string? json) => Assert.Throws<FormatException>(() => WireCodec.Decode(json));

    [Fact]
    public void A_lone_surrogate_in_the_body_is_refused()
    {
        var e = Refused(App.Replace("\"hi\"", "\"h\ud800i\"", StringComparison.Ordinal));
        Assert.Contains("UTF-16", e.Message, StringComparison.Ordinal);
        Refused(App.Replace("\"hi\"", "\"hi\udc00\"", StringComparison.Ordinal));
    }

    [Fact]
    public void A_lone_surrogate_outside_any_string_is_refused() =>
        Assert.Contains("UTF-16", Refused(App + "\ud83d").Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("""\ud800""")]
    [InlineData("""\uDBFF!""")]
    [InlineData("""\udc00""")]
    [InlineData("""\udc00\ud800""")]
    [InlineData("""\ud83d\u0041""")]
    [InlineData("""\ud83d\ud83d\ude00""")]
    [InlineData("""\\\ud800""")]
    public void An_escaped_lone_surrogate_in_the_body_is_refused(string escaped)
    {
        var e = Refused(App.Replace("\"hi\"", "\"" + escaped + "\"", StringComparison.Ordinal));
        Assert.Contains("surrogate", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_escaped_lone_surrogate_in_an_unknown_key_is_refused() =>
        Assert.Contains("surrogate", Refused(App.Replace("{\"method\"", """{"x\udfff":1,"method""", StringComparison.Ordinal)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("""\ud83d\ude00""", "\U0001F600")]
    [InlineData("""\uD83D\uDE00\u00e9""", "\U0001F600\u00e9")]
    [InlineData("""\\ud800""", "\\ud800")]
    [InlineData("""\\\\uDC00""", "\\\\uDC00")]
    public void Escaped_surrogate_pairs_and_escaped_backslashes_decode(string escaped, string body)
    {
        var frame = Assert.IsType<AppFrame>(WireCodec.Decode(App.Replace("\"hi\"", "\"" + escaped + "\"", StringComparison.Ordinal)));
        Assert.Equal(body, frame.Body);
    }

    [Fact]
    public void A_second_method_key_cannot_change_the_frame_kind()
    {
        var e = Refused("""{"method":"dgc:ack","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[]},"method":"deliver"}""");
        Assert.Contains("repeats a key", e.Message, StringComparison.Ordinal);
        Assert.Contains("method", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"m\u0065thod":"x","method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[]}}""")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0,"epoch":3},"params":{"stream":1,"seq":1,"body":"","refs":[]}}""")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[],"refs":["ro+1"]}}""")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[]},"params":{}}""")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[],"x":[{"a":1,"b":{"c":1,"c":2}}]}}""")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:retire","params":{"refs":["ro-1"]},"method":"dgc:addRef"}]}}""")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":[1],"counts":[5]}}]}}""")]
    [InlineData("""{"method":"dgc:imports","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"refs":[],"reachable":[],"fence":{"stream":1,"seq":2,"seq":3}}}""")]
    public void Repeated_keys_are_refused_at_any_level(string json) =>
        Assert.Contains("repeats a key", Refused(json).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("not json")]
    [InlineData("{")]
    [InlineData("""{"method":"deliver",}""")]
    [InlineData("""{"method":"deliver"} {}""")]
    [InlineData("""{"method":"deliver"}x""")]
    [InlineData("""/*c*/{"method":"deliver"}""")]
    [InlineData("""{'method':'deliver'}""")]
    [InlineData("""{"method":"deliver","session":{"inc":01,"epoch":2,"peer":0}}""")]
    [InlineData("""{"method":"deliver","session":{"inc":NaN,"epoch":2,"peer":0}}""")]
    [InlineData("""{"method":"de\liver"}""")]
    [InlineData("{\"method\":\"de\u0001liver\"}")]
    public void Invalid_json_is_refused(string json) =>
        Assert.Contains("not valid JSON", Refused(json).Message, StringComparison.Ordinal);

    [Fact]
    public void A_null_frame_is_refused() => Refused(null);

    [Theory]
    [InlineData("[]", "JSON object")]
    [InlineData("\"deliver\"", "JSON object")]
    [InlineData("""{"session":{"inc":1,"epoch":2,"peer":0},"params":{}}""", "no method")]
    [InlineData("""{"method":5,"session":{"inc":1,"epoch":2,"peer":0},"params":{}}""", "method must be a string, not a number")]
    [InlineData("""{"method":["deliver"],"session":{"inc":1,"epoch":2,"peer":0},"params":{}}""", "method must be a string, not an array")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":5,"refs":[]}}""", "params.body must be a string, not a number")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":null,"refs":[]}}""", "params.body must be a string, not null")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":{"text":"hi"},"refs":[]}}""", "params.body must be a string, not an object")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"refs":[]}}""", "params.body is missing")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":["stream",1]}""", "params must be an object, not an array")]
    [InlineData("""{"method":"deliver","session":"1/2/0","params":{"stream":1,"seq":1,"body":"","refs":[]}}""", "session must be an object, not a string")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":"ro+1"}}""", "params.refs must be an array, not a string")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[1]}}""", "params.refs[0] must be a wire ref string, not a number")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":{}}}""", "params.messages must be an array, not an object")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":["dgc:retire"]}}""", "params.messages[0]: a message must be an object, not a string")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:retire","params":[]}]}}""", "params.messages[0]: params must be an object, not an array")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":1}}]}}""", "params.counts must be an array, not a number")]
    [InlineData("""{"method":"dgc:imports","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"refs":["ro-1"],"reachable":[1]}}""", "params.reachable[0] must be true or false, not a number")]
    [InlineData("""{"method":"dgc:ping","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"imports":1,"digest":255}}""", "params.digest must be a string, not a number")]
    [InlineData("""{"method":"dgc:pong","session":{"inc":1,"epoch":2,"peer":0},"params":{"status":true}}""", "params.status must be a string, not a boolean")]
    public void Wrong_types_are_refused_and_named(string json, string expected) =>
        Assert.Contains(expected, Refused(json).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("5")]
    [InlineData("[]")]
    [InlineData("\"stream 1 seq 2\"")]
    [InlineData("null")]
    [InlineData("true")]
    public void A_fence_that_is_not_an_object_is_refused(string fence)
    {
        var e = Refused("""{"method":"dgc:imports","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"refs":[],"reachable":[],"fence":""" + fence + "}}");
        Assert.Contains("params.fence must be an object", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"inc\":9223372036854775808,\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"inc\":1,\"epoch\":-9223372036854775809,\"peer\":0", "session.epoch")]
    [InlineData("\"inc\":1,\"epoch\":1e400,\"peer\":0", "session.epoch")]
    [InlineData("\"inc\":0,\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"inc\":1,\"epoch\":0,\"peer\":0", "session.epoch")]
    [InlineData("\"inc\":1,\"epoch\":2,\"peer\":-1", "session.peer")]
    [InlineData("\"inc\":1.5,\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"inc\":1.0,\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"inc\":1e2,\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"inc\":\"1\",\"epoch\":2,\"peer\":0", "session.inc")]
    [InlineData("\"epoch\":2,\"peer\":0", "session.inc is missing")]
    public void Session_numbers_out_of_range_or_not_whole_are_refused(string session, string expected)
    {
        var e = Refused(App.Replace("\"inc\":1,\"epoch\":2,\"peer\":0", session, StringComparison.Ordinal));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":0,"seq":1,"acked":0,"messages":[]}}""", "params.stream must be a whole number from 1")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":3,"acked":3,"messages":[]}}""", "must be below params.seq")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":-1,"messages":[]}}""", "params.acked must be a whole number from 0")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":[0]}}]}}""", "params.counts[0] must be a whole number from 1")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":[9223372036854775808]}}]}}""", "not 9223372036854775808")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":[2.5]}}]}}""", "not 2.5")]
    [InlineData("""{"method":"dgc:ping","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"imports":2147483648,"digest":"00000000000000ff"}}""", "params.imports must be a whole number from 0 to 2147483647")]
    [InlineData("""{"method":"dgc:ack","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":-1}}""", "params.seq")]
    [InlineData("""{"method":"dgc:fence","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":0}}""", "params.seq")]
    [InlineData("""{"method":"dgc:imports","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"refs":[],"reachable":[],"fence":{"stream":0,"seq":1}}}""", "params.fence.stream")]
    [InlineData("""{"method":"deliver","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":0,"body":"","refs":[]}}""", "params.seq")]
    public void Numbers_out_of_range_are_refused_and_named(string json, string expected) =>
        Assert.Contains(expected, Refused(json).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1","ro-2"],"counts":[1]}}]}}""", "params.counts has 1 entries but params.refs has 2")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:dropRef","params":{"refs":["ro-1"],"counts":[1,1]}}]}}""", "params.counts has 2 entries but params.refs has 1")]
    [InlineData("""{"method":"dgc:imports","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"refs":["ro-1"],"reachable":[true,false]}}""", "params.reachable has 2 entries but params.refs has 1")]
    public void Parallel_arrays_of_different_lengths_are_refused(string json, string expected) =>
        Assert.Contains(expected, Refused(json).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(true, 1L, "ro+1")]
    [InlineData(false, 42L, "ro-42")]
    [InlineData(true, long.MaxValue, "ro+9223372036854775807")]
    public void Wire_refs_format_without_allocating_as_their_text(bool senderExport, long id, string text)
    {
        var r = new WireRef(senderExport, id);
        Span<char> buffer = stackalloc char[WireRef.MaxLength];
        Assert.True(r.TryFormat(buffer, out var written));
        Assert.Equal(text, buffer[..written].ToString());
        Assert.Equal(text, r.ToString());
        Assert.False(r.TryFormat(buffer[..(text.Length - 1)], out var none));
        Assert.Equal(0, none);
    }

    [Fact]
    public void Frames_encoded_one_after_another_on_a_thread_do_not_share_text()
    {
        // The encoder reuses one buffer per thread: a big frame, then a small one, must each read back whole.
        var big = new BatchFrame(1, 1, 0, [.. Enumerable.Range(1, 20_000).Select(i => new DgcOp(DgcOpKind.DropRef, new WireRef(false, i), 1))]) { Session = Session };
        var small = new AckFrame(1, 1) { Session = Session };
        var bigText = WireCodec.Encode(big);
        var smallText = WireCodec.Encode(small);
        Assert.Equal(20_000, ((BatchFrame)WireCodec.Decode(bigText)).Ops.Count);
        Assert.IsType<AckFrame>(WireCodec.Decode(smallText));
        Assert.Equal(bigText, WireCodec.Encode(big));
    }

    [Theory]
    [InlineData("ro+0")]
    [InlineData("ko1")]
    [InlineData("ro+")]
    [InlineData("ro+1x")]
    [InlineData("ro+9223372036854775808")]
    [InlineData("ro+-1")]
    [InlineData("")]
    public void Refs_that_are_not_wire_refs_are_refused_with_the_text(string text)
    {
        var e = Refused(App.Replace("\"ro+1\"", "\"" + text + "\"", StringComparison.Ordinal));
        Assert.Contains($"params.refs[0] '{text}' is not a wire ref", e.Message, StringComparison.Ordinal);
        var batch = """{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:retire","params":{"refs":["ro-1","X"]}}]}}""";
        e = Refused(batch.Replace("\"X\"", "\"" + text + "\"", StringComparison.Ordinal));
        Assert.Contains($"params.messages[0]: params.refs[1] '{text}' is not a wire ref", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""ro\u002B7""", true, 7)]
    [InlineData("""ro\u002b7""", true, 7)]
    [InlineData("""r\u006f-9223372036854775807""", false, long.MaxValue)]
    [InlineData("""ro-0012""", false, 12)]
    public void Refs_decode_however_they_are_escaped(string escaped, bool senderExport, long id)
    {
        var frame = Assert.IsType<AppFrame>(WireCodec.Decode(App.Replace("\"ro+1\"", "\"" + escaped + "\"", StringComparison.Ordinal)));
        Assert.Equal(new WireRef(senderExport, id), Assert.Single(frame.Refs));
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_refused_even_in_unknown_fields()
    {
        // The frame's own objects are 2 deep at params; the unknown field adds the rest.
        string At(int depth) => App.Replace("\"body\"", "\"x\":" + new string('[', depth - 2) + new string(']', depth - 2) + ",\"body\"", StringComparison.Ordinal);

        Assert.IsType<AppFrame>(WireCodec.Decode(At(WireCodec.MaxDepth)));
        Assert.Contains("more than 16 deep", Refused(At(WireCodec.MaxDepth + 1)).Message, StringComparison.Ordinal);
        Assert.Contains("more than 16 deep", Refused(At(100_000)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_fields_are_ignored_at_every_level()
    {
        var batch = WireCodec.Encode(new BatchFrame(1, 2, 1, [new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(3), 4)]) { Session = Session });
        var extended = batch
            .Replace("{\"method\":\"dgc:batch\"", """{"v":2,"method":"dgc:batch","trace":{"id":"abc","hops":[1,2]}""", StringComparison.Ordinal)
            .Replace("\"peer\":9", "\"peer\":9,\"kernel\":\"k1\"", StringComparison.Ordinal)
            .Replace("\"acked\":1", "\"acked\":1,\"body\":7,\"refs\":\"not refs here\"", StringComparison.Ordinal)
            .Replace("{\"method\":\"dgc:dropRef\"", "{\"note\":null,\"method\":\"dgc:dropRef\"", StringComparison.Ordinal)
            .Replace("\"counts\":[4]", "\"counts\":[4],\"reasons\":[\"gc\"]", StringComparison.Ordinal);
        Assert.NotEqual(batch, extended);
        Assert.Equal(batch, WireCodec.Encode(WireCodec.Decode(extended)));

        var list = WireCodec.Encode(new ImportListFrame(1, 0, [], 5, 6) { Session = Session });
        Assert.Equal(list, WireCodec.Encode(WireCodec.Decode(list.Replace("\"seq\":6", "\"seq\":6,\"why\":\"lost\"", StringComparison.Ordinal))));
    }

    [Theory]
    [InlineData("""{"method":"","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[]}}""", "method must not be empty")]
    [InlineData("""{"method":"dgc:later","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"body":"","refs":[]}}""", "unknown GC method")]
    [InlineData("""{"method":"dgc:dropRef","session":{"inc":1,"epoch":2,"peer":0},"params":{"refs":["ro-1"],"counts":[1]}}""", "inside a sequenced dgc:batch")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:ping","params":{"refs":["ro-1"]}}]}}""", "params.messages[0]: method 'dgc:ping' is not dgc:addRef")]
    [InlineData("""{"method":"dgc:batch","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"seq":1,"acked":0,"messages":[{"method":"dgc:addRef","params":{"refs":[]}}]}}""", "params.refs must not be empty")]
    [InlineData("""{"method":"dgc:ping","session":{"inc":1,"epoch":2,"peer":0},"params":{"stream":1,"asOf":0,"imports":1,"digest":"00000000000000FF"}}""", "16 lower-case hex digits")]
    [InlineData("""{"method":"dgc:pong","session":{"inc":1,"epoch":2,"peer":0},"params":{"status":"Match"}}""", "is not match, behind, mismatch or session")]
    [InlineData("""{"method":"dgc:bringOutYourDead","session":{"inc":1,"epoch":2,"peer":0}}""", "params is missing")]
    public void Methods_and_values_outside_the_protocol_are_refused(string json, string expected) =>
        Assert.Contains(expected, Refused(json).Message, StringComparison.Ordinal);

    [Fact]
    public void Untrusted_text_in_messages_is_clipped_and_escaped()
    {
        var e = Refused(App.Replace("\"deliver\"", "\"dgc:" + new string('x', 5000) + "\\n\"", StringComparison.Ordinal));
        Assert.True(e.Message.Length < 200, e.Message);
        e = Refused("{\"method\":\"dgc:\\u0000\\n\",\"session\":{\"inc\":1,\"epoch\":2,\"peer\":0},\"params\":{}}");
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\0', e.Message);
    }

    [Fact]
    public void Out_of_range_lease_options_are_named()
    {
        var validator = new Hosting.LeaseOptionsValidator();
        var problems = validator.Validate(null, new Hosting.LeaseOptions { Duration = TimeSpan.FromSeconds(10), PingInterval = TimeSpan.FromSeconds(8), CheckPeriod = TimeSpan.Zero }).Failures ?? [];
        Assert.Contains(problems, p => p.Contains("CheckPeriod must be positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("at most half of Lease", StringComparison.Ordinal));
        var defaults = validator.Validate(null, new Hosting.LeaseOptions());
        Assert.True(defaults.Succeeded);
        Assert.Null(defaults.Failures);
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
    public void Out_of_range_export_shard_options_are_named()
    {
        var validator = new Hosting.ExportShardOptionsValidator();
        var problems = validator.Validate(null, new Hosting.ExportShardOptions { CachedRows = -1 }).Failures ?? [];
        Assert.Contains(problems, p => p.Contains("Dgc:ExportShards:CachedRows", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, new Hosting.ExportShardOptions { CachedRows = 0 }).Succeeded);
        Assert.True(validator.Validate(null, new Hosting.ExportShardOptions()).Succeeded);
    }

    [Theory]
    [InlineData(true, null, 0)]
    [InlineData(false, null, Hosting.ExportShardOptions.DefaultCachedRows)]
    [InlineData(true, "100", 100)]
    public void Export_shards_cache_no_rows_over_the_one_silo_memory_store_unless_configured_to(bool singleSilo, string? configured, int expected)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { DisableDefaults = true });
        if (configured is not null)
        {
            builder.Configuration[$"{Hosting.ExportShardOptions.Section}:{nameof(Hosting.ExportShardOptions.CachedRows)}"] = configured;
        }

        builder.UseOrleans(silo => silo.UseLocalhostClustering().UseDgcInMemoryStorage(singleSilo).AddDistributedGc());
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Hosting.ExportShardOptions>>().Value;
        Assert.Equal(expected, options.EffectiveCachedRows);
    }

    [Fact]
    public void Out_of_range_batching_options_are_named()
    {
        var problems = (new Hosting.BatchingOptionsValidator().Validate(null, new Hosting.BatchingOptions { MaxBatchSize = 0, FlushInterval = TimeSpan.Zero }).Failures ?? []).ToList();
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("MaxBatchSize", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("FlushInterval", StringComparison.Ordinal));
    }
}
