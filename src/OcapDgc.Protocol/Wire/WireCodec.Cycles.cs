using System.Text.Json;

namespace OcapDgc.Wire;

/// <summary>The cycle-detection frames (<c>dgc:cycleAsk</c>, <c>dgc:cycleReply</c>): encoding and strict decoding.</summary>
public static partial class WireCodec
{
    public const string CycleAskMethod = "dgc:cycleAsk";
    public const string CycleReplyMethod = "dgc:cycleReply";

    /// <summary>Most pending nodes one <c>dgc:cycleReply</c> may name.</summary>
    public const int MaxCyclePending = 1024;

    /// <summary>Longest node id (<c>kernel/kref</c>) a <c>dgc:cycleReply</c> may name.</summary>
    public const int MaxCycleNodeIdLength = 96;

    private static void WriteCycle(Utf8JsonWriter w, WireFrame frame)
    {
        switch (frame)
        {
            case CycleAskFrame ask:
                w.WriteNumber("trace", ask.Trace);
                w.WriteNumber("confirm", ask.Confirm);
                w.WriteString("ref", ask.Ref.ToString());
                break;
            case CycleReplyFrame reply:
                w.WriteNumber("trace", reply.Trace);
                w.WriteNumber("confirm", reply.Confirm);
                w.WriteString("ref", reply.Ref.ToString());
                w.WriteBoolean("live", reply.Live);
                w.WriteStartArray("pending");
                foreach (var p in reply.Pending)
                {
                    w.WriteStringValue(p);
                }

                w.WriteEndArray();
                w.WriteNumber("receipts", reply.Receipts);
                if (reply.AfterStream > 0)
                {
                    WritePosition(w, "after", reply.AfterStream, reply.AfterSeq);
                }

                break;
        }
    }

    private static WireFrame ReadCycle(string method, JsonElement p)
    {
        var trace = GetLong(p, "params", "trace"u8, 1);
        var confirm = GetLong(p, "params", "confirm"u8, 0);
        var r = Member(p, "params", "ref"u8);
        var wire = Ref(r, "params.ref", 0);
        if (method == CycleAskMethod)
        {
            if (!wire.SenderExport)
            {
                throw new FormatException($"params.ref {wire} must name the sender's export (ro+N).");
            }

            return new CycleAskFrame(trace, confirm, wire);
        }

        if (wire.SenderExport)
        {
            throw new FormatException($"params.ref {wire} must name the receiver's export (ro-N).");
        }

        var live = Member(p, "params", "live"u8).ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            var k => throw new FormatException($"params.live must be true or false, not {k}."),
        };
        var pendingArray = GetArray(p, "params", "pending"u8);
        var count = pendingArray.GetArrayLength();
        if (count > MaxCyclePending)
        {
            throw new FormatException($"params.pending names {count} nodes; at most {MaxCyclePending} are taken.");
        }

        if (live && count > 0)
        {
            throw new FormatException("params.pending must be empty when params.live is true.");
        }

        var pending = new List<string>(count);
        var i = 0;
        foreach (var e in pendingArray.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || !IsCycleNodeId(e.GetString()))
            {
                throw new FormatException($"params.pending[{i}] must be a node id kernel/ko<number> of at most {MaxCycleNodeIdLength} characters.");
            }

            pending.Add(e.GetString()!);
            i++;
        }

        var receipts = GetLong(p, "params", "receipts"u8, 0);
        var (afterStream, afterSeq) = OptionalPosition(p, "after"u8, "params.after", minStream: 1, minSeq: 0) ?? (0, 0);
        return new CycleReplyFrame(trace, confirm, wire, live, pending, receipts, afterStream, afterSeq);
    }

    /// <summary>Whether <paramref name="id"/> is a node id: a kernel id, '/', an object kref.</summary>
    public static bool IsCycleNodeId(string? id)
    {
        if (id is null || id.Length > MaxCycleNodeIdLength)
        {
            return false;
        }

        var slash = id.IndexOf('/', StringComparison.Ordinal);
        if (slash < 1 || slash > DgcIds.MaxKernelIdLength || !DgcIds.TryParseKref(id[(slash + 1)..], out _))
        {
            return false;
        }

        foreach (var c in id.AsSpan(0, slash))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
