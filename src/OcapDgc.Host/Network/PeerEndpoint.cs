using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OcapDgc.Internal;

namespace OcapDgc.Host.Network;

/// <summary>
/// The peer endpoint: its own Kestrel server on <see cref="NetworkOptions.Listen"/>, apart from the
/// dashboard's, speaking HTTPS only and requiring a client certificate whose public key is pinned for a
/// configured peer; any other client is refused during the TLS handshake, before a request is read.
/// It serves <c>POST /dgc/frames</c> and, for the peers in <see cref="NetworkOptions.DemoControl"/>, the
/// demo's <c>/dgc/demo/*</c>. A frame is handed to the receiving remote handle only when the sending kernel
/// (<c>Dgc-From</c>) is one the authenticated peer serves and the receiving kernel (<c>Dgc-To</c>) one this
/// host serves; every refusal happens before any grain is called, so it creates no activation, row or
/// reminder.
/// </summary>
public sealed partial class PeerEndpoint : IHostedService, IAsyncDisposable
{
    /// <summary>Header naming the sending kernel, which must be served by the authenticated peer.</summary>
    public const string FromHeader = "Dgc-From";

    /// <summary>Header naming the receiving kernel, which must be served by this host.</summary>
    public const string ToHeader = "Dgc-To";

    private readonly IGrainFactory _grains;
    private readonly PeerDirectory _directory;
    private readonly NetworkIdentity _identity;
    private readonly NetworkOptions _options;
    private readonly NetworkCounters _counters;
    private readonly NetworkTransport _transport;
    private readonly DemoControl _demo;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly AggregatedLog _refusals;
    private readonly bool _freshIncarnation;
    private readonly Dictionary<string, PeerQuota> _quotas = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private ITimer? _flushTimer;

    /// <summary>Creates the endpoint; it listens once started.</summary>
    public PeerEndpoint(
        IGrainFactory grains,
        PeerDirectory directory,
        NetworkIdentity identity,
        IOptions<NetworkOptions> options,
        NetworkCounters counters,
        NetworkTransport transport,
        DemoControl demo,
        NetworkStartup startup,
        TimeProvider time,
        ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        ArgumentNullException.ThrowIfNull(startup);
        _grains = grains;
        _directory = directory;
        _identity = identity;
        _options = options.Value;
        _counters = counters;
        _transport = transport;
        _demo = demo;
        _loggers = loggers;
        _logger = loggers.CreateLogger<PeerEndpoint>();
        _freshIncarnation = startup.FreshIncarnation;
        _refusals = new AggregatedLog(time, _options.LogInterval, (key, count, detail) => LogRefused(_logger, key, detail, count));
        foreach (var peer in directory.Peers)
        {
            _quotas[peer.Name] = new PeerQuota();
        }
    }

    /// <summary>The address the endpoint listens on, once started.</summary>
    public Uri? Address { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!NetworkOptions.TryParseListen(_options.Listen, out var listen))
        {
            throw new InvalidOperationException($"{NetworkOptions.Section}:Listen is not address:port.");
        }

        var incarnation = await BeginIncarnationsAsync();

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddLogging();
        builder.Services.Replace(ServiceDescriptor.Singleton(_loggers));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true); // the host's own lines are enough
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = _options.MaxFrameBytes;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            k.Limits.MaxConcurrentConnections = _options.MaxConnections;
            k.Listen(listen, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = _identity.Certificate,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = ValidateClient,
                    CheckCertificateRevocation = false,
                    HandshakeTimeout = _options.HandshakeTimeout,
                });
            });
        });
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken);
        _app = app;
        Address = new Uri($"https://{listen}/");
        _flushTimer = TimeProvider.System.CreateTimer(_ => FlushLogs(), null, _options.LogInterval, _options.LogInterval);
        Console.WriteLine($"ocap-dgc peer endpoint: {Address} kernels={string.Join(',', _directory.LocalKernels.Order(StringComparer.Ordinal))} "
            + $"peers={string.Join(',', _directory.Peers.Select(p => p.Name))} pin={_identity.Pin}{(incarnation is { } i ? $" incarnation={i}" : "")}");
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }

        FlushLogs();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _flushTimer?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    /// <summary>
    /// On the embedded profile the kernels' DGC state died with the last process, but their remotes in other
    /// clusters remember it: each served kernel starts as a new incarnation, its sessions numbered above any
    /// the previous process can have used (from the clock: see docs/security.md).
    /// </summary>
    private async Task<long?> BeginIncarnationsAsync()
    {
        if (!_freshIncarnation)
        {
            return null;
        }

        var (incarnation, epoch) = NetworkStartup.ClockFloors(DateTimeOffset.UtcNow);
        foreach (var kernel in _directory.LocalKernels)
        {
            await _grains.GetGrain<IRemoteManagerInternal>(kernel).BeginIncarnationAsync(incarnation, epoch);
        }

        return incarnation;
    }

    private bool ValidateClient(X509Certificate2 certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors)
    {
        // No CA and no name: the key's pin is the identity, and only configured peers' pins are accepted.
        if (_directory.TryAuthenticate(certificate, out _))
        {
            return true;
        }

        _counters.HandshakeRefused();
        _refusals.Report("handshake", $"a client presented key {PeerPins.Of(certificate)} ({certificate.Subject}), pinned for no peer; refused during the TLS handshake");
        return false;
    }

    private async Task HandleAsync(HttpContext context)
    {
        // The handshake admitted only pinned keys; this is the mapping from key to peer, and a second check.
        if (!_directory.TryAuthenticate(context.Connection.ClientCertificate, out var peer))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        var path = context.Request.Path.Value ?? "";
        if (path == "/dgc/frames")
        {
            if (!HttpMethods.IsPost(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                return;
            }

            await ReceiveFrameAsync(context, peer);
        }
        else if (path.StartsWith(DemoControl.PathPrefix, StringComparison.Ordinal))
        {
            if (!peer.DemoControl)
            {
                _counters.NotAllowed();
                _refusals.Report($"{peer.Name}: control", $"peer {peer.Name} asked for {path}, which it is not allowed ({NetworkOptions.Section}:DemoControl)");
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }

            await _demo.HandleAsync(context, path[DemoControl.PathPrefix.Length..]);
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
        }
    }

    private async Task ReceiveFrameAsync(HttpContext context, Peer peer)
    {
        var from = context.Request.Headers[FromHeader];
        var to = context.Request.Headers[ToHeader];
        if (from.Count != 1 || !peer.Kernels.Contains(from[0]!))
        {
            // The sender is the authenticated peer: it may speak only for the kernels configuration says it serves.
            _counters.WrongSender();
            _refusals.Report($"{peer.Name}: sender", $"peer {peer.Name} sent a frame as kernel '{from}', which it does not serve ({string.Join(", ", peer.Kernels)})");
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        if (to.Count != 1 || !_directory.LocalKernels.Contains(to[0]!))
        {
            _counters.UnknownReceiver();
            _refusals.Report($"{peer.Name}: receiver", $"peer {peer.Name} sent a frame to kernel '{to}', which this host does not serve");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (context.Request.ContentLength > _options.MaxFrameBytes)
        {
            RefuseTooLarge(context, peer);
            return;
        }

        var quota = _quotas[peer.Name];
        if (Interlocked.Increment(ref quota.InFlight) > _options.MaxInFlightPerPeer)
        {
            Interlocked.Decrement(ref quota.InFlight);
            _counters.OverQuota();
            _refusals.Report($"{peer.Name}: quota", $"peer {peer.Name} had {_options.MaxInFlightPerPeer} frames in progress already");
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return;
        }

        try
        {
            string json;
            try
            {
                using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
                json = await reader.ReadToEndAsync(context.RequestAborted);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                RefuseTooLarge(context, peer);
                return;
            }

            await _grains.GetGrain<IRemoteHandleInternal>(DgcIds.HandleKey(to[0]!, from[0]!)).ReceiveFrameAsync(json);
            _counters.Received();
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        }
        catch (Exception e) when (e is not OutOfMemoryException && e is not OperationCanceledException)
        {
            _refusals.Report($"{peer.Name}: failed", $"a frame from {from} to {to} could not be handed to the handle: {e.GetBaseException().Message}");
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        }
        finally
        {
            Interlocked.Decrement(ref quota.InFlight);
        }
    }

    private void RefuseTooLarge(HttpContext context, Peer peer)
    {
        _counters.TooLarge();
        _refusals.Report($"{peer.Name}: size", $"peer {peer.Name} sent a frame over {NetworkOptions.Section}:MaxFrameBytes ({_options.MaxFrameBytes} bytes)");
        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
    }

    private void FlushLogs()
    {
        _refusals.Flush();
        _transport.FlushLog();
    }

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Peer endpoint refused ({Key}): {Detail} ({Count} such since the last report)")]
    private static partial void LogRefused(ILogger logger, string key, string detail, long count);

    private sealed class PeerQuota
    {
        public int InFlight;
    }
}

/// <summary>How the network starts on this host.</summary>
/// <param name="FreshIncarnation">The DGC state dies with the process (embedded profile): served kernels start as new incarnations.</param>
public sealed record NetworkStartup(bool FreshIncarnation)
{
    /// <summary>Epochs from the clock count seconds from this date (they must stay below 2^31 until 2093).</summary>
    public static readonly DateTimeOffset EpochBase = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The incarnation (milliseconds since 1970) and epoch counter (seconds since <see cref="EpochBase"/>) a
    /// kernel starts from at <paramref name="now"/>: both above what the previous process used, as long as it
    /// drew fewer epochs than the seconds it ran (an epoch is drawn per session, lease lapse or restart).
    /// </summary>
    public static (long Incarnation, long Epoch) ClockFloors(DateTimeOffset now) =>
        (now.ToUnixTimeMilliseconds(), Math.Max(1, (long)(now - EpochBase).TotalSeconds));
}
