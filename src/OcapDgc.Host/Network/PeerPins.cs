using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OcapDgc.Host.Network;

/// <summary>
/// Public-key pins: <c>sha256/</c> followed by the base64 of the SHA-256 of a certificate's
/// SubjectPublicKeyInfo (the form HPKP and curl's <c>--pinnedpubkey</c> use). A pin names a key, not a
/// certificate, so a peer may renew its certificate on the same key without anyone changing configuration.
/// With openssl: <c>openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64</c>.
/// </summary>
public static class PeerPins
{
    /// <summary>The prefix of every pin.</summary>
    public const string Prefix = "sha256/";

    /// <summary>The pin of <paramref name="certificate"/>'s public key.</summary>
    public static string Of(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Prefix + Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>Whether <paramref name="pin"/> has the form <c>sha256/</c> + base64 of 32 bytes.</summary>
    public static bool IsWellFormed(string? pin)
    {
        if (pin is null || !pin.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        Span<byte> hash = stackalloc byte[33];
        return Convert.TryFromBase64String(pin[Prefix.Length..], hash, out var written) && written == 32;
    }
}
