using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace OcapDgc.Host.Network;

/// <summary>
/// The HTTPS clients towards peers, one per peer: HTTP/2 over TLS, this host's certificate as the client
/// certificate, and the peer's server certificate accepted only when its public key carries one of the
/// peer's pins (no CA, no name check: the pin is the peer's identity).
/// </summary>
public sealed class PeerHttp : IDisposable
{
    private readonly Dictionary<string, HttpClient> _clients = new(StringComparer.Ordinal);

    /// <summary>Makes a client for every peer with an address.</summary>
    public PeerHttp(PeerDirectory directory, NetworkIdentity identity, NetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        foreach (var peer in directory.Peers.Where(p => p.Address is not null))
        {
            _clients[peer.Name] = Create(peer, identity.Certificate, options);
        }
    }

    /// <summary>The client towards <paramref name="peer"/> (which must have an address).</summary>
    public HttpClient For(Peer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return _clients.TryGetValue(peer.Name, out var client)
            ? client
            : throw new InvalidOperationException($"Peer '{peer.Name}' has no address to call.");
    }

    /// <summary>A client towards <paramref name="peer"/> that presents <paramref name="certificate"/>.</summary>
    public static HttpClient Create(Peer peer, X509Certificate2 certificate, NetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(options);
        var pins = peer.Pins;
#pragma warning disable CA2000 // the client owns and disposes the handler
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            // A peer that rotated its key is met on a fresh connection within this long.
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presented is X509Certificate2 c && pins.Contains(PeerPins.Of(c)),
            },
        };
#pragma warning restore CA2000
        return new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = peer.Address,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = Math.Max(options.MaxFrameBytes, 16 * 1024 * 1024),
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var c in _clients.Values)
        {
            c.Dispose();
        }
    }
}
