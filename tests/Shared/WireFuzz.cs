using System.Diagnostics;
using System.Globalization;
using System.Text;
using OcapDgc.Wire;

namespace OcapDgc.Testing;

/// <summary>
/// A fuzzer for <see cref="WireCodec.Decode"/>, shared by the console harness (tests/OcapDgc.Fuzz) and
/// the test suite (this file is compiled into both). Input <c>i</c> of seed <c>s</c> depends only on
/// <c>(s, i)</c>, so any input can be replayed alone. Every input must decode or throw
/// <see cref="FormatException"/>; a valid frame as encoded must decode and re-encode to the same
/// text; whatever decodes must re-encode to a frame that decodes to the same text again; and each
/// input must take at most <see cref="WireFuzzRunner.TimeLimitMs"/> and allocate at most
/// <see cref="WireFuzzRunner.AllocFactor"/> times its length in characters plus
/// <see cref="WireFuzzRunner.AllocSlack"/> bytes.
/// </summary>
internal static class WireFuzz
{
    /// <summary>Keys of every frame kind, so random objects hit the decoder's fields.</summary>
    private static readonly string[] Keys =
    [
        "method", "session", "params", "inc", "epoch", "peer", "stream", "seq", "acked", "messages", "refs",
        "counts", "body", "status", "digest", "asOf", "imports", "reachable", "fence", "x", "",
    ];

    private static readonly string[] Methods =
    [
        WireCodec.BatchMethod, WireCodec.AckMethod, WireCodec.BoydMethod, WireCodec.AddRefMethod, WireCodec.DropRefMethod,
        WireCodec.RetireMethod, WireCodec.PingMethod, WireCodec.PongMethod, WireCodec.ImportsMethod, WireCodec.FenceMethod,
        "deliver", "notify", "", "dgc:", "dgc:other", "DGC:batch", "dgc:batch ", "x",
    ];

    /// <summary>Number texts: valid JSON numbers at and past every limit the decoder checks.</summary>
    private static readonly string[] Numbers =
    [
        "0", "1", "-1", "2", "7", "-0", "0.0", "1.0", "1.5", "1e2", "1E+2", "-1e-2", "2147483647", "2147483648",
        "-2147483648", "4294967296", "9223372036854775806", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "123456789012345678901234567890", "1" + new string('0', 400), "1e400", "-1e400", "1e-400", "0.000001",
    ];

    /// <summary>Tokens that are not JSON at all.</summary>
    private static readonly string[] BadTokens =
    [
        "01", "-", "1.", "+1", ".5", "NaN", "Infinity", "-Infinity", "tru", "nul", "0x10", "1_000", "'x'", "undefined", "\"\\x\"", "\"\\u12\"",
    ];

    private static readonly string[] BadRefs =
    [
        "ro+0", "ro-0", "ro+", "ro-", "ro", "ro+-1", "ro++1", "ro+1x", "ro+ 1", "ro+9223372036854775808", "ro-99999999999999999999",
        "ko1", "RO+1", "ro*1", "ro+\u0661", "ro+0001", "", "\u0000", "ro+1\u0000", "ro\ud800+1", "ro+\uff11",
    ];

    /// <summary>Characters JSON text is made of.</summary>
    private const string JsonChars = "{}[]\":,\\0123456789-+.eEtrufalsn ";

    /// <summary>Text inserted at random places.</summary>
    private static readonly string[] Snippets =
    [
        "{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "\\ud800", "\\uDFFF", "\\ud83d\\ude00", "\\ud83d", "\ud800", "\udc00",
        "\ud83d\ude00", "null", "true", "-", "0", "1e999", ",\"method\":\"deliver\"", "\"x\":1,", " ", "\t", "\n", "\u0000",
        "\u001f", "\u00e9", "\uffff", "\ufeff", "/*c*/", "//", "{}", "[]", "\"\"", ",,", "::",
    ];

    /// <summary>The text of input <paramref name="index"/> of <paramref name="seed"/> (null is one of the inputs).</summary>
    public static FuzzCase Generate(ulong seed, long index)
    {
        var r = new FuzzRandom(FuzzRandom.Mix(FuzzRandom.Mix(seed) + (ulong)index));
        var roll = r.Next(1000);
        return roll switch
        {
            < 1 => new FuzzCase(null, "null", MustDecode: false),
            < 80 => new FuzzCase(RandomBytesAsText(r), "bytes", MustDecode: false),
            < 160 => new FuzzCase(RandomText(r, r.Next(4) == 0 ? 2000 : 120), "utf16", MustDecode: false),
            < 240 => new FuzzCase(RandomJson(r, 0, r.Next(8) + 1), "json", MustDecode: false),
            < 360 => new FuzzCase(FrameShapedJson(r), "frame-shaped", MustDecode: false),
            < 460 => new FuzzCase(WireCodec.Encode(RandomFrame(r)), "valid", MustDecode: true),
            _ => new FuzzCase(Mutate(r, WireCodec.Encode(RandomFrame(r))), "mutated", MustDecode: false),
        };
    }

    /// <summary>The input escaped for a log: printable ASCII as is, everything else as <c>\uXXXX</c>.</summary>
    public static string Escape(string? input, int maxChars = 20_000)
    {
        if (input is null)
        {
            return "<null>";
        }

        var sb = new StringBuilder(Math.Min(input.Length, maxChars) + 16);
        foreach (var c in input.AsSpan(0, Math.Min(input.Length, maxChars)))
        {
            if (c == '\\')
            {
                sb.Append("\\\\");
            }
            else if (c is >= ' ' and <= '~')
            {
                sb.Append(c);
            }
            else
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        if (input.Length > maxChars)
        {
            sb.Append("... (").Append(input.Length.ToString(CultureInfo.InvariantCulture)).Append(" chars in all)");
        }

        return sb.ToString();
    }

    // ---- valid frames ----

    /// <summary>A random frame the encoder may produce (every field within the decoder's limits).</summary>
    public static WireFrame RandomFrame(FuzzRandom r)
    {
        var session = new SessionHeader(Positive(r), Positive(r), r.Next(4) == 0 ? 0 : Positive(r));
        WireFrame frame;
        switch (r.Next(9))
        {
            case 0:
            case 1:
            {
                var seq = Positive(r);
                var acked = r.Next(3) == 0 ? seq - 1 : r.NextLong(0, seq - 1);
                var size = r.Next(200) switch
                {
                    0 => r.Next(2000),
                    < 20 => r.Next(64),
                    _ => r.Next(8),
                };
                var ops = new List<DgcOp>(size);
                var kind = (DgcOpKind)r.Next(3);
                for (var i = 0; i < size; i++)
                {
                    if (r.Next(3) == 0)
                    {
                        kind = (DgcOpKind)r.Next(3);
                    }

                    ops.Add(new DgcOp(kind, RandomRef(r), kind == DgcOpKind.DropRef ? Positive(r) : 0));
                }

                frame = new BatchFrame(Positive(r), seq, acked, ops);
                break;
            }

            case 2:
                frame = new AckFrame(Positive(r), r.Next(5) == 0 ? 0 : Positive(r));
                break;
            case 3:
                frame = new BringOutYourDeadFrame();
                break;
            case 4:
            {
                var entries = new (long, bool)[r.Next(5)];
                for (var i = 0; i < entries.Length; i++)
                {
                    entries[i] = (Positive(r), r.Next(2) == 0);
                }

                var imports = r.Next(4) == 0 ? int.MaxValue - r.Next(2) : r.Next(100_000);
                frame = new PingFrame(Positive(r), r.Next(5) == 0 ? 0 : Positive(r), imports, ImportDigest.Compute(entries));
                break;
            }

            case 5:
                frame = new PongFrame((PongStatus)r.Next(4));
                break;
            case 6:
            {
                var entries = new List<ImportListEntry>();
                var count = r.Next(20) == 0 ? r.Next(500) : r.Next(6);
                for (var i = 0; i < count; i++)
                {
                    entries.Add(new ImportListEntry(RandomRef(r), r.Next(2) == 0));
                }

                frame = r.Next(2) == 0
                    ? new ImportListFrame(Positive(r), r.Next(4) == 0 ? 0 : Positive(r), entries)
                    : new ImportListFrame(Positive(r), Positive(r), entries, Positive(r), Positive(r));
                break;
            }

            case 7:
                frame = new FenceFrame(Positive(r), Positive(r));
                break;
            default:
            {
                var refs = new WireRef[r.Next(20) == 0 ? r.Next(300) : r.Next(4)];
                for (var i = 0; i < refs.Length; i++)
                {
                    refs[i] = RandomRef(r);
                }

                var method = r.Next(3) switch
                {
                    0 => "deliver",
                    1 => "x" + RandomText(r, 12, valid: true),
                    _ => RandomText(r, 1, valid: true) is { Length: > 0 } m && !m.StartsWith("dgc:", StringComparison.Ordinal) ? m : "m",
                };
                frame = new AppFrame(Positive(r), Positive(r), method, RandomText(r, r.Next(20) == 0 ? 3000 : 40, valid: true), refs);
                break;
            }
        }

        return frame with { Session = session };
    }

    private static long Positive(FuzzRandom r) => r.Next(10) switch
    {
        0 => long.MaxValue - r.Next(2),
        1 => int.MaxValue + (long)r.Next(3) - 1,
        2 => r.NextLong(1, long.MaxValue),
        3 => 1,
        _ => r.NextLong(1, 1000),
    };

    private static WireRef RandomRef(FuzzRandom r) => new(r.Next(2) == 0, Positive(r));

    // ---- random text and JSON ----

    private static string RandomBytesAsText(FuzzRandom r)
    {
        var bytes = new byte[r.Next(10) == 0 ? r.Next(4096) : r.Next(64)];
        var json = r.Next(2) == 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = json && r.Next(2) == 0 ? (byte)JsonChars[r.Next(JsonChars.Length)] : (byte)r.Next(256);
        }

        return r.Next(2) == 0 ? Encoding.UTF8.GetString(bytes) : Encoding.Latin1.GetString(bytes);
    }

    /// <summary>Random UTF-16; unless <paramref name="valid"/>, with lone surrogates too.</summary>
    public static string RandomText(FuzzRandom r, int maxLength, bool valid = false)
    {
        var length = r.Next(maxLength + 1);
        var sb = new StringBuilder(length + 2);
        while (sb.Length < length)
        {
            switch (r.Next(10))
            {
                case 0:
                    sb.Append((char)r.Next(0x20)); // control
                    break;
                case 1:
                    sb.Append("\"\\/{}[],:"[r.Next(9)]);
                    break;
                case 2 when !valid:
                    sb.Append((char)(0xD800 + r.Next(0x800))); // a lone surrogate (unless the next one pairs it)
                    break;
                case 3:
                    sb.Append(char.ConvertFromUtf32(0x10000 + r.Next(0x100000))); // a valid pair
                    break;
                case 4:
                    var c = (char)r.Next(0x10000);
                    sb.Append(char.IsSurrogate(c) && valid ? 'S' : c);
                    break;
                default:
                    sb.Append((char)(' ' + r.Next(95)));
                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>A JSON string literal for <paramref name="text"/>, escaping some characters at random (lone surrogates included).</summary>
    private static void AppendJsonString(StringBuilder sb, FuzzRandom r, string text)
    {
        sb.Append('"');
        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\').Append(c);
            }
            else if (c < ' ' || r.Next(8) == 0)
            {
                sb.Append("\\u").Append(((int)c).ToString(r.Next(2) == 0 ? "x4" : "X4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        sb.Append('"');
    }

    private static string RandomJson(FuzzRandom r, int depth, int maxDepth)
    {
        var sb = new StringBuilder();
        AppendRandomJson(sb, r, depth, maxDepth);
        return sb.ToString();
    }

    private static void AppendRandomJson(StringBuilder sb, FuzzRandom r, int depth, int maxDepth)
    {
        var pick = depth >= maxDepth ? r.Next(5) : r.Next(8);
        switch (pick)
        {
            case 0:
                sb.Append(r.Next(3) == 0 ? r.NextLong(long.MinValue, long.MaxValue).ToString(CultureInfo.InvariantCulture) : r.Pick(Numbers));
                break;
            case 1:
                AppendJsonString(sb, r, r.Next(4) == 0 ? r.Pick(Methods) : r.Next(4) == 0 ? r.Pick(BadRefs) : RandomText(r, 16));
                break;
            case 2:
                sb.Append(r.Pick(["true", "false", "null"]));
                break;
            case 3:
                sb.Append(r.Next(20) == 0 ? r.Pick(BadTokens) : WireRefText(r));
                break;
            case 4:
                AppendJsonString(sb, r, "ro" + (r.Next(2) == 0 ? "+" : "-") + r.Next(100).ToString(CultureInfo.InvariantCulture));
                break;
            case 5:
            case 6:
            {
                sb.Append('{');
                var n = r.Next(5);
                for (var i = 0; i < n; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    AppendJsonString(sb, r, r.Next(6) == 0 ? RandomText(r, 6) : r.Pick(Keys));
                    sb.Append(':');
                    AppendRandomJson(sb, r, depth + 1, maxDepth);
                }

                sb.Append('}');
                break;
            }

            default:
            {
                sb.Append('[');
                var n = r.Next(5);
                for (var i = 0; i < n; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    AppendRandomJson(sb, r, depth + 1, maxDepth);
                }

                sb.Append(']');
                break;
            }
        }
    }

    private static string WireRefText(FuzzRandom r) => "\"" + (r.Next(2) == 0 ? "ro+" : "ro-") + Positive(r).ToString(CultureInfo.InvariantCulture) + "\"";

    /// <summary>An object with a frame's keys, most values of the right type and some not.</summary>
    private static string FrameShapedJson(FuzzRandom r)
    {
        var sb = new StringBuilder("{");
        var members = new List<(string Key, Action Value)>
        {
            ("method", () => AppendJsonString(sb, r, r.Pick(Methods))),
            ("session", () => AppendShapedObject(sb, r, ["inc", "epoch", "peer"])),
            ("params", () => AppendShapedObject(sb, r, ["stream", "seq", "acked", "messages", "refs", "counts", "body", "status", "digest", "asOf", "imports", "reachable", "fence"])),
        };
        var first = true;
        foreach (var (key, value) in members)
        {
            if (r.Next(12) == 0)
            {
                continue;
            }

            for (var copies = r.Next(15) == 0 ? 2 : 1; copies > 0; copies--)
            {
                if (!first)
                {
                    sb.Append(',');
                }

                first = false;
                AppendJsonString(sb, r, key);
                sb.Append(':');
                if (r.Next(10) == 0)
                {
                    AppendRandomJson(sb, r, 1, 4);
                }
                else
                {
                    value();
                }
            }
        }

        return sb.Append('}').ToString();
    }

    private static void AppendShapedObject(StringBuilder sb, FuzzRandom r, string[] keys)
    {
        sb.Append('{');
        var first = true;
        foreach (var key in keys)
        {
            if (r.Next(3) == 0)
            {
                continue;
            }

            if (!first)
            {
                sb.Append(',');
            }

            first = false;
            AppendJsonString(sb, r, r.Next(30) == 0 ? r.Pick(Keys) : key);
            sb.Append(':');
            switch (key)
            {
                case "messages":
                    sb.Append('[');
                    for (var i = r.Next(3); i > 0; i--)
                    {
                        sb.Append("{\"method\":");
                        AppendJsonString(sb, r, r.Pick(Methods));
                        sb.Append(",\"params\":");
                        AppendShapedObject(sb, r, ["refs", "counts"]);
                        sb.Append('}').Append(i > 1 ? "," : "");
                    }

                    sb.Append(']');
                    break;
                case "refs":
                    sb.Append('[');
                    for (var i = r.Next(4); i > 0; i--)
                    {
                        if (r.Next(4) == 0)
                        {
                            AppendJsonString(sb, r, r.Pick(BadRefs));
                        }
                        else
                        {
                            sb.Append(WireRefText(r));
                        }

                        sb.Append(i > 1 ? "," : "");
                    }

                    sb.Append(']');
                    break;
                case "counts" or "reachable":
                    sb.Append('[');
                    for (var i = r.Next(4); i > 0; i--)
                    {
                        sb.Append(key == "counts" ? r.Pick(Numbers) : r.Pick(["true", "false", "1", "null"])).Append(i > 1 ? "," : "");
                    }

                    sb.Append(']');
                    break;
                case "fence":
                    AppendShapedObject(sb, r, ["stream", "seq"]);
                    break;
                case "body" or "status" or "digest":
                    AppendJsonString(sb, r, r.Pick(["match", "behind", "mismatch", "session", "0123456789abcdef", "0123456789ABCDEF", ""]) + (r.Next(4) == 0 ? RandomText(r, 4) : ""));
                    break;
                default:
                    sb.Append(r.Next(3) == 0 ? r.Pick(Numbers) : Positive(r).ToString(CultureInfo.InvariantCulture));
                    break;
            }
        }

        sb.Append('}');
    }

    // ---- mutations of encoded frames ----

    private static string Mutate(FuzzRandom r, string text)
    {
        // Structural mutations first, while the text is still JSON the scanner can follow.
        for (var n = r.Next(3) + (r.Next(4) == 0 ? 0 : 1); n > 0; n--)
        {
            var values = JsonValues(text);
            if (values is null || values.Count == 0)
            {
                break;
            }

            text = MutateStructure(r, text, r.Pick(values));
        }

        for (var n = r.Next(3) == 0 ? r.Next(4) + 1 : 0; n > 0 && text.Length > 0; n--)
        {
            text = MutateChars(r, text);
        }

        return text;
    }

    private static string MutateStructure(FuzzRandom r, string text, JsonSpan v)
    {
        var value = text[v.Start..v.End];
        switch (r.Next(11))
        {
            case 0 when v.KeyStart >= 0:
            {
                // Repeat the member at the start of its object: same value or another one; the key maybe escaped.
                var key = text[v.KeyStart..v.Start];
                if (r.Next(3) == 0 && key.Length > 3)
                {
                    key = "\"\\u" + ((int)key[1]).ToString("x4", CultureInfo.InvariantCulture) + key[2..];
                }

                var copy = key + (r.Next(2) == 0 ? value : RandomJson(r, 0, 2)) + ",";
                return text.Insert(v.Container + 1, copy);
            }

            case 1:
                // Swap the type.
                return Replace(text, v, value[0] switch
                {
                    '"' => r.Pick(["1", "{}", "[]", "null", "true", "[" + value + "]"]),
                    '{' => r.Pick(["\"{}\"", "[]", "1", "null", "[" + value + "]"]),
                    '[' => r.Pick(["{}", "\"[]\"", "0", "false", "{\"0\":" + value + "}"]),
                    _ => r.Pick(["\"" + value + "\"", "[" + value + "]", "{}", "null", "true"]),
                });
            case 2:
                return Replace(text, v, r.Next(4) == 0 ? r.Pick(BadTokens) : r.Pick(Numbers));
            case 3:
                return Remove(text, v);
            case 4:
            {
                var bad = new StringBuilder();
                AppendJsonString(bad, r, r.Next(2) == 0 ? r.Pick(BadRefs) : "ro" + (r.Next(2) == 0 ? "+" : "-") + r.Pick(Numbers));
                return Replace(text, v, bad.ToString());
            }

            case 5 when value.Length >= 2 && value[0] == '"':
            {
                // A lone surrogate inside a string: raw, escaped, or a high one followed by a non-low escape.
                var at = 1 + r.Next(value.Length - 1);
                var lone = r.Pick(["\ud800", "\udbff", "\udc00", "\udfff", "\\ud800", "\\uDC00", "\\ud83d", "\\ud83d\\u0041", "\\ude00\\ud83d", "\ud83d\\ude00"]);
                return Replace(text, v, value.Insert(at, lone));
            }

            case 6:
            {
                // Deep nesting around or instead of the value.
                var depth = r.Next(10) switch
                {
                    0 => r.Next(100_000),
                    < 4 => WireCodec.MaxDepth - 6 + r.Next(4),
                    _ => r.Next(40),
                };
                var array = r.Next(2) == 0;
                var inner = r.Next(2) == 0 ? value : "1";
                var sb = new StringBuilder(depth * 6 + inner.Length);
                for (var i = 0; i < depth; i++)
                {
                    sb.Append(array ? "[" : "{\"a\":");
                }

                sb.Append(inner);
                sb.Append(array ? ']' : '}', depth);
                return Replace(text, v, sb.ToString());
            }

            case 7 when v.KeyStart >= 0:
            {
                var key = new StringBuilder();
                AppendJsonString(key, r, r.Pick(Keys));
                return text[..v.KeyStart] + key + ":" + text[v.Start..];
            }

            case 8 when v.KeyStart < 0:
                // Repeat an array element (refs, counts, reachable, messages: lengths stop matching).
                return text.Insert(v.End, "," + value);
            case 9:
                return Replace(text, v, RandomJson(r, 0, r.Next(4)));
            default:
                return Replace(text, v, value.Length > 0 && value[0] is '"' ? "\"\"" : "0");
        }
    }

    private static string Replace(string text, JsonSpan v, string with) => string.Concat(text.AsSpan(0, v.Start), with, text.AsSpan(v.End));

    private static string Remove(string text, JsonSpan v)
    {
        var start = v.KeyStart >= 0 ? v.KeyStart : v.Start;
        var end = v.End;
        if (end < text.Length && text[end] == ',')
        {
            end++;
        }
        else if (start > 0 && text[start - 1] == ',')
        {
            start--;
        }

        return string.Concat(text.AsSpan(0, start), text.AsSpan(end));
    }

    private static string MutateChars(FuzzRandom r, string text)
    {
        var at = r.Next(text.Length);
        switch (r.Next(6))
        {
            case 0:
            {
                var c = r.Next(3) switch
                {
                    0 => JsonChars[r.Next(JsonChars.Length)],
                    1 => (char)(0xD800 + r.Next(0x800)),
                    _ => (char)r.Next(0x10000),
                };
                return string.Concat(text.AsSpan(0, at), new string(c, 1), text.AsSpan(at + 1));
            }

            case 1:
                return text.Insert(at, r.Pick(Snippets));
            case 2:
                return text.Remove(at, Math.Min(text.Length - at, 1 + r.Next(r.Next(4) == 0 ? 64 : 6)));
            case 3:
                return text[..at];
            case 4:
            {
                var length = Math.Min(text.Length - at, 1 + r.Next(32));
                return text.Insert(r.Next(text.Length + 1), text.Substring(at, length));
            }

            default:
            {
                var other = r.Next(text.Length);
                var chars = text.ToCharArray();
                (chars[at], chars[other]) = (chars[other], chars[at]);
                return new string(chars);
            }
        }
    }

    /// <summary>A value in JSON text: its span, and for an object member its key's start (else -1) and the container's opening bracket.</summary>
    internal readonly record struct JsonSpan(int Start, int End, int KeyStart, int Container);

    /// <summary>Every value below the root of valid JSON text, or null when the text is not JSON this simple scanner can follow.</summary>
    internal static List<JsonSpan>? JsonValues(string text)
    {
        var found = new List<JsonSpan>();
        var i = 0;
        return ScanValue(text, ref i, found, 0) && SkipSpace(text, ref i) == text.Length ? found : null;
    }

    private static int SkipSpace(string text, ref int i)
    {
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\r')
        {
            i++;
        }

        return i;
    }

    private static bool ScanValue(string text, ref int i, List<JsonSpan> found, int depth)
    {
        if (depth > 64 || SkipSpace(text, ref i) >= text.Length)
        {
            return false;
        }

        var open = i;
        switch (text[i])
        {
            case '{' or '[':
            {
                var isObject = text[i] == '{';
                var close = isObject ? '}' : ']';
                i++;
                if (SkipSpace(text, ref i) < text.Length && text[i] == close)
                {
                    i++;
                    return true;
                }

                while (true)
                {
                    var key = -1;
                    if (isObject)
                    {
                        key = SkipSpace(text, ref i);
                        if (!ScanString(text, ref i) || SkipSpace(text, ref i) >= text.Length || text[i] != ':')
                        {
                            return false;
                        }

                        i++;
                    }

                    var start = SkipSpace(text, ref i);
                    if (!ScanValue(text, ref i, found, depth + 1))
                    {
                        return false;
                    }

                    found.Add(new JsonSpan(start, i, key, open));
                    if (SkipSpace(text, ref i) >= text.Length)
                    {
                        return false;
                    }

                    if (text[i] == ',')
                    {
                        i++;
                        continue;
                    }

                    if (text[i] != close)
                    {
                        return false;
                    }

                    i++;
                    return true;
                }
            }

            case '"':
                return ScanString(text, ref i);
            default:
                while (i < text.Length && text[i] is not (',' or '}' or ']' or ' ' or '\t' or '\n' or '\r'))
                {
                    i++;
                }

                return i > open;
        }
    }

    private static bool ScanString(string text, ref int i)
    {
        if (i >= text.Length || text[i] != '"')
        {
            return false;
        }

        for (i++; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == '"')
            {
                i++;
                return true;
            }
        }

        return false;
    }
}

/// <summary>One fuzz input: its text (null is an input too), what made it, and whether it must decode.</summary>
internal sealed record FuzzCase(string? Input, string Kind, bool MustDecode);

/// <summary>An input the decoder got wrong.</summary>
internal sealed record FuzzFailure(ulong Seed, long Index, string Kind, string Problem, string? Input)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"fuzz: FAILURE seed={Seed} index={Index} kind={Kind}: {Problem}\n  input: \"{WireFuzz.Escape(Input)}\"");
}

/// <summary>Totals of a run.</summary>
internal sealed record FuzzSummary(
    long Inputs, long Ok, long FormatErrors, double SlowestMs, long SlowestIndex, double MaxAllocRatio, long MaxAllocIndex,
    double MaxBudgetUse, int Failures, TimeSpan Elapsed)
{
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"fuzz: inputs={Inputs} ok={Ok} format_errors={FormatErrors} slowest_ms={SlowestMs:0.###} max_alloc_ratio={MaxAllocRatio:0.##} failures={Failures} seconds={Elapsed.TotalSeconds:0.#} slowest_index={SlowestIndex} max_alloc_index={MaxAllocIndex} max_alloc_budget_use={MaxBudgetUse:0.###}");
}

/// <summary>Runs <see cref="WireFuzz"/> inputs through the decoder and checks each outcome, time and allocation.</summary>
internal sealed class WireFuzzRunner
{
    /// <summary>An input may take this long (the fastest of three tries, when the first is over).</summary>
    public const double TimeLimitMs = 100;

    /// <summary>An input may allocate this many bytes per character of input ...</summary>
    public const long AllocFactor = 64;

    /// <summary>... plus this many bytes.</summary>
    public const long AllocSlack = 64 * 1024;

    /// <summary>Inputs shorter than this are left out of the reported ratio (their fixed costs swamp it); the budget holds for all.</summary>
    public const int RatioMinLength = 256;

    public static FuzzSummary Run(ulong seed, long start, long count, Action<FuzzFailure> onFailure)
    {
        ArgumentNullException.ThrowIfNull(onFailure);
        WarmUp();
        var clock = Stopwatch.StartNew();
        long ok = 0, formatErrors = 0, slowestIndex = -1, maxAllocIndex = -1;
        double slowest = 0, maxRatio = 0, maxBudget = 0;
        var failures = 0;
        for (var index = start; index < start + count; index++)
        {
            var fuzzCase = WireFuzz.Generate(seed, index);
            var (outcome, ms, allocated) = Measure(fuzzCase.Input);
            var budget = AllocFactor * (fuzzCase.Input?.Length ?? 0) + AllocSlack;
            for (var retry = 0; retry < 2 && (ms > TimeLimitMs || allocated > budget); retry++)
            {
                // A pause of the machine or a pool refill on the first try is not the decoder's doing.
                var (_, again, againAllocated) = Measure(fuzzCase.Input);
                (ms, allocated) = (Math.Min(ms, again), Math.Min(allocated, againAllocated));
            }

            var problem = Check(fuzzCase, outcome);
            if (problem is null && ms > TimeLimitMs)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"took {ms:0.#} ms (limit {TimeLimitMs} ms)");
            }

            if (problem is null && allocated > budget)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"allocated {allocated} bytes for {fuzzCase.Input?.Length} chars (limit {budget})");
            }

            if (problem is not null)
            {
                failures++;
                onFailure(new FuzzFailure(seed, index, fuzzCase.Kind, problem, fuzzCase.Input));
            }
            else if (outcome is FormatException)
            {
                formatErrors++;
            }
            else
            {
                ok++;
            }

            if (ms > slowest)
            {
                (slowest, slowestIndex) = (ms, index);
            }

            maxBudget = Math.Max(maxBudget, allocated / (double)budget);
            if (fuzzCase.Input is { Length: >= RatioMinLength } input && allocated / (double)input.Length > maxRatio)
            {
                (maxRatio, maxAllocIndex) = (allocated / (double)input.Length, index);
            }
        }

        return new FuzzSummary(count, ok, formatErrors, slowest, slowestIndex, maxRatio, maxAllocIndex, maxBudget, failures, clock.Elapsed);
    }

    /// <summary>Decodes once: the frame or the exception, the time in ms and the bytes allocated by this thread.</summary>
    private static (object Outcome, double Ms, long Allocated) Measure(string? input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        object outcome;
        try
        {
            outcome = WireCodec.Decode(input);
        }
#pragma warning disable CA1031 // the fuzzer's job is to catch whatever escapes
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = e;
        }

        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return (outcome, ms, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>What is wrong with the outcome, or null.</summary>
    private static string? Check(FuzzCase fuzzCase, object outcome)
    {
        switch (outcome)
        {
            case FormatException e when fuzzCase.MustDecode:
                return "a valid encoded frame was refused: " + e.Message;
            case FormatException e:
                return string.IsNullOrWhiteSpace(e.Message) ? "FormatException without a message" : null;
            case Exception e:
                return $"threw {e.GetType().FullName}: {e.Message}";
        }

        var frame = (WireFrame)outcome;
        string again;
        try
        {
            again = WireCodec.Encode(frame);
            if (fuzzCase.MustDecode && !string.Equals(again, fuzzCase.Input, StringComparison.Ordinal))
            {
                return "a valid frame did not re-encode to the same text: " + WireFuzz.Escape(again, 2000);
            }

            var third = WireCodec.Encode(WireCodec.Decode(again));
            if (!string.Equals(third, again, StringComparison.Ordinal))
            {
                return "a decoded frame re-encoded to text that decodes differently: " + WireFuzz.Escape(again, 2000);
            }
        }
#pragma warning disable CA1031 // reported as a failure
        catch (Exception e)
#pragma warning restore CA1031
        {
            return $"a decoded frame does not round-trip: {e.GetType().Name}: {e.Message}";
        }

        return null;
    }

    private static void WarmUp()
    {
        for (var i = 0; i < 2000; i++)
        {
            Measure(WireFuzz.Generate(0xC0FFEE, i).Input);
        }
    }
}

/// <summary>SplitMix64: small, fast and the same everywhere, so a seed names the same inputs on any machine.</summary>
internal sealed class FuzzRandom(ulong seed)
{
    private ulong _state = seed;

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>0 to <paramref name="maxExclusive"/> - 1 (0 when it is 0 or less).</summary>
    public int Next(int maxExclusive) => maxExclusive <= 0 ? 0 : (int)(NextULong() % (ulong)maxExclusive);

    public long NextLong(long minInclusive, long maxInclusive)
    {
        var range = (ulong)maxInclusive - (ulong)minInclusive + 1; // 0: the whole range of long
        return range == 0 ? (long)NextULong() : minInclusive + (long)(NextULong() % range);
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];
}
