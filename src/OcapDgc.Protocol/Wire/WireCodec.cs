using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace OcapDgc.Wire;

/// <summary>
/// Encodes and decodes frames as JSON in ocap-kernel's shape, for example
/// <c>{"method":"dgc:dropRef","params":{"refs":["ro-2"],"counts":[1]}}</c>. GC operations travel
/// inside a sequenced <c>dgc:batch</c> envelope:
/// <c>{"method":"dgc:batch","params":{"seq":7,"messages":[...]}}</c>.
/// </summary>
public static partial class WireCodec
{
    public const string BatchMethod = "dgc:batch";
    public const string AckMethod = "dgc:ack";
    public const string BoydMethod = "dgc:bringOutYourDead";
    public const string AddRefMethod = "dgc:addRef";
    public const string DropRefMethod = "dgc:dropRef";
    public const string RetireMethod = "dgc:retire";
    public const string PingMethod = "dgc:ping";
    public const string PongMethod = "dgc:pong";
    public const string ImportsMethod = "dgc:imports";
    public const string FenceMethod = "dgc:fence";

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Encodes a frame as UTF-16 JSON text.</summary>
    public static string Encode(WireFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);

        // One buffer and writer per thread, reused: a frame of a thousand refs would otherwise grow a fresh
        // buffer through every size on the way, for every frame.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        {
            w.WriteStartObject();
            w.WriteString("method", frame switch
            {
                BatchFrame => BatchMethod,
                AckFrame => AckMethod,
                BringOutYourDeadFrame => BoydMethod,
                PingFrame => PingMethod,
                PongFrame => PongMethod,
                ImportListFrame => ImportsMethod,
                FenceFrame => FenceMethod,
                CycleAskFrame => CycleAskMethod,
                CycleReplyFrame => CycleReplyMethod,
                AppFrame app => app.Method,
                _ => throw new ArgumentException($"Unknown frame type {frame.GetType().Name}.", nameof(frame)),
            });
            w.WriteStartObject("session");
            w.WriteNumber("inc", frame.Session.Incarnation);
            w.WriteNumber("epoch", frame.Session.Epoch);
            w.WriteNumber("peer", frame.Session.Peer);
            w.WriteEndObject();
            w.WriteStartObject("params");
            switch (frame)
            {
                case BatchFrame batch:
                    w.WriteNumber("stream", batch.Stream);
                    w.WriteNumber("seq", batch.Seq);
                    w.WriteNumber("acked", batch.Acked);
                    if (batch.AfterStream > 0)
                    {
                        WritePosition(w, "after", batch.AfterStream, batch.AfterSeq);
                    }

                    w.WriteStartArray("messages");
                    WriteOps(w, batch.Ops);
                    w.WriteEndArray();
                    break;
                case AckFrame ack:
                    w.WriteNumber("stream", ack.Stream);
                    w.WriteNumber("seq", ack.Seq);
                    break;
                case PingFrame ping:
                    w.WriteNumber("stream", ping.Stream);
                    w.WriteNumber("asOf", ping.AsOf);
                    w.WriteNumber("imports", ping.Imports);
                    w.WriteString("digest", ping.Digest);
                    break;
                case PongFrame pong:
                    w.WriteString("status", pong.Status switch
                    {
                        PongStatus.Match => "match",
                        PongStatus.Behind => "behind",
                        PongStatus.Mismatch => "mismatch",
                        _ => "session",
                    });
                    break;
                case ImportListFrame list:
                    w.WriteNumber("stream", list.Stream);
                    w.WriteNumber("asOf", list.AsOf);
                    WriteRefs(w, [.. list.Entries.Select(e => e.Ref)]);
                    w.WriteStartArray("reachable");
                    foreach (var e in list.Entries)
                    {
                        w.WriteBooleanValue(e.Reachable);
                    }

                    w.WriteEndArray();
                    if (list.FenceSeq > 0)
                    {
                        WritePosition(w, "fence", list.FenceStream, list.FenceSeq);
                    }

                    if (list.AppliedStream >= 0)
                    {
                        WritePosition(w, "applied", list.AppliedStream, list.AppliedSeq);
                    }

                    break;
                case FenceFrame fence:
                    w.WriteNumber("stream", fence.Stream);
                    w.WriteNumber("seq", fence.Seq);
                    break;
                case CycleAskFrame or CycleReplyFrame:
                    WriteCycle(w, frame);
                    break;
                case AppFrame app:
                    w.WriteNumber("stream", app.Stream);
                    w.WriteNumber("seq", app.Seq);
                    w.WriteString("body", app.Body);
                    WriteRefs(w, app.Refs);
                    break;
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.Flush();
        var text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        if (buffer.Capacity > MaxKeptBuffer)
        {
            // A rare huge frame (a bulk drop in one batch): not kept for the thread's next frame.
            (t_buffer, t_writer) = (null, null);
        }

        return text;
    }

    /// <summary>The largest encoding buffer a thread keeps for its next frame.</summary>
    private const int MaxKeptBuffer = 1 << 20;

    /// <summary>How deeply a frame may nest objects and arrays (a batch needs 6).</summary>
    public const int MaxDepth = 16;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    // One level more than allowed, so the scan itself can name the excess (see Scan).
    private static readonly JsonReaderOptions ScanOptions = new() { MaxDepth = MaxDepth + 1 };

    /// <summary>
    /// Decodes a frame. Frames come from untrusted peers, so every malformed input throws
    /// <see cref="FormatException"/> with a message naming what is wrong (and where), and no other
    /// exception ever escapes. The rules (the ranges are in docs/protocol.md, "Decoding rules"):
    /// <list type="bullet">
    /// <item>The text must be valid UTF-16 (no unpaired surrogate) and a single valid JSON value
    /// (RFC 8259: no comments, trailing commas or trailing content), at most <see cref="MaxDepth"/>
    /// objects and arrays deep. A <c>null</c> frame is malformed too.</item>
    /// <item>No string or key anywhere, escaped or not, may hold an unpaired surrogate (for example
    /// <c>"\ud800"</c>).</item>
    /// <item>No object anywhere, known or unknown, may repeat a key (compared after unescaping), so a
    /// frame cannot change its own kind with a second <c>method</c>.</item>
    /// <item>The root is an object with a string <c>method</c>, a <c>session</c> object
    /// (<c>inc</c> ≥ 1, <c>epoch</c> ≥ 1, <c>peer</c> ≥ 0) and a <c>params</c> object. Every field the
    /// encoder writes is required, with the JSON type it writes: numbers are integers (no fraction or
    /// exponent) within their range; refs are strings <c>ro+N</c>/<c>ro-N</c>
    /// with 1 ≤ N ≤ <see cref="long.MaxValue"/>; parallel arrays (<c>refs</c> and <c>counts</c>,
    /// <c>refs</c> and <c>reachable</c>) have equal lengths. Only <c>params.fence</c> of
    /// <c>dgc:imports</c> (absent: no fence), <c>params.applied</c> of <c>dgc:imports</c> (absent: not
    /// said) and <c>params.after</c> of <c>dgc:batch</c> (absent: no barrier) are optional, and only <c>params</c> of
    /// <c>dgc:bringOutYourDead</c> may be empty.</item>
    /// <item>Unknown fields, in any object (the root, <c>session</c>, <c>params</c>, a batch's
    /// messages and their params, <c>fence</c>), are ignored for forward compatibility, but they are
    /// still held to the JSON, UTF-16, depth and duplicate-key rules above. Fields another kind of
    /// frame uses count as unknown.</item>
    /// <item>Methods: the GC methods listed on this class (an operation method only inside a
    /// <c>dgc:batch</c>); any other <c>dgc:</c> method is refused; any other non-empty method is an
    /// application message.</item>
    /// </list>
    /// </summary>
    /// <param name="json">The frame's text as it arrived.</param>
    /// <returns>The frame, with its session header.</returns>
    /// <exception cref="FormatException">The frame is malformed; the message says how.</exception>
    public static WireFrame Decode(string? json)
    {
        if (json is null)
        {
            throw new FormatException("Frame is null.");
        }

        var buffer = ToUtf8(json, out var length);
        try
        {
            var utf8 = buffer.AsMemory(0, length);
            CheckSurrogateEscapes(utf8.Span);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(utf8, DocumentOptions);
            }
            catch (JsonException e)
            {
                // Parsed once more, token by token, only to name the error: invalid JSON or excessive
                // nesting throw there, so what is left is the one rule the token scan does not check.
                Scan(utf8.Span);
                throw new FormatException($"Frame repeats a key: {Clip(e.Message, 200)}", e);
            }

            using (doc)
            {
                return ReadFrame(doc.RootElement);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Strict UTF-16 to UTF-8 into a pooled buffer the caller returns.</summary>
    private static byte[] ToUtf8(string json, out int length)
    {
        int size;
        try
        {
            // Exact for long texts; for short ones the bound is cheaper than counting.
            size = json.Length <= 1 << 16 ? (json.Length + 1) * 3 : Encoding.UTF8.GetByteCount(json);
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw new FormatException("Frame is too long to decode.", e);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var status = Utf8.FromUtf16(json, buffer, out var read, out length, replaceInvalidSequences: false, isFinalBlock: true);
        if (status == OperationStatus.Done)
        {
            return buffer;
        }

        ArrayPool<byte>.Shared.Return(buffer);
        throw new FormatException(read < json.Length
            ? $"Frame is not valid UTF-16: unpaired surrogate U+{(int)json[read]:X4} at index {read}."
            : "Frame is not valid UTF-16.");
    }

    /// <summary>
    /// Throws <see cref="FormatException"/> when an escape in a string or key leaves a surrogate unpaired
    /// (<c>"\ud800"</c>, <c>"\udc00\ud800"</c>). Text without <c>\uD8</c>-<c>\uDF</c> (any case) is
    /// passed over quickly. A backslash starts an escape exactly when the run of backslashes it ends
    /// is odd (<c>\\</c> is one escaped backslash); backslashes outside strings are left to the parser.
    /// </summary>
    private static void CheckSurrogateEscapes(ReadOnlySpan<byte> utf8)
    {
        var i = 0;
        while (true)
        {
            var k = utf8[i..].IndexOf("\\u"u8);
            if (k < 0)
            {
                return;
            }

            var at = i + k; // the backslash
            i = at + 2;
            var unit = EscapedUnit(utf8, at);
            if (unit is < 0xD800 or > 0xDFFF || !StartsEscape(utf8, at))
            {
                continue;
            }

            if (unit <= 0xDBFF && EscapedUnit(utf8, at + 6) is >= 0xDC00 and <= 0xDFFF)
            {
                i = at + 12; // a pair; the low half cannot start another one
                continue;
            }

            throw new FormatException($"Frame has a string with an unpaired surrogate escape \\u{unit:X4}, which is not valid UTF-16 (at byte {at}).");
        }
    }

    /// <summary>The UTF-16 unit of the <c>\uXXXX</c> at <paramref name="at"/>, or -1 when there is none.</summary>
    private static int EscapedUnit(ReadOnlySpan<byte> utf8, int at)
    {
        if (at + 6 > utf8.Length || utf8[at] != '\\' || utf8[at + 1] != 'u')
        {
            return -1;
        }

        var value = 0;
        foreach (var b in utf8.Slice(at + 2, 4))
        {
            var digit = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return -1;
            }

            value = (value << 4) | digit;
        }

        return value;
    }

    private static bool StartsEscape(ReadOnlySpan<byte> utf8, int backslash)
    {
        var run = 1;
        while (backslash - run >= 0 && utf8[backslash - run] == '\\')
        {
            run++;
        }

        return run % 2 == 1;
    }

    /// <summary>
    /// Reads every token, only to name why the document parser refused the text: throws
    /// <see cref="FormatException"/> for invalid JSON or nesting deeper than <see cref="MaxDepth"/>.
    /// </summary>
    private static void Scan(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, ScanOptions);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= MaxDepth)
                {
                    throw new FormatException($"Frame nests objects and arrays more than {MaxDepth} deep (at byte {reader.TokenStartIndex}).");
                }
            }
        }
        catch (JsonException e)
        {
            throw new FormatException($"Frame is not valid JSON: {Clip(e.Message, 200)}", e);
        }
    }

    private static WireFrame ReadFrame(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"Frame must be a JSON object, not {Kind(root)}.");
        }

        if (!root.TryGetProperty("method"u8, out var m) || m.ValueKind != JsonValueKind.String)
        {
            throw new FormatException(m.ValueKind == JsonValueKind.Undefined ? "Frame has no method." : $"Frame method must be a string, not {Kind(m)}.");
        }

        var method = m.GetString()!;
        try
        {
            var session = ReadSession(GetObject(root, "", "session"u8));
            var p = GetObject(root, "", "params"u8);
            return ReadParams(method, p) with { Session = session };
        }
        catch (FormatException e)
        {
            throw new FormatException($"Frame {Excerpt(method)}: {e.Message}", e);
        }
    }

    /// <summary>Writes a <c>{"stream":S,"seq":Q}</c> object (a fence, a barrier, how far batches were applied); <see cref="OptionalPosition"/> reads it.</summary>
    private static void WritePosition(Utf8JsonWriter w, string name, long stream, long seq)
    {
        w.WriteStartObject(name);
        w.WriteNumber("stream", stream);
        w.WriteNumber("seq", seq);
        w.WriteEndObject();
    }

    /// <summary>An optional <c>{"stream":S,"seq":Q}</c> object (a fence, a barrier, how far batches were applied); null when absent.</summary>
    private static (long Stream, long Seq)? OptionalPosition(JsonElement p, ReadOnlySpan<byte> name, string path, long minStream, long minSeq)
    {
        if (!p.TryGetProperty(name, out var position))
        {
            return null;
        }

        if (position.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{path} must be an object, not {Kind(position)}.");
        }

        return (GetLong(position, path, "stream"u8, minStream), GetLong(position, path, "seq"u8, minSeq));
    }

    private static SessionHeader ReadSession(JsonElement s) =>
        new(GetLong(s, "session", "inc"u8, 1), GetLong(s, "session", "epoch"u8, 1), GetLong(s, "session", "peer"u8, 0));

    private static WireFrame ReadParams(string method, JsonElement p)
    {
        switch (method)
        {
            case BatchMethod:
            {
                var stream = GetLong(p, "params", "stream"u8, 1);
                var seq = GetLong(p, "params", "seq"u8, 1);
                var acked = GetLong(p, "params", "acked"u8, 0);
                if (acked >= seq)
                {
                    throw new FormatException($"params.acked ({acked}) must be below params.seq ({seq}).");
                }

                var messages = GetArray(p, "params", "messages"u8);
                var ops = new List<DgcOp>(messages.GetArrayLength());
                var i = 0;
                foreach (var m in messages.EnumerateArray())
                {
                    try
                    {
                        ReadOp(m, ops);
                    }
                    catch (FormatException e)
                    {
                        throw new FormatException($"params.messages[{i}]: {e.Message}", e);
                    }

                    i++;
                }

                var (afterStream, afterSeq) = OptionalPosition(p, "after"u8, "params.after", minStream: 1, minSeq: 0) ?? (0, 0);
                return new BatchFrame(stream, seq, acked, ops, afterStream, afterSeq);
            }

            case AckMethod:
                return new AckFrame(GetLong(p, "params", "stream"u8, 1), GetLong(p, "params", "seq"u8, 0));
            case BoydMethod:
                return new BringOutYourDeadFrame();
            case PingMethod:
            {
                var stream = GetLong(p, "params", "stream"u8, 1);
                var asOf = GetLong(p, "params", "asOf"u8, 0);
                var imports = (int)GetLong(p, "params", "imports"u8, 0, int.MaxValue);
                var digest = GetString(p, "params", "digest"u8);
                if (!IsDigest(digest))
                {
                    throw new FormatException($"params.digest {Excerpt(digest)} must be 16 lower-case hex digits.");
                }

                return new PingFrame(stream, asOf, imports, digest);
            }

            case PongMethod:
            {
                var status = GetString(p, "params", "status"u8);
                return new PongFrame(status switch
                {
                    "match" => PongStatus.Match,
                    "behind" => PongStatus.Behind,
                    "mismatch" => PongStatus.Mismatch,
                    "session" => PongStatus.NewSession,
                    _ => throw new FormatException($"params.status {Excerpt(status)} is not match, behind, mismatch or session."),
                });
            }

            case ImportsMethod:
            {
                var stream = GetLong(p, "params", "stream"u8, 1);
                var asOf = GetLong(p, "params", "asOf"u8, 0);
                var refs = GetArray(p, "params", "refs"u8);
                var reachable = GetArray(p, "params", "reachable"u8);
                var count = refs.GetArrayLength();
                if (reachable.GetArrayLength() != count)
                {
                    throw new FormatException($"params.reachable has {reachable.GetArrayLength()} entries but params.refs has {count}.");
                }

                var entries = new List<ImportListEntry>(count);
                var flags = reachable.EnumerateArray();
                var k = 0;
                foreach (var r in refs.EnumerateArray())
                {
                    flags.MoveNext();
                    var flag = flags.Current.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        _ => throw new FormatException($"params.reachable[{k}] must be true or false, not {Kind(flags.Current)}."),
                    };
                    entries.Add(new ImportListEntry(Ref(r, "params.refs", k), flag));
                    k++;
                }

                var (fenceStream, fenceSeq) = OptionalPosition(p, "fence"u8, "params.fence", minStream: 1, minSeq: 1) ?? (0, 0);
                var (appliedStream, appliedSeq) = OptionalPosition(p, "applied"u8, "params.applied", minStream: 0, minSeq: 0) ?? (-1, 0);
                return new ImportListFrame(stream, asOf, entries, fenceStream, fenceSeq, appliedStream, appliedSeq);
            }

            case CycleAskMethod or CycleReplyMethod:
                return ReadCycle(method, p);
            case FenceMethod:
                return new FenceFrame(GetLong(p, "params", "stream"u8, 1), GetLong(p, "params", "seq"u8, 1));
            case AddRefMethod or DropRefMethod or RetireMethod:
                throw new FormatException("a GC operation must travel inside a sequenced dgc:batch.");
            case "":
                throw new FormatException("method must not be empty.");
            default:
            {
                if (method.StartsWith("dgc:", StringComparison.Ordinal))
                {
                    throw new FormatException("unknown GC method.");
                }

                var stream = GetLong(p, "params", "stream"u8, 1);
                var seq = GetLong(p, "params", "seq"u8, 1);
                var body = GetString(p, "params", "body"u8);
                var refs = GetArray(p, "params", "refs"u8);
                var list = new List<WireRef>(refs.GetArrayLength());
                foreach (var r in refs.EnumerateArray())
                {
                    list.Add(Ref(r, "params.refs", list.Count));
                }

                return new AppFrame(stream, seq, method, body, list);
            }
        }
    }

    /// <summary>Reads one message of a batch into <paramref name="ops"/>; messages name paths from the message.</summary>
    private static void ReadOp(JsonElement m, List<DgcOp> ops)
    {
        if (m.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"a message must be an object, not {Kind(m)}.");
        }

        var method = GetString(m, "", "method"u8);
        var kind = method switch
        {
            AddRefMethod => DgcOpKind.AddRef,
            DropRefMethod => DgcOpKind.DropRef,
            RetireMethod => DgcOpKind.Retire,
            _ => throw new FormatException($"method {Excerpt(method)} is not dgc:addRef, dgc:dropRef or dgc:retire."),
        };
        var p = GetObject(m, "", "params"u8);
        var refs = GetArray(p, "params", "refs"u8);
        var count = refs.GetArrayLength();
        if (count == 0)
        {
            throw new FormatException("params.refs must not be empty.");
        }

        if (kind != DgcOpKind.DropRef)
        {
            var k = 0;
            foreach (var r in refs.EnumerateArray())
            {
                ops.Add(new DgcOp(kind, Ref(r, "params.refs", k++)));
            }

            return;
        }

        var counts = GetArray(p, "params", "counts"u8);
        if (counts.GetArrayLength() != count)
        {
            throw new FormatException($"params.counts has {counts.GetArrayLength()} entries but params.refs has {count}.");
        }

        var c = counts.EnumerateArray();
        var j = 0;
        foreach (var r in refs.EnumerateArray())
        {
            c.MoveNext();
            var wire = Ref(r, "params.refs", j);
            ops.Add(new DgcOp(kind, wire, GetWhole(c.Current, 1, long.MaxValue, "params.counts", j)));
            j++;
        }
    }

    private static WireRef Ref(JsonElement r, string array, int index)
    {
        if (r.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"{array}[{index}] must be a wire ref string, not {Kind(r)}.");
        }

        if (TryParseRawRef(JsonMarshal.GetRawUtf8Value(r), out var wire))
        {
            return wire;
        }

        var text = r.GetString();
        return WireRef.TryParse(text, out wire)
            ? wire
            : throw new FormatException($"{array}[{index}] {Excerpt(text!)} is not a wire ref; expected ro+N or ro-N with 1 <= N <= {long.MaxValue}.");
    }

    /// <summary>
    /// The common spellings of a ref, read without making a string: <c>"ro-N"</c>, <c>"ro+N"</c> and the
    /// encoder's <c>"ro\u002BN"</c>. False for anything else, which <see cref="WireRef.TryParse"/> then judges.
    /// </summary>
    private static bool TryParseRawRef(ReadOnlySpan<byte> raw, out WireRef wire)
    {
        wire = default;
        if (raw.Length < 6 || !raw.StartsWith("\"ro"u8) || raw[^1] != '"')
        {
            return false;
        }

        bool senderExport;
        ReadOnlySpan<byte> digits;
        if (raw[3] is (byte)'+' or (byte)'-')
        {
            senderExport = raw[3] == '+';
            digits = raw[4..^1];
        }
        else if (raw.Length > 10 && raw[3..9].SequenceEqual("\\u002B"u8))
        {
            senderExport = true;
            digits = raw[9..^1];
        }
        else
        {
            return false;
        }

        if (digits.IsEmpty || digits.Length > 19)
        {
            return false;
        }

        long id = 0;
        foreach (var b in digits)
        {
            if (!char.IsAsciiDigit((char)b) || id > (long.MaxValue - (b - '0')) / 10)
            {
                return false;
            }

            id = (id * 10) + (b - '0');
        }

        if (id < 1)
        {
            return false;
        }

        wire = new WireRef(senderExport, id);
        return true;
    }

    // Paths in messages: `parent` is where the member sits ("" for the root object of the frame or message).
    private static JsonElement Member(JsonElement parent, string path, ReadOnlySpan<byte> name) =>
        parent.TryGetProperty(name, out var v)
            ? v
            : throw new FormatException($"{Path(path, name)} is missing.");

    private static string Path(string path, ReadOnlySpan<byte> name)
    {
        var text = Encoding.UTF8.GetString(name);
        return path.Length == 0 ? text : path + "." + text;
    }

    private static JsonElement GetObject(JsonElement parent, string path, ReadOnlySpan<byte> name)
    {
        var v = Member(parent, path, name);
        return v.ValueKind == JsonValueKind.Object ? v : throw new FormatException($"{Path(path, name)} must be an object, not {Kind(v)}.");
    }

    private static JsonElement GetArray(JsonElement parent, string path, ReadOnlySpan<byte> name)
    {
        var v = Member(parent, path, name);
        return v.ValueKind == JsonValueKind.Array ? v : throw new FormatException($"{Path(path, name)} must be an array, not {Kind(v)}.");
    }

    private static string GetString(JsonElement parent, string path, ReadOnlySpan<byte> name)
    {
        var v = Member(parent, path, name);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new FormatException($"{Path(path, name)} must be a string, not {Kind(v)}.");
    }

    private static long GetLong(JsonElement parent, string path, ReadOnlySpan<byte> name, long min, long max = long.MaxValue)
    {
        var v = Member(parent, path, name);
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"{Path(path, name)} must be a whole number from {min} to {max}, not {Describe(v)}.");
    }

    private static long GetWhole(JsonElement v, long min, long max, string array, int index) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"{array}[{index}] must be a whole number from {min} to {max}, not {Describe(v)}.");

    private static bool IsDigest(string text)
    {
        if (text.Length != 16)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Describe(JsonElement v) => v.ValueKind == JsonValueKind.Number ? Clip(v.GetRawText(), 40) : Kind(v);

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Untrusted text for a message: quoted, clipped, control characters escaped.</summary>
    private static string Excerpt(string text) => "'" + Clip(text, 40) + "'";

    /// <summary>At most <paramref name="max"/> characters of the text, control characters and surrogates escaped.</summary>
    private static string Clip(string text, int max)
    {
        var clipped = text.Length > max ? text[..max] : text;
        var sb = new StringBuilder(clipped.Length + 8);
        foreach (var c in clipped)
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return text.Length > max ? sb.Append("...").ToString() : sb.ToString();
    }

    private static void WriteOps(Utf8JsonWriter w, IReadOnlyList<DgcOp> ops)
    {
        // Consecutive operations of one kind share a message, so a bulk drop is one dgc:dropRef.
        Span<char> text = stackalloc char[WireRef.MaxLength];
        var i = 0;
        while (i < ops.Count)
        {
            var kind = ops[i].Kind;
            var end = i;
            while (end < ops.Count && ops[end].Kind == kind)
            {
                end++;
            }

            w.WriteStartObject();
            w.WriteString("method", kind switch
            {
                DgcOpKind.AddRef => AddRefMethod,
                DgcOpKind.DropRef => DropRefMethod,
                _ => RetireMethod,
            });
            w.WriteStartObject("params");
            w.WriteStartArray("refs");
            for (var j = i; j < end; j++)
            {
                ops[j].Ref.TryFormat(text, out var n);
                w.WriteStringValue(text[..n]);
            }

            w.WriteEndArray();
            if (kind == DgcOpKind.DropRef)
            {
                w.WriteStartArray("counts");
                for (var j = i; j < end; j++)
                {
                    w.WriteNumberValue(ops[j].Count);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteEndObject();
            i = end;
        }
    }

    private static void WriteRefs(Utf8JsonWriter w, IReadOnlyList<WireRef> refs)
    {
        w.WriteStartArray("refs");
        Span<char> text = stackalloc char[WireRef.MaxLength];
        foreach (var r in refs)
        {
            r.TryFormat(text, out var n);
            w.WriteStringValue(text[..n]);
        }

        w.WriteEndArray();
    }
}
