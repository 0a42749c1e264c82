using System.Globalization;

namespace OcapDgc;

/// <summary>
/// Validation and formatting of the identifiers the DGC uses: kernel ids, krefs (<c>ko12</c>) and
/// wire refs (<c>ro+3</c>, <c>ro-3</c>). Every public entry point validates its input with these
/// helpers, so a bad id is rejected before any state changes.
/// </summary>
public static class DgcIds
{
    /// <summary>Longest kernel id accepted.</summary>
    public const int MaxKernelIdLength = 64;

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="kernelId"/> is 1-64 characters of letters, digits, '-', '_' or '.'.</summary>
    public static string ValidateKernelId(string? kernelId, string paramName = "kernelId")
    {
        if (string.IsNullOrEmpty(kernelId) || kernelId.Length > MaxKernelIdLength)
        {
            throw new ArgumentException($"Kernel id must be 1-{MaxKernelIdLength} characters; got '{kernelId}'.", paramName);
        }

        foreach (var c in kernelId)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new ArgumentException($"Kernel id '{kernelId}' may hold only letters, digits, '-', '_' and '.'.", paramName);
            }
        }

        return kernelId;
    }

    /// <summary>Formats the kref of object number <paramref name="number"/>.</summary>
    public static string Kref(long number) => "ko" + number.ToString(CultureInfo.InvariantCulture);

    /// <summary>True when <paramref name="kref"/> is an object kref such as <c>ko12</c>.</summary>
    public static bool TryParseKref(string? kref, out long number)
    {
        number = 0;
        return kref is { Length: > 2 } && kref.StartsWith("ko", StringComparison.Ordinal)
            && IsDigits(kref.AsSpan(2))
            && long.TryParse(kref.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="kref"/> names an object (<c>koN</c>). Promises (<c>kpN</c>) are out of scope.</summary>
    public static string ValidateKref(string? kref, string paramName = "kref")
    {
        if (TryParseKref(kref, out _))
        {
            return kref!;
        }

        if (kref is not null && kref.StartsWith("kp", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{kref}' is a promise kref; only object krefs (koN) are collected.", paramName);
        }

        throw new ArgumentException($"'{kref}' is not an object kref; expected the form ko<number>, e.g. ko12.", paramName);
    }

    /// <summary>The grain key of <c>IExportGrain</c>: <c>kernel/kref</c>.</summary>
    public static string ExportKey(string kernelId, string kref) => $"{kernelId}/{kref}";

    /// <summary>
    /// How many export shards (<c>IExportShardGrain</c>) each kernel has. Fixed: an export's shard is where its
    /// state is found, so changing this would strand stored exports.
    /// </summary>
    public const int ExportShards = 16;

    /// <summary>Which of its kernel's export shards <paramref name="kref"/> belongs to: a hash of the kref that is the same in every process and on every run.</summary>
    public static int ExportShardOf(string kref)
    {
        ArgumentNullException.ThrowIfNull(kref);
        var hash = 2166136261u; // FNV-1a, over the UTF-16 code units
        foreach (var c in kref)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % ExportShards);
    }

    /// <summary>The grain key of <c>IExportShardGrain</c> number <paramref name="shard"/> of a kernel: <c>kernel/shard</c>.</summary>
    public static string ExportShardKey(string kernelId, int shard) => $"{kernelId}/{shard}";

    /// <summary>The grain key of <c>IRemoteHandleGrain</c>: <c>localKernel/remoteKernel</c>.</summary>
    public static string HandleKey(string localKernel, string remoteKernel) => $"{localKernel}/{remoteKernel}";

    /// <summary>Splits a two-part grain key made by <see cref="ExportKey"/> or <see cref="HandleKey"/>.</summary>
    public static (string First, string Second) SplitKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == key.Length - 1)
        {
            throw new ArgumentException($"Grain key '{key}' is not of the form a/b.", nameof(key));
        }

        return (key[..slash], key[(slash + 1)..]);
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return s.Length > 0;
    }
}
