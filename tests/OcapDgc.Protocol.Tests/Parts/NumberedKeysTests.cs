using System.Text;

namespace OcapDgc.Protocol.Tests.Parts;

/// <summary>Hashes that keep numbered keys' neighbours together, and the kref comparer built on them.</summary>
public sealed class NumberedKeysTests
{
    [Theory]
    [InlineData("ko")]
    [InlineData("alice/ko")]
    [InlineData("remotehandle/alice/bob")]
    public void Consecutive_numbers_after_one_prefix_hash_to_consecutive_values_in_both_encodings(string prefix)
    {
        for (var n = 0L; n < 2_000; n += 37)
        {
            var key = prefix + n;
            var next = prefix + (n + 1);
            Assert.Equal(NumberedKeys.Hash(key) + 1, NumberedKeys.Hash(next));
            Assert.Equal(NumberedKeys.Hash(Encoding.UTF8.GetBytes(key)) + 1, NumberedKeys.Hash(Encoding.UTF8.GetBytes(next)));
        }
    }

    [Fact]
    public void Keys_without_a_number_hash_as_their_text_and_equal_keys_hash_alike()
    {
        Assert.Equal(NumberedKeys.Hash("bob"), NumberedKeys.Hash(new string("bob".ToCharArray())));
        Assert.Equal(string.GetHashCode("bob".AsSpan()), NumberedKeys.Hash("bob"));
        Assert.Equal(NumberedKeys.Hash(""u8), NumberedKeys.Hash(Array.Empty<byte>()));

        // A number too long to add up is hashed in part; equal keys still agree.
        var big = "ko" + new string('9', 40);
        Assert.Equal(NumberedKeys.Hash(big), NumberedKeys.Hash(new string(big.ToCharArray())));
    }

    [Fact]
    public void The_kref_comparer_is_ordinal_even_where_numbers_are_equal()
    {
        var c = NumberedKeyComparer.Instance;
        Assert.True(c.Equals("ko12", "ko12"));
        Assert.False(c.Equals("ko12", "ko012"));
        Assert.Equal(c.GetHashCode("ko12"), c.GetHashCode("ko012"));

        var index = new Dictionary<string, long>(c) { ["ko12"] = 1, ["ko012"] = 2, ["ko13"] = 3 };
        Assert.Equal(3, index.Count);
        Assert.Equal(2, index["ko012"]);
        Assert.Throws<ArgumentNullException>(() => c.GetHashCode(null!));
    }
}
