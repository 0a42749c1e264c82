using Orleans.Connections.Security;

namespace OcapDgc.Host.Network;

/// <summary>
/// Mutual TLS between the silos of one cluster and on its gateway (<c>Microsoft.Orleans.Connections.Security</c>),
/// from <c>Orleans:Tls</c>: off unless <c>Orleans:Tls:Certificate</c> is set. Every connection, silo to silo and
/// client to gateway, must present a certificate whose public key carries one of <c>Orleans:Tls:Pins</c>; with no
/// pins configured, only this silo's own key is accepted, so the silos of a cluster share one cluster key
/// (<c>scripts/cluster.sh</c> makes one). See docs/security.md.
/// </summary>
public static class ClusterTls
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Orleans:Tls";

    /// <summary>Whether <c>Orleans:Tls:Certificate</c> is set.</summary>
    public static bool IsConfigured(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return !string.IsNullOrWhiteSpace(configuration[$"{Section}:Certificate"]);
    }

    /// <summary>When configured, loads the key and turns TLS on for the silo; returns the problems (exit code 2) or null.</summary>
    public static string? Add(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!IsConfigured(builder.Configuration))
        {
            return null;
        }

        var section = builder.Configuration.GetSection(Section);
        var (certificate, key) = (section["Certificate"]!, section["Key"]);
        var pins = section.GetSection("Pins").Get<string[]>() ?? [];
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(key))
        {
            problems.Add($"{Section}:Key must name the PEM private key of {Section}:Certificate.");
        }

        problems.AddRange(new[] { certificate, key }.Where(f => !string.IsNullOrWhiteSpace(f) && !File.Exists(f)).Select(f => $"{Section}: file '{f}' not found."));
        problems.AddRange(pins.Where(p => !PeerPins.IsWellFormed(p)).Select(p => $"{Section}:Pins: '{p}' is not of the form sha256/<44 base64 characters>."));
        if (problems.Count > 0)
        {
            return string.Join(Environment.NewLine, problems);
        }

        NetworkIdentity identity;
        try
        {
            identity = NetworkIdentity.Load(certificate, key!, Section);
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }

        builder.Services.AddSingleton(_ => new ClusterTlsIdentity(identity));
        var accepted = (pins.Length > 0 ? pins : [identity.Pin]).ToHashSet(StringComparer.Ordinal);
        // UseOrleans again configures the same silo.
        builder.UseOrleans(silo => silo.UseTls(identity.Certificate, o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.CheckCertificateRevocation = false;
            // No CA and no name: a silo or client is of this cluster when its key is pinned.
            o.RemoteCertificateValidation = (presented, _, _) => presented is not null && accepted.Contains(PeerPins.Of(presented));
        }));
        return null;
    }
}

/// <summary>The cluster key in use (owned by the host's container, which disposes it).</summary>
public sealed class ClusterTlsIdentity(NetworkIdentity identity) : IDisposable
{
    /// <summary>The key and certificate.</summary>
    public NetworkIdentity Identity { get; } = identity;

    /// <inheritdoc />
    public void Dispose() => Identity.Dispose();
}
