using System.Globalization;

namespace OcapDgc.Wire;

/// <summary>
/// A reference as it appears on the wire between two kernels: <c>ro+N</c> or <c>ro-N</c>.
/// The sign is always read from the receiver's side: <c>+</c> names an object the sender exported,
/// <c>-</c> one the receiver exported. This holds for every message, GC messages included.
/// </summary>
/// <param name="SenderExport">True for <c>+</c>: the object belongs to the kernel that sent the message.</param>
/// <param name="Id">The number the exporting kernel allocated for this object in this pair's c-list.</param>
[GenerateSerializer, Immutable, Alias("ocap-dgc.WireRef")]
public readonly record struct WireRef([property: Id(0)] bool SenderExport, [property: Id(1)] long Id)
{
    /// <summary>The most characters a ref takes as text (<c>ro+</c> and a long).</summary>
    public const int MaxLength = 23;

    /// <summary>The ref as the receiver reads it.</summary>
    public override string ToString()
    {
        Span<char> text = stackalloc char[MaxLength];
        TryFormat(text, out var written);
        return new string(text[..written]);
    }

    /// <summary>Writes the ref as text (<see cref="ToString"/>) into <paramref name="destination"/>, without allocating; false if it does not fit (<see cref="MaxLength"/> always does).</summary>
    public bool TryFormat(Span<char> destination, out int written)
    {
        written = 0;
        if (destination.Length < 4 || !Id.TryFormat(destination[3..], out var digits, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        destination[0] = 'r';
        destination[1] = 'o';
        destination[2] = SenderExport ? '+' : '-';
        written = 3 + digits;
        return true;
    }

    /// <summary>A ref to an object the sending kernel exported (<c>ro+N</c>).</summary>
    public static WireRef ToSenderExport(long id) => new(true, id);

    /// <summary>A ref to an object the receiving kernel exported (<c>ro-N</c>).</summary>
    public static WireRef ToReceiverExport(long id) => new(false, id);

    /// <summary>Parses <c>ro+N</c> / <c>ro-N</c> with N ≥ 1.</summary>
    public static bool TryParse(string? text, out WireRef value)
    {
        value = default;
        if (text is not { Length: > 3 } || !text.StartsWith("ro", StringComparison.Ordinal) || text[2] is not ('+' or '-'))
        {
            return false;
        }

        var digits = text.AsSpan(3);
        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 1)
        {
            return false;
        }

        value = new WireRef(text[2] == '+', id);
        return true;
    }

    /// <summary>Parses a wire ref or throws <see cref="FormatException"/> with the offending text.</summary>
    public static WireRef Parse(string? text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a wire ref; expected ro+N or ro-N with N >= 1.");
}
