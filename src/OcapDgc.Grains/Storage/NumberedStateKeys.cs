namespace OcapDgc.Storage;

/// <summary>
/// Keys of stored states, (state name, grain id), spread over <paramref name="stripes"/> stripes (partitions, each
/// with its own table) by <see cref="StripeOf"/>, and hashed within a stripe (<c>GetHashCode</c>),
/// both with <see cref="NumberedKeys"/> on the grain key: the rows of a kernel's consecutively numbered objects
/// (grain keys <c>kernel/ko1</c>, <c>kernel/ko2</c>, ...) go to neighbouring stripes and then to neighbouring slots of
/// each stripe's table, so writing the rows of fresh objects does not touch a random place in a table of millions.
/// The hashes are randomized per process: for tables in one process only.
/// </summary>
public sealed class NumberedStateKeys(int stripes) : IEqualityComparer<(string StateName, GrainId Id)>
{
    private readonly uint _stripes = stripes >= 1 ? (uint)stripes : throw new ArgumentOutOfRangeException(nameof(stripes), "At least one stripe.");

    /// <summary>The stripe of grain <paramref name="id"/>'s states, 0 to stripes - 1.</summary>
    public int StripeOf(GrainId id) => (int)((uint)NumberedKeys.Hash(id.Key.AsSpan()) % _stripes);

    /// <inheritdoc />
    public bool Equals((string StateName, GrainId Id) x, (string StateName, GrainId Id) y) =>
        x.Id.Equals(y.Id) && string.Equals(x.StateName, y.StateName, StringComparison.Ordinal);

    /// <inheritdoc />
    public int GetHashCode((string StateName, GrainId Id) obj)
    {
        ArgumentNullException.ThrowIfNull(obj.StateName);

        // Within a stripe the numbers come every stripes-th: divided, they are consecutive again.
        var key = (int)((uint)NumberedKeys.Hash(obj.Id.Key.AsSpan()) / _stripes);
        return key + ((obj.StateName.GetHashCode(StringComparison.Ordinal) ^ obj.Id.Type.GetHashCode()) * 16777619);
    }
}
