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

    /// <summary>Encodes a frame as UTF-16 JSON text.</summary>
    public static string Encode(WireFrame frame)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            switch (frame)
            {
                case BatchFrame batch:
                    w.WriteString("method", BatchMethod);
                    w.WriteStartObject("params");
                    w.WriteNumber("seq", batch.Seq);
                    w.WriteStartArray("messages");
                    WriteOps(w, batch.Ops);
                    w.WriteEndArray();
                    w.WriteEndObject();
                    break;
                case AckFrame ack:
                    w.WriteString("method", AckMethod);
                    w.WriteStartObject("params");
                    w.WriteNumber("seq", ack.Seq);
                    w.WriteEndObject();
                    break;
                case BringOutYourDeadFrame:
                    w.WriteString("method", BoydMethod);
                    w.WriteStartObject("params");
                    w.WriteEndObject();
                    break;
                case AppFrame app:
                    w.WriteString("method", app.Method);
                    w.WriteStartObject("params");
                    w.WriteString("body", app.Body);
                    WriteRefs(w, app.Refs);
                    w.WriteEndObject();
                    break;
                default:
                    throw new ArgumentException($"Unknown frame type {frame.GetType().Name}.", nameof(frame));
            }

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
            switch (method)
            {
                case BatchMethod:
                {
                    var seq = GetPositiveLong(p, "seq");
                    var ops = new List<DgcOp>();
                    if (!p.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
                    {
                        throw new FormatException("dgc:batch has no messages array.");
                    }

                    foreach (var m in messages.EnumerateArray())
                    {
                        ReadOp(m, ops);
                    }

                    return new BatchFrame(seq, ops);
                }

                case AckMethod:
                    return new AckFrame(GetLong(p, "seq"));
                case BoydMethod:
                    return new BringOutYourDeadFrame();
                case AddRefMethod or DropRefMethod or RetireMethod:
                    throw new FormatException($"'{method}' must travel inside a sequenced dgc:batch.");
                default:
                    if (method.StartsWith("dgc:", StringComparison.Ordinal))
                    {
                        throw new FormatException($"Unknown GC method '{method}'.");
                    }

                    var body = p.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : string.Empty;
                    return new AppFrame(method, body, ReadRefs(p, method));
            }
        }
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
