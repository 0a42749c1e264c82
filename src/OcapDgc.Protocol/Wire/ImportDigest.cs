using System.Globalization;

namespace OcapDgc.Wire;

/// <summary>
/// The digest a <c>dgc:ping</c> carries: an order-independent hash of (wire id, reachable) pairs, so
/// importer and exporter can compute it from their own tables in any order and compare.
/// </summary>
public static class ImportDigest
{
    /// <summary>Digest of the given entries, as 16 lower-case hex digits.</summary>
    public static string Compute(IEnumerable<(long Id, bool Reachable)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ulong sum = 0;
        foreach (var (id, reachable) in entries)
        {
            sum += Term(id, reachable);
        }

        return Format(sum);
    }

    /// <summary>
    /// One entry's term of the digest. Summing a strong mix of each entry makes the result independent of order and
    /// still sensitive to any single entry changing; and a table's digest can be kept up to date by taking out a
    /// changed entry's old term and adding its new one.
    /// </summary>
    public static ulong Term(long id, bool reachable) => Mix(((ulong)id << 1) | (reachable ? 1UL : 0UL));

    /// <summary>A sum of terms as the digest's text: 16 lower-case hex digits.</summary>
    public static string Format(ulong sum) => sum.ToString("x16", CultureInfo.InvariantCulture);

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
