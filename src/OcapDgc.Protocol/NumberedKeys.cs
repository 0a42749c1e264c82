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
        var i = key.Length;
        ulong number = 0;
        ulong scale = 1;
        while (i > 0 && key[i - 1] is >= '0' and <= '9' && key.Length - i < 18)
        {
            number += (ulong)(key[i - 1] - '0') * scale;
            scale *= 10;
            i--;
        }

        return string.GetHashCode(key[..i]) + (int)number;
    }

    /// <summary>The hash of the UTF-8 <paramref name="key"/>: of its prefix plus its trailing number, if it has one.</summary>
    public static int Hash(ReadOnlySpan<byte> key)
    {
        var i = key.Length;
        ulong number = 0;
        ulong scale = 1;
        while (i > 0 && key[i - 1] is >= (byte)'0' and <= (byte)'9' && key.Length - i < 18)
        {
            number += (ulong)(key[i - 1] - '0') * scale;
            scale *= 10;
            i--;
        }

        var prefix = new HashCode();
        prefix.AddBytes(key[..i]);
        return prefix.ToHashCode() + (int)number;
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
