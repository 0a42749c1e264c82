using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OcapDgc.Host.Network;
using OcapDgc.Testing;

namespace OcapDgc.Tests.Cluster;

/// <summary>A host's key and self-signed certificate, made in-test, written as PEM files for the host to load.</summary>
public sealed class PeerKey : IDisposable
{
    private PeerKey(string name, X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        Name = name;
        Certificate = certificate;
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        Pin = PeerPins.Of(certificate);
    }

    /// <summary>The peer name it is made for (its CN).</summary>
    public string Name { get; }

    /// <summary>The certificate with its private key, for presenting as a client.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The certificate's PEM file.</summary>
    public string CertificatePath { get; }

    /// <summary>The private key's PEM file.</summary>
    public string KeyPath { get; }

    /// <summary>Its pin.</summary>
    public string Pin { get; }

    /// <summary>Makes an EC P-256 key and a self-signed certificate in <paramref name="folder"/>.</summary>
    public static PeerKey Create(string folder, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certificatePath = Path.Combine(folder, name + ".cert.pem");
        var keyPath = Path.Combine(folder, name + ".key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return new PeerKey(name, certificate, certificatePath, keyPath);
    }

    /// <inheritdoc />
    public void Dispose() => Certificate.Dispose();
}

/// <summary>How to start one host of a network test: its key, kernels, peers and extra settings.</summary>
/// <param name="Key">Its key.</param>
/// <param name="Kernels">The kernels it serves.</param>
/// <param name="ListenPort">Its peer endpoint's port on 127.0.0.1.</param>
public sealed record NetworkHostSpec(PeerKey Key, string[] Kernels, int ListenPort)
{
    /// <summary>Peers: name, key, port (0: no address), kernels, allowed to drive the demo control.</summary>
    public List<(string Name, PeerKey Key, int Port, string[] Kernels, bool Control)> Peers { get; } = [];

    /// <summary>Extra arguments (settings) for the host.</summary>
    public List<string> Extra { get; } = [];

    /// <summary>The peer endpoint's address.</summary>
    public Uri Address => new($"https://127.0.0.1:{ListenPort}/");

    /// <summary>The host's command line, with fresh silo and gateway ports.</summary>
    public IEnumerable<string> Arguments(bool serve)
    {
        if (serve)
        {
            yield return "--serve";
        }

        foreach (var a in new[]
        {
            "--silo-port", Port(), "--gateway-port", Port(), "--urls", "http://127.0.0.1:0",
            $"--Orleans:ClusterId=test-{Key.Name}",
            $"--Dgc:Network:Listen=127.0.0.1:{ListenPort}",
            $"--Dgc:Network:Certificate={Key.CertificatePath}",
            $"--Dgc:Network:Key={Key.KeyPath}",
        })
        {
            yield return a;
        }

        for (var i = 0; i < Kernels.Length; i++)
        {
            yield return $"--Dgc:Network:Kernels:{i}={Kernels[i]}";
        }

        var control = 0;
        foreach (var (name, key, port, kernels, allowed) in Peers)
        {
            var at = $"--Dgc:Network:Peers:{name}";
            if (port != 0)
            {
                yield return $"{at}:Address=https://127.0.0.1:{port}/";
            }

            yield return $"{at}:Pins:0={key.Pin}";
            for (var i = 0; i < kernels.Length; i++)
            {
                yield return $"{at}:Kernels:{i}={kernels[i]}";
            }

            if (allowed)
            {
                yield return $"--Dgc:Network:DemoControl:{control++}={name}";
            }
        }

        foreach (var e in Extra)
        {
            yield return e;
        }
    }

    private static string Port() => ThrowawayPostgres.FindFreeLoopbackPort().ToString(CultureInfo.InvariantCulture);
}

/// <summary>Starting network hosts and talking to them as a peer.</summary>
public static class NetworkHosts
{
    /// <summary>Seconds-long leases, so a crash is reclaimed within a test.</summary>
    public static readonly string[] ShortLease =
    [
        "--Dgc:Lease:Duration=00:00:04", "--Dgc:Lease:PingInterval=00:00:01", "--Dgc:Lease:CheckPeriod=00:00:01",
        "--Orleans:ReminderOptions:MinimumReminderPeriod=00:00:01",
    ];

    /// <summary>Starts a serving host and waits until its silo and its peer endpoint are up.</summary>
    public static async Task<HostProcess> StartAsync(NetworkHostSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var host = HostProcess.Start(spec.Arguments(serve: true));
        try
        {
            await host.WaitForLineAsync("ocap-dgc peer endpoint:", TimeSpan.FromSeconds(90));
            await host.WaitForLineAsync("ocap-dgc silo ready", TimeSpan.FromSeconds(90));
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>An HTTPS client to <paramref name="host"/>'s peer endpoint that presents <paramref name="as"/> (or no certificate).</summary>
    public static HttpClient ClientTo(NetworkHostSpec host, X509Certificate2? @as)
    {
        ArgumentNullException.ThrowIfNull(host);
        var peer = new Peer(host.Key.Name, host.Address, new HashSet<string> { host.Key.Pin }, new HashSet<string>(), false);
        if (@as is not null)
        {
            return PeerHttp.Create(peer, @as, new NetworkOptions());
        }

#pragma warning disable CA2000 // the client owns the handler
        var handler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, c, _, _) => c is X509Certificate2 x && PeerPins.Of(x) == host.Key.Pin,
            },
        };
#pragma warning restore CA2000
        return new HttpClient(handler) { BaseAddress = host.Address };
    }

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds (cross-process state); returns the last value, or throws naming <paramref name="what"/>.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan within, string what)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(done);
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"Not within {within}: {what}; last seen {value}.");
            }

            await Task.Delay(100);
        }
    }
}
