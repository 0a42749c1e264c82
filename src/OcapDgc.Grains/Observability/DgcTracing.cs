using System.Diagnostics;

namespace OcapDgc.Observability;

/// <summary>
/// The DGC's <see cref="ActivitySource"/>, <c>OcapDgc</c>: one span per GC batch flushed or applied, per
/// reconciliation step, per bring-out-your-dead and per lease check, named <c>dgc.&lt;noun&gt;.&lt;verb&gt;</c> and tagged with the
/// pair (<c>dgc.local</c>, <c>dgc.remote</c>). Spans are only created while a listener (an OpenTelemetry
/// tracer provider, say) samples them.
/// </summary>
public static class DgcTracing
{
    /// <summary>The activity source's name, for OpenTelemetry's <c>AddSource</c>.</summary>
    public const string SourceName = "OcapDgc";

    /// <summary>Span: a remote handle sealed and sent its queued operations, or resent unacknowledged batches.</summary>
    public const string BatchFlush = "dgc.batch.flush";

    /// <summary>Span: an inbound <c>dgc:batch</c> frame was checked, applied (once, in order) and acknowledged.</summary>
    public const string BatchApply = "dgc.batch.apply";

    /// <summary>Span: an importer's list (<c>dgc:imports</c>) was compared with the exporter's c-list.</summary>
    public const string ReconcileCompare = "dgc.reconcile.compare";

    /// <summary>Span: an importer fenced off messages the exporter gave up as lost (<c>dgc:fence</c>).</summary>
    public const string ReconcileFence = "dgc.reconcile.fence";

    /// <summary>Span: a ping or pong was handled (<c>dgc:ping</c>, <c>dgc:pong</c>); a mismatch starts reconciliation.</summary>
    public const string LeasePing = "dgc.lease.ping";

    /// <summary>Span: bring-out-your-dead in one remote handle (flush, resend, ping, expire, ask the remote).</summary>
    public const string BoydRun = "dgc.boyd.run";

    /// <summary>Span: the lease reminder's check (ping if due, expire a lapsed lease, ask for agreement).</summary>
    public const string LeaseCheck = "dgc.lease.check";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>The frame's method when the encoder wrote it first (as it does), else <c>other</c>; no parsing.</summary>
    internal static string FrameKind(string json)
    {
        const string Prefix = "{\"method\":\"";
        if (!json.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return "other";
        }

        var end = json.IndexOf('"', Prefix.Length);
        return (end - Prefix.Length) switch
        {
            < 1 or > 24 => "other",
            _ => json.AsSpan(Prefix.Length, end - Prefix.Length) switch
            {
                "dgc:batch" => "dgc:batch",
                "dgc:ack" => "dgc:ack",
                "dgc:ping" => "dgc:ping",
                "dgc:pong" => "dgc:pong",
                "dgc:imports" => "dgc:imports",
                "dgc:fence" => "dgc:fence",
                "dgc:bringOutYourDead" => "dgc:bringOutYourDead",
                _ => "message",
            },
        };
    }

    /// <summary>The span for an inbound frame of <paramref name="kind"/>, or null (no listener, or a kind not traced).</summary>
    internal static Activity? StartFrame(string kind, string local, string remote) => kind switch
    {
        "dgc:batch" => Start(BatchApply, local, remote),
        "dgc:imports" => Start(ReconcileCompare, local, remote),
        "dgc:fence" => Start(ReconcileFence, local, remote),
        "dgc:ping" or "dgc:pong" => Start(LeasePing, local, remote),
        _ => null,
    };

    internal static Activity? Start(string name, string local, string remote)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var a = Source.StartActivity(name, ActivityKind.Internal);
        a?.SetTag("dgc.local", local);
        a?.SetTag("dgc.remote", remote);
        return a;
    }
}
