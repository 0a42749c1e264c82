using System.Numerics;

namespace OcapDgc;

/// <summary>
/// Hash codes for keys that end in a number (krefs such as <c>ko123</c>, grain keys such as <c>kernel/ko123</c>) that
/// keep numeric neighbours together: the hash of the part before the number (randomized per process, as .NET's own
/// string hashes are) plus the number. A kernel numbers its objects in order, so the objects it creates one after
/// another fall into neighbouring slots of a hash table, which a table of millions of entries can only afford
/// this way: a slot anywhere in it is a cache miss. Keys without a trailing number hash as usual.
/// </summary>
public static class NumberedKeys
{
    /// <summary>The hash of <paramref name="key"/>: of its prefix plus its trailing number, if it has one.</summary>
    public static int Hash(ReadOnlySpan<char> key)
    {
        var prefix = TrailingNumber(key, out var number);
        return string.GetHashCode(key[..prefix]) + (int)number;
    }

    /// <summary>The hash of the UTF-8 <paramref name="key"/>: of its prefix plus its trailing number, if it has one.</summary>
    public static int Hash(ReadOnlySpan<byte> key)
    {
        var prefix = TrailingNumber(key, out var number);
        var hash = new HashCode();
        hash.AddBytes(key[..prefix]);
        return hash.ToHashCode() + (int)number;
    }

    /// <summary>The length of <paramref name="key"/> before its trailing decimal digits (at most 18 of them), and their value.</summary>
    private static int TrailingNumber<T>(ReadOnlySpan<T> key, out ulong number)
        where T : IBinaryInteger<T>
    {
        var i = key.Length;
        number = 0;
        ulong scale = 1;
        while (i > 0 && key.Length - i < 18)
        {
            var digit = int.CreateTruncating(key[i - 1]) - '0';
            if ((uint)digit > 9)
            {
                break;
            }

            number += (ulong)digit * scale;
            scale *= 10;
            i--;
        }

        return i;
    }
}

/// <summary>Ordinal string equality with <see cref="NumberedKeys"/> hashing: for tables keyed by krefs.</summary>
public sealed class NumberedKeyComparer : IEqualityComparer<string>
{
    /// <summary>The one instance.</summary>
    public static NumberedKeyComparer Instance { get; } = new();

    /// <inheritdoc />
    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    /// <inheritdoc />
    public int GetHashCode(string obj) => NumberedKeys.Hash((obj ?? throw new ArgumentNullException(nameof(obj))).AsSpan());
}
