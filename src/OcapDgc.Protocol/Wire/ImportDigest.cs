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
            // Summing a strong mix of each entry makes the result independent of order and still
            // sensitive to any single entry changing.
            sum += Mix(((ulong)id << 1) | (reachable ? 1UL : 0UL));
        }

        return sum.ToString("x16", CultureInfo.InvariantCulture);
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
