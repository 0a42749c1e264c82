using System.Globalization;
using OcapDgc.Testing;
using OcapDgc.Wire;

// Fuzzes WireCodec.Decode: every input must decode or throw FormatException, within the time and
// allocation limits of WireFuzzRunner. Prints each failure (seed, index, input) and a summary line;
// exits 1 on any failure, 2 on bad arguments.
const string Usage = "usage: OcapDgc.Fuzz [--count N] [--seed S] [--start I] [--max-printed K] [--show]\n" +
    "  --count N        inputs to run (default 100000)\n" +
    "  --seed S         seed, 0 to 2^64-1 (default 1); input I of seed S is always the same text\n" +
    "  --start I        first input index (default 0): --start I --count 1 replays one input\n" +
    "  --max-printed K  print at most K failures in full (default 20); all are counted\n" +
    "  --show           print each input (escaped) and how it decoded, without checking it";

long count = 100_000, start = 0, maxPrinted = 20;
ulong seed = 1;
var show = false;
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    var good = args[i] switch
    {
        "--count" => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out count),
        "--seed" => ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out seed),
        "--start" => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out start),
        "--max-printed" => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out maxPrinted),
        "--show" => show = true,
        _ => false,
    };
    if (!good)
    {
        Console.Error.WriteLine(args[i] is "-h" or "--help" ? Usage : $"fuzz: bad argument '{args[i]}' {value}\n{Usage}");
        return args[i] is "-h" or "--help" ? 0 : 2;
    }

    i += args[i] == "--show" ? 0 : 1;
}

if (show)
{
    for (var index = start; index < start + count; index++)
    {
        var fuzzCase = WireFuzz.Generate(seed, index);
        string outcome;
        try
        {
            outcome = "decodes to " + WireCodec.Decode(fuzzCase.Input);
        }
        catch (FormatException e)
        {
            outcome = "FormatException: " + e.Message;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{index} {fuzzCase.Kind}: \"{WireFuzz.Escape(fuzzCase.Input)}\"\n  {outcome}"));
    }

    return 0;
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fuzz: seed={seed} start={start} count={count}"));
var printed = 0L;
var summary = WireFuzzRunner.Run(seed, start, count, failure =>
{
    if (printed++ < maxPrinted)
    {
        Console.WriteLine(failure);
    }
});
Console.WriteLine(summary);
return summary.Failures == 0 ? 0 : 1;
