using System.Diagnostics.Metrics;

namespace OcapDgc.Host.Network;

/// <summary>
/// What the network transport and the peer endpoint did, for tests, the demo and the <c>stats</c> endpoint;
/// the same counts are published on the meter <c>OcapDgc.Network</c>.
/// </summary>
public sealed class NetworkCounters : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "OcapDgc.Network";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _sent;
    private readonly Counter<long> _notDelivered;
    private readonly Counter<long> _received;
    private readonly Counter<long> _refused;
    private long _framesSent;
    private long _framesDelivered;
    private long _framesFailed;
    private long _framesRefusedByPeer;
    private long _framesDroppedQueueFull;
    private long _framesReceived;
    private long _refusedWrongSender;
    private long _refusedUnknownReceiver;
    private long _refusedTooLarge;
    private long _refusedOverQuota;
    private long _refusedNotAllowed;
    private long _handshakesRefused;

    /// <summary>Creates the counters and their instruments.</summary>
    public NetworkCounters()
    {
        _sent = _meter.CreateCounter<long>("dgc.net.frames.sent", description: "Frames handed to a peer's queue");
        _notDelivered = _meter.CreateCounter<long>("dgc.net.frames.not_delivered", description: "Frames to peers dropped, failed or refused");
        _received = _meter.CreateCounter<long>("dgc.net.frames.received", description: "Frames from peers handed to a remote handle");
        _refused = _meter.CreateCounter<long>("dgc.net.requests.refused", description: "Requests and handshakes from peers refused");
    }

    /// <summary>Frames queued for a peer.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Frames a peer accepted (2xx).</summary>
    public long FramesDelivered => Interlocked.Read(ref _framesDelivered);

    /// <summary>Frames whose request failed (connection, TLS, timeout).</summary>
    public long FramesFailed => Interlocked.Read(ref _framesFailed);

    /// <summary>Frames a peer answered with an error status.</summary>
    public long FramesRefusedByPeer => Interlocked.Read(ref _framesRefusedByPeer);

    /// <summary>Frames dropped because the peer's queue was full.</summary>
    public long FramesDroppedQueueFull => Interlocked.Read(ref _framesDroppedQueueFull);

    /// <summary>Frames from peers handed to a remote handle.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Frames refused because the sending kernel is not served by the authenticated peer (403).</summary>
    public long RefusedWrongSender => Interlocked.Read(ref _refusedWrongSender);

    /// <summary>Frames refused because this host does not serve the receiving kernel (404).</summary>
    public long RefusedUnknownReceiver => Interlocked.Read(ref _refusedUnknownReceiver);

    /// <summary>Requests refused for their size (413).</summary>
    public long RefusedTooLarge => Interlocked.Read(ref _refusedTooLarge);

    /// <summary>Frames refused because the peer had too many in progress (429).</summary>
    public long RefusedOverQuota => Interlocked.Read(ref _refusedOverQuota);

    /// <summary>Control requests from peers not allowed to make them (403).</summary>
    public long RefusedNotAllowed => Interlocked.Read(ref _refusedNotAllowed);

    /// <summary>TLS handshakes refused because the client's key is not pinned for any peer.</summary>
    public long HandshakesRefused => Interlocked.Read(ref _handshakesRefused);

    internal void Sent() => Add(ref _framesSent, _sent);

    internal void Delivered() => Interlocked.Increment(ref _framesDelivered);

    internal void Failed() => Add(ref _framesFailed, _notDelivered);

    internal void RefusedByPeer() => Add(ref _framesRefusedByPeer, _notDelivered);

    internal void DroppedQueueFull() => Add(ref _framesDroppedQueueFull, _notDelivered);

    internal void Received() => Add(ref _framesReceived, _received);

    internal void WrongSender() => Add(ref _refusedWrongSender, _refused);

    internal void UnknownReceiver() => Add(ref _refusedUnknownReceiver, _refused);

    internal void TooLarge() => Add(ref _refusedTooLarge, _refused);

    internal void OverQuota() => Add(ref _refusedOverQuota, _refused);

    internal void NotAllowed() => Add(ref _refusedNotAllowed, _refused);

    internal void HandshakeRefused() => Add(ref _handshakesRefused, _refused);

    /// <summary>All counts by name.</summary>
    public Dictionary<string, long> Snapshot() => new(StringComparer.Ordinal)
    {
        ["framesSent"] = FramesSent,
        ["framesDelivered"] = FramesDelivered,
        ["framesFailed"] = FramesFailed,
        ["framesRefusedByPeer"] = FramesRefusedByPeer,
        ["framesDroppedQueueFull"] = FramesDroppedQueueFull,
        ["framesReceived"] = FramesReceived,
        ["refusedWrongSender"] = RefusedWrongSender,
        ["refusedUnknownReceiver"] = RefusedUnknownReceiver,
        ["refusedTooLarge"] = RefusedTooLarge,
        ["refusedOverQuota"] = RefusedOverQuota,
        ["refusedNotAllowed"] = RefusedNotAllowed,
        ["handshakesRefused"] = HandshakesRefused,
    };

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();

    private static void Add(ref long field, Counter<long> instrument)
    {
        Interlocked.Increment(ref field);
        instrument.Add(1);
    }
}

/// <summary>
/// Logs a recurring condition (a refused peer, a failing send) at most once per interval per key: the
/// first occurrence at once, the rest counted and written, with their number, when the interval has passed
/// (at the next occurrence or the next <see cref="Flush"/>).
/// </summary>
public sealed class AggregatedLog(TimeProvider time, TimeSpan interval, Action<string, long, string> write)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (long Count, DateTimeOffset Next, string Last)> _entries = new(StringComparer.Ordinal);

    /// <summary>One occurrence of <paramref name="key"/>; <paramref name="detail"/> describes it.</summary>
    public void Report(string key, string detail)
    {
        var now = time.GetUtcNow();
        long count;
        lock (_gate)
        {
            var e = _entries.GetValueOrDefault(key);
            e = (e.Count + 1, e.Next, detail);
            if (now < e.Next)
            {
                _entries[key] = e;
                return;
            }

            count = e.Count;
            _entries[key] = (0, now + interval, detail);
        }

        write(key, count, detail);
    }

    /// <summary>Writes the counts pending for keys whose interval has passed.</summary>
    public void Flush()
    {
        var now = time.GetUtcNow();
        List<(string, long, string)> due = [];
        lock (_gate)
        {
            foreach (var (key, e) in _entries.ToList())
            {
                if (e.Count > 0 && now >= e.Next)
                {
                    due.Add((key, e.Count, e.Last));
                    _entries[key] = (0, now + interval, e.Last);
                }
            }
        }

        foreach (var (key, count, detail) in due)
        {
            write(key, count, detail);
        }
    }
}
