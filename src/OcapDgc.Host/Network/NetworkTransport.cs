using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using OcapDgc.Transport;

namespace OcapDgc.Host.Network;

/// <summary>
/// The transport of a host whose kernels talk to kernels of other clusters. A frame to a kernel that a
/// configured peer serves is queued for that peer and POSTed to its peer endpoint over mutual TLS
/// (<c>POST /dgc/frames</c>, headers <c>Dgc-From</c> and <c>Dgc-To</c>); every other frame stays in the
/// cluster (<see cref="InClusterTransport"/>). Sending never waits for the network: each peer has a
/// bounded queue (<see cref="NetworkOptions.QueueLength"/>; a frame that does not fit is dropped and
/// counted) drained by <see cref="NetworkOptions.MaxConcurrentSends"/> senders. Delivery is best effort:
/// a failed or refused frame is counted and logged (aggregated), never retried here; the protocol resends.
/// </summary>
public sealed partial class NetworkTransport : IDgcTransport, IAsyncDisposable
{
    private const string FramesPath = "dgc/frames";
    private readonly InClusterTransport _local;
    private readonly PeerDirectory _directory;
    private readonly NetworkCounters _counters;
    private readonly NetworkOptions _options;
    private readonly AggregatedLog _problems;
    private readonly Dictionary<string, Channel<(string From, string To, string Json)>> _queues = new(StringComparer.Ordinal);
    private readonly List<Task> _senders = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private int _inFlight;
    private TaskCompletionSource _idle = Completed();

    /// <summary>Starts one queue and its senders per peer with an address.</summary>
    public NetworkTransport(InClusterTransport local, PeerDirectory directory, PeerHttp http, IOptions<NetworkOptions> options, NetworkCounters counters, TimeProvider time, ILogger<NetworkTransport> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        _local = local;
        _directory = directory;
        _counters = counters;
        _options = options.Value;
        _problems = new AggregatedLog(time, _options.LogInterval, (key, count, detail) => LogSendProblem(logger, key, detail, count));
        foreach (var peer in directory.Peers.Where(p => p.Address is not null))
        {
            var queue = Channel.CreateBounded<(string, string, string)>(new BoundedChannelOptions(_options.QueueLength)
            {
                FullMode = BoundedChannelFullMode.Wait, // TryWrite then says false when full: the frame is dropped
                SingleWriter = false,
                SingleReader = _options.MaxConcurrentSends == 1,
            });
            _queues[peer.Name] = queue;
            var client = http.For(peer);
            for (var i = 0; i < _options.MaxConcurrentSends; i++)
            {
                _senders.Add(Task.Run(() => DrainAsync(peer, client, queue.Reader)));
            }
        }
    }

    /// <summary>Frames queued for peers or being sent.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <inheritdoc />
    public Task SendAsync(string fromKernel, string toKernel, string frameJson)
    {
        var peer = _directory.ServingPeer(toKernel);
        if (peer is null)
        {
            return _local.SendAsync(fromKernel, toKernel, frameJson);
        }

        _counters.Sent();
        Enter();
        if (!_queues[peer.Name].Writer.TryWrite((fromKernel, toKernel, frameJson)))
        {
            _counters.DroppedQueueFull();
            _problems.Report($"{peer.Name}: queue full", $"frame from {fromKernel} to {toKernel} dropped: {_options.QueueLength} frames already queued");
            Leave();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Completes when no frame is queued or on its way to a peer and no in-cluster delivery is in flight.
    /// A frame counts as on its way until the peer answered, and the peer answers once the receiving handle
    /// processed it, so afterwards every frame sent so far was processed or lost.
    /// </summary>
    public async Task WhenIdleAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            await _local.WhenIdleAsync(timeout).ConfigureAwait(false);
            Task idle;
            lock (_gate)
            {
                idle = _idle.Task;
            }

            await idle.WaitAsync(cts.Token).ConfigureAwait(false);
            lock (_gate)
            {
                if (_inFlight == 0)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Writes the counts of send problems whose log interval has passed.</summary>
    public void FlushLog() => _problems.Flush();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var q in _queues.Values)
        {
            q.Writer.TryComplete();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_senders).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            // Frames still queued at shutdown are lost, like any other; the protocol resends them.
        }

        _stop.Dispose();
    }

    private async Task DrainAsync(Peer peer, HttpClient client, ChannelReader<(string From, string To, string Json)> reader)
    {
        try
        {
            await foreach (var (from, to, json) in reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await PostAsync(peer, client, from, to, json).ConfigureAwait(false);
                }
                finally
                {
                    Leave();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task PostAsync(Peer peer, HttpClient client, string from, string to, string json)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(_options.SendTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, FramesPath)
            {
                Content = new StringContent(json, Encoding.UTF8, "application/json"),
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            };
            request.Headers.Add(PeerEndpoint.FromHeader, from);
            request.Headers.Add(PeerEndpoint.ToHeader, to);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                _counters.Delivered();
                return;
            }

            _counters.RefusedByPeer();
            _problems.Report($"{peer.Name}: refused {(int)response.StatusCode}", $"frame from {from} to {to} refused with {(int)response.StatusCode} {response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _counters.Failed();
            var why = e is OperationCanceledException ? $"no answer within {_options.SendTimeout}" : e.GetBaseException().Message;
            _problems.Report($"{peer.Name}: failed", $"frame from {from} to {to} not delivered to {peer.Address}: {why}");
        }
    }

    private void Enter()
    {
        lock (_gate)
        {
            if (_inFlight++ == 0)
            {
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    private void Leave()
    {
        TaskCompletionSource? done = null;
        lock (_gate)
        {
            if (--_inFlight == 0)
            {
                done = _idle;
            }
        }

        done?.TrySetResult();
    }

    private static TaskCompletionSource Completed()
    {
        var s = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        s.SetResult();
        return s;
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Network ({Key}): {Detail} ({Count} such since the last report; the protocol resends what matters)")]
    private static partial void LogSendProblem(ILogger logger, string key, string detail, long count);
}
