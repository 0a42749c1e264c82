using OcapDgc.Testing;
using Xunit.Abstractions;

namespace OcapDgc.Tests.Core;

/// <summary>
/// The wire decoder's fuzzer (tests/Shared/WireFuzz.cs), run in-process on a fixed seed so CI replays
/// the same inputs; scripts/fuzz.sh runs the same generator for a million inputs or any other seed.
/// </summary>
public sealed class WireFuzzTests(ITestOutputHelper output)
{
    private const ulong Seed = 20_250_601;
    private const long Inputs = 100_000;

    [Fact]
    public void The_decoder_decodes_or_refuses_every_fuzzed_frame_quickly_and_within_its_allocation_budget()
    {
        var failures = new List<FuzzFailure>();
        var summary = WireFuzzRunner.Run(Seed, 0, Inputs, failures.Add);
        output.WriteLine(summary.ToString());

        Assert.True(
            failures.Count == 0,
            $"{summary}\n{string.Join('\n', failures.Take(5))}\nreplay one with: scripts/fuzz.sh 1 {Seed} -- --start INDEX");
        Assert.Equal(Inputs, summary.Ok + summary.FormatErrors);
        Assert.True(summary.Ok > Inputs / 20, $"too few inputs decoded to exercise the valid paths: {summary}");
        Assert.True(summary.FormatErrors > Inputs / 2, $"too few inputs were refused to exercise the error paths: {summary}");
    }

    [Fact]
    public void A_fuzz_input_depends_only_on_the_seed_and_its_index()
    {
        for (var index = 0; index < 200; index++)
        {
            Assert.Equal(WireFuzz.Generate(Seed, index), WireFuzz.Generate(Seed, index));
        }

        Assert.NotEqual(WireFuzz.Generate(Seed, 0).Input, WireFuzz.Generate(Seed + 1, 0).Input);
    }
}
