using System.Buffers;
using System.Text;
using System.Text.Json;

namespace OcapDgc.Wire;

/// <summary>
/// Encodes and decodes frames as JSON in ocap-kernel's shape, for example
/// <c>{"method":"dgc:dropRef","params":{"refs":["ro-2"],"counts":[1]}}</c>. GC operations travel
/// inside a sequenced <c>dgc:batch</c> envelope:
/// <c>{"method":"dgc:batch","params":{"seq":7,"messages":[...]}}</c>.
/// </summary>
public static class WireCodec
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

    /// <summary>Encodes a frame as UTF-16 JSON text.</summary>
    public static string Encode(WireFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
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
                        w.WriteStartObject("fence");
                        w.WriteNumber("stream", list.FenceStream);
                        w.WriteNumber("seq", list.FenceSeq);
                        w.WriteEndObject();
                    }

                    break;
                case FenceFrame fence:
                    w.WriteNumber("stream", fence.Stream);
                    w.WriteNumber("seq", fence.Seq);
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

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Decodes a frame; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static WireFrame Decode(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"Frame is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            var method = GetString(root, "method");
            var p = root.TryGetProperty("params", out var pp) && pp.ValueKind == JsonValueKind.Object
                ? pp
                : throw new FormatException($"Frame '{method}' has no params object.");
            var session = ReadSession(root, method);
            WireFrame frame;
            switch (method)
            {
                case BatchMethod:
                {
                    var stream = GetPositiveLong(p, "stream");
                    var seq = GetPositiveLong(p, "seq");
                    var acked = GetLong(p, "acked");
                    if (acked >= seq)
                    {
                        throw new FormatException($"dgc:batch acked ({acked}) must be below seq ({seq}).");
                    }

                    var ops = new List<DgcOp>();
                    if (!p.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
                    {
                        throw new FormatException("dgc:batch has no messages array.");
                    }

                    foreach (var m in messages.EnumerateArray())
                    {
                        ReadOp(m, ops);
                    }

                    frame = new BatchFrame(stream, seq, acked, ops);
                    break;
                }

                case AckMethod:
                    frame = new AckFrame(GetPositiveLong(p, "stream"), GetLong(p, "seq"));
                    break;
                case BoydMethod:
                    frame = new BringOutYourDeadFrame();
                    break;
                case PingMethod:
                {
                    var imports = GetLong(p, "imports");
                    frame = new PingFrame(
                        GetPositiveLong(p, "stream"),
                        GetLong(p, "asOf"),
                        imports <= int.MaxValue ? (int)imports : throw new FormatException("dgc:ping imports is too large."),
                        GetString(p, "digest"));
                    break;
                }

                case PongMethod:
                    frame = new PongFrame(GetString(p, "status") switch
                    {
                        "match" => PongStatus.Match,
                        "behind" => PongStatus.Behind,
                        "mismatch" => PongStatus.Mismatch,
                        "session" => PongStatus.NewSession,
                        var other => throw new FormatException($"dgc:pong status '{other}' is not match, behind, mismatch or session."),
                    });
                    break;
                case ImportsMethod:
                {
                    var refs = ReadRefs(p, method);
                    if (!p.TryGetProperty("reachable", out var reach) || reach.ValueKind != JsonValueKind.Array || reach.GetArrayLength() != refs.Count)
                    {
                        throw new FormatException("dgc:imports needs a reachable array as long as its refs array.");
                    }

                    var entries = new List<ImportListEntry>(refs.Count);
                    var k = 0;
                    foreach (var r in reach.EnumerateArray())
                    {
                        if (r.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        {
                            throw new FormatException($"dgc:imports reachable flag for {refs[k]} must be true or false.");
                        }

                        entries.Add(new ImportListEntry(refs[k++], r.GetBoolean()));
                    }

                    var (fenceStream, fenceSeq) = p.TryGetProperty("fence", out var f)
                        ? (GetPositiveLong(f, "stream"), GetPositiveLong(f, "seq"))
                        : (0L, 0L);
                    frame = new ImportListFrame(GetPositiveLong(p, "stream"), GetLong(p, "asOf"), entries, fenceStream, fenceSeq);
                    break;
                }

                case FenceMethod:
                    frame = new FenceFrame(GetPositiveLong(p, "stream"), GetPositiveLong(p, "seq"));
                    break;

                case AddRefMethod or DropRefMethod or RetireMethod:
                    throw new FormatException($"'{method}' must travel inside a sequenced dgc:batch.");
                default:
                    if (method.StartsWith("dgc:", StringComparison.Ordinal))
                    {
                        throw new FormatException($"Unknown GC method '{method}'.");
                    }

                    var body = p.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : string.Empty;
                    frame = new AppFrame(GetPositiveLong(p, "stream"), GetPositiveLong(p, "seq"), method, body, ReadRefs(p, method));
                    break;
            }

            return frame with { Session = session };
        }
    }

    private static SessionHeader ReadSession(JsonElement root, string method)
    {
        if (!root.TryGetProperty("session", out var s) || s.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"Frame '{method}' has no session object.");
        }

        var header = new SessionHeader(GetPositiveLong(s, "inc"), GetPositiveLong(s, "epoch"), GetLong(s, "peer"));
        return header;
    }

    private static void WriteOps(Utf8JsonWriter w, IReadOnlyList<DgcOp> ops)
    {
        // Consecutive operations of one kind share a message, so a bulk drop is one dgc:dropRef.
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
                w.WriteStringValue(ops[j].Ref.ToString());
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

    private static void ReadOp(JsonElement m, List<DgcOp> ops)
    {
        var method = GetString(m, "method");
        var kind = method switch
        {
            AddRefMethod => DgcOpKind.AddRef,
            DropRefMethod => DgcOpKind.DropRef,
            RetireMethod => DgcOpKind.Retire,
            _ => throw new FormatException($"'{method}' is not a GC operation."),
        };
        if (!m.TryGetProperty("params", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"'{method}' has no params object.");
        }

        var refs = ReadRefs(p, method);
        if (kind == DgcOpKind.DropRef)
        {
            if (!p.TryGetProperty("counts", out var counts) || counts.ValueKind != JsonValueKind.Array || counts.GetArrayLength() != refs.Count)
            {
                throw new FormatException("dgc:dropRef needs a counts array as long as its refs array.");
            }

            var k = 0;
            foreach (var c in counts.EnumerateArray())
            {
                if (c.ValueKind != JsonValueKind.Number || !c.TryGetInt64(out var n) || n < 1)
                {
                    throw new FormatException($"dgc:dropRef count for {refs[k]} must be a whole number >= 1.");
                }

                ops.Add(new DgcOp(kind, refs[k++], n));
            }

            return;
        }

        foreach (var r in refs)
        {
            ops.Add(new DgcOp(kind, r));
        }
    }

    private static void WriteRefs(Utf8JsonWriter w, IReadOnlyList<WireRef> refs)
    {
        w.WriteStartArray("refs");
        foreach (var r in refs)
        {
            w.WriteStringValue(r.ToString());
        }

        w.WriteEndArray();
    }

    private static List<WireRef> ReadRefs(JsonElement p, string method)
    {
        var list = new List<WireRef>();
        if (!p.TryGetProperty("refs", out var refs))
        {
            return list;
        }

        if (refs.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"'{method}' refs must be an array.");
        }

        foreach (var r in refs.EnumerateArray())
        {
            list.Add(WireRef.Parse(r.ValueKind == JsonValueKind.String ? r.GetString() : r.ToString()));
        }

        return list;
    }

    private static string GetString(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new FormatException($"Frame has no string '{name}'.");

    private static long GetLong(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= 0
            ? n
            : throw new FormatException($"Frame has no whole number '{name}'.");

    private static long GetPositiveLong(JsonElement e, string name)
    {
        var n = GetLong(e, name);
        return n >= 1 ? n : throw new FormatException($"'{name}' must be >= 1.");
    }
}
