using System.Globalization;
using System.Net;

namespace OcapDgc.Host.Network;

/// <summary>
/// The network transport between clusters, bound from <c>Dgc:Network</c> (see docs/security.md and
/// docs/configuration.md). Off unless <see cref="Listen"/> is set.
/// </summary>
public sealed class NetworkOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Dgc:Network";

    /// <summary>Where the peer endpoint listens, <c>address:port</c> (an IP literal, or <c>localhost</c> for 127.0.0.1). Setting it turns the network on.</summary>
    public string? Listen { get; set; }

    /// <summary>This host's certificate (PEM), which it presents to peers as server and as client.</summary>
    public string? Certificate { get; set; }

    /// <summary>The private key of <see cref="Certificate"/> (PEM, unencrypted PKCS#8 or SEC1/PKCS#1).</summary>
    public string? Key { get; set; }

    /// <summary>The kernels this host serves to other clusters: frames from peers may name only these as receivers.</summary>
    public List<string> Kernels { get; set; } = [];

    /// <summary>The peers, by name: each with its address, pinned public key(s) and the kernels it serves.</summary>
    public Dictionary<string, PeerOptions> Peers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Largest frame accepted or sent, in bytes; a larger request body is refused with 413.</summary>
    public int MaxFrameBytes { get; set; } = 1024 * 1024;

    /// <summary>Frames queued per peer before new ones are dropped (the protocol retransmits).</summary>
    public int QueueLength { get; set; } = 4096;

    /// <summary>Frames sent to one peer at once (HTTP/2 streams on one connection).</summary>
    public int MaxConcurrentSends { get; set; } = 4;

    /// <summary>Frames from one peer processed at once; more are refused with 429 (the protocol retransmits).</summary>
    public int MaxInFlightPerPeer { get; set; } = 64;

    /// <summary>Connections the peer endpoint accepts at once, TLS handshakes in progress included.</summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>How long one frame may take to be sent and processed before it counts as lost.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A TLS handshake that takes longer is abandoned.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Refusals and failed sends are logged at most once per interval per peer and reason, with the count.</summary>
    public TimeSpan LogInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Peers allowed to drive this host's reference kernels and read their ground truth (<c>/dgc/demo/*</c>):
    /// for the two-cluster demo and the tests only; empty, the default, turns those endpoints off.
    /// </summary>
    public List<string> DemoControl { get; set; } = [];

    /// <summary>Whether the network is configured at all.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Listen);

    /// <summary>Names every setting that is missing or out of range (empty when all is well).</summary>
    public IEnumerable<string> Validate()
    {
        if (!TryParseListen(Listen, out _))
        {
            yield return $"{Section}:Listen must be address:port with an IP address (or localhost) and a port 1-65535 (got '{Listen}').";
        }

        foreach (var (key, path) in new[] { ("Certificate", Certificate), ("Key", Key) })
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                yield return $"{Section}:{key} must name a PEM file (scripts/make-peer-keys.sh makes them).";
            }
            else if (!File.Exists(path))
            {
                yield return $"{Section}:{key}: file '{path}' not found.";
            }
        }

        foreach (var problem in Range(nameof(MaxFrameBytes), MaxFrameBytes, 1024, 64 * 1024 * 1024)
            .Concat(Range(nameof(QueueLength), QueueLength, 1, 1_000_000))
            .Concat(Range(nameof(MaxConcurrentSends), MaxConcurrentSends, 1, 64))
            .Concat(Range(nameof(MaxInFlightPerPeer), MaxInFlightPerPeer, 1, 10_000))
            .Concat(Range(nameof(MaxConnections), MaxConnections, 1, 100_000)))
        {
            yield return problem;
        }

        foreach (var (key, value) in new[] { (nameof(SendTimeout), SendTimeout), (nameof(HandshakeTimeout), HandshakeTimeout), (nameof(LogInterval), LogInterval) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return $"{Section}:{key} must be positive (got {value}).";
            }
        }

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kernel in Kernels)
        {
            if (!IsKernelId(kernel))
            {
                yield return $"{Section}:Kernels: '{kernel}' is not a kernel id (1-64 letters, digits, '-', '_', '.').";
            }
            else if (!owners.TryAdd(kernel, "this host"))
            {
                yield return $"{Section}:Kernels names '{kernel}' twice.";
            }
        }

        var pins = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, peer) in Peers)
        {
            var at = $"{Section}:Peers:{name}";
            if (!IsKernelId(name))
            {
                yield return $"{at}: a peer name must be 1-64 letters, digits, '-', '_' or '.'.";
            }

            if (peer.Address is not null && !TryParseAddress(peer.Address, out _))
            {
                yield return $"{at}:Address must be an https://host:port/ URL (got '{peer.Address}').";
            }

            if (peer.Address is null && peer.Kernels.Count > 0)
            {
                yield return $"{at}:Address is required: frames to its kernels ({string.Join(", ", peer.Kernels)}) must go somewhere.";
            }

            if (peer.Pins.Count == 0)
            {
                yield return $"{at}:Pins must hold at least one pin (sha256/<base64 of the SHA-256 of its public key>).";
            }

            foreach (var pin in peer.Pins)
            {
                if (!PeerPins.IsWellFormed(pin))
                {
                    yield return $"{at}:Pins: '{pin}' is not of the form sha256/<44 base64 characters>.";
                }
                else if (pins.TryGetValue(pin, out var other) && other != name)
                {
                    yield return $"{at}:Pins: '{pin}' is pinned for peer '{other}' too; a key authenticates one peer.";
                }
                else
                {
                    pins[pin] = name;
                }
            }

            foreach (var kernel in peer.Kernels)
            {
                if (!IsKernelId(kernel))
                {
                    yield return $"{at}:Kernels: '{kernel}' is not a kernel id.";
                }
                else if (!owners.TryAdd(kernel, $"peer '{name}'"))
                {
                    yield return $"{at}:Kernels: '{kernel}' is already served by {owners[kernel]}.";
                }
            }
        }

        foreach (var name in DemoControl)
        {
            if (!Peers.ContainsKey(name))
            {
                yield return $"{Section}:DemoControl names '{name}', which is not a configured peer.";
            }
        }
    }

    /// <summary>Parses <see cref="Listen"/>.</summary>
    public static bool TryParseListen(string? value, out IPEndPoint endpoint)
    {
        endpoint = new IPEndPoint(IPAddress.Loopback, 0);
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return false;
        }

        var host = value[..colon].Trim('[', ']');
        IPAddress? address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : null;
        if (address is null && !IPAddress.TryParse(host, out address))
        {
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>Parses a peer's address: an absolute https URL with a host and no query; the path is taken as a base.</summary>
    public static bool TryParseAddress(string? value, out Uri address)
    {
        address = null!;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps || string.IsNullOrEmpty(uri.Host) || uri.Query.Length > 0)
        {
            return false;
        }

        address = uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
        return true;
    }

    private static bool IsKernelId(string? id)
    {
        try
        {
            DgcIds.ValidateKernelId(id);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static IEnumerable<string> Range(string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            yield return $"{Section}:{key} must be {min}-{max} (got {value}).";
        }
    }
}

/// <summary>One peer host: where it listens, the keys it may authenticate with, and the kernels it serves.</summary>
public sealed class PeerOptions
{
    /// <summary>Its peer endpoint, <c>https://host:port/</c>. A peer without one only calls this host (no kernels).</summary>
    public string? Address { get; set; }

    /// <summary>
    /// The pins of the public keys it may present, <c>sha256/&lt;base64&gt;</c> (the SHA-256 of the
    /// certificate's SubjectPublicKeyInfo). Two while a key is rotated, one otherwise.
    /// </summary>
    public List<string> Pins { get; set; } = [];

    /// <summary>The kernels it serves: frames it sends may name only these as senders, and frames to these go to it.</summary>
    public List<string> Kernels { get; set; } = [];
}
