using System.Security.Cryptography.X509Certificates;

namespace OcapDgc.Host.Network;

/// <summary>One configured peer, as the transport and the peer endpoint use it.</summary>
/// <param name="Name">Its name in <c>Dgc:Network:Peers</c>.</param>
/// <param name="Address">Its peer endpoint (with a trailing slash), or null for a peer that only calls this host.</param>
/// <param name="Pins">The pins of the keys it may authenticate with.</param>
/// <param name="Kernels">The kernels it serves.</param>
/// <param name="DemoControl">Whether it may drive this host's reference kernels (<c>Dgc:Network:DemoControl</c>).</param>
public sealed record Peer(string Name, Uri? Address, IReadOnlySet<string> Pins, IReadOnlySet<string> Kernels, bool DemoControl);

/// <summary>
/// Who is who, from configuration alone: which pin authenticates which peer, which peer serves which
/// kernel, and which kernels this host serves. Nothing a peer sends changes it.
/// </summary>
public sealed class PeerDirectory
{
    private readonly Dictionary<string, Peer> _byPin = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Peer> _byKernel = new(StringComparer.Ordinal);

    /// <summary>Builds the directory of validated <paramref name="options"/>.</summary>
    public PeerDirectory(NetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        LocalKernels = options.Kernels.ToHashSet(StringComparer.Ordinal);
        var peers = new List<Peer>();
        foreach (var (name, p) in options.Peers)
        {
            Uri? address = null;
            if (p.Address is not null && !NetworkOptions.TryParseAddress(p.Address, out address))
            {
                throw new ArgumentException($"Peer '{name}' has no valid address.", nameof(options));
            }

            var peer = new Peer(name, address, p.Pins.ToHashSet(StringComparer.Ordinal), p.Kernels.ToHashSet(StringComparer.Ordinal), options.DemoControl.Contains(name));
            peers.Add(peer);
            foreach (var pin in peer.Pins)
            {
                _byPin[pin] = peer;
            }

            foreach (var kernel in peer.Kernels)
            {
                _byKernel[kernel] = peer;
            }
        }

        Peers = peers;
    }

    /// <summary>The kernels this host serves to peers.</summary>
    public IReadOnlySet<string> LocalKernels { get; }

    /// <summary>Every configured peer.</summary>
    public IReadOnlyList<Peer> Peers { get; }

    /// <summary>The peer that serves <paramref name="kernel"/>, or null when no peer does (it is in this cluster).</summary>
    public Peer? ServingPeer(string kernel) => _byKernel.GetValueOrDefault(kernel);

    /// <summary>The peer whose pinned key <paramref name="certificate"/> carries, if any.</summary>
    public bool TryAuthenticate(X509Certificate2? certificate, out Peer peer)
    {
        peer = null!;
        return certificate is not null && _byPin.TryGetValue(PeerPins.Of(certificate), out peer!);
    }
}

/// <summary>This host's certificate and key, presented to peers as server and as client.</summary>
public sealed class NetworkIdentity(X509Certificate2 certificate) : IDisposable
{
    /// <summary>The certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; } = certificate;

    /// <summary>Its pin, which peers configure for this host.</summary>
    public string Pin { get; } = PeerPins.Of(certificate);

    /// <summary>Loads the PEM certificate and key; throws with a clear message (naming the keys under <paramref name="section"/>) when they do not load or do not match.</summary>
    public static NetworkIdentity Load(string certificatePath, string keyPath, string section = NetworkOptions.Section)
    {
        X509Certificate2 cert;
        try
        {
            cert = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException or IOException)
        {
            throw new InvalidOperationException($"{section}:Certificate and Key ({certificatePath}, {keyPath}) do not load as a PEM certificate with its private key: {e.Message}", e);
        }

        if (!cert.HasPrivateKey)
        {
            cert.Dispose();
            throw new InvalidOperationException($"{section}:Key ({keyPath}) holds no private key for {certificatePath}.");
        }

        return new NetworkIdentity(cert);
    }

    /// <inheritdoc />
    public void Dispose() => Certificate.Dispose();
}
