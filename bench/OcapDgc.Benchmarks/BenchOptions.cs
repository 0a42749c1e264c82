using System.Globalization;

namespace OcapDgc.Benchmarks;

/// <summary>The harness's command line. Every size has a full and a <c>--quick</c> default.</summary>
internal sealed class BenchOptions
{
    public bool Quick { get; private set; }

    public bool SkipPostgres { get; private set; }

    /// <summary>Runs item 8 alone (for work on the PostgreSQL figures).</summary>
    public bool PostgresOnly { get; private set; }

    /// <summary>References exchanged (item 1) and then dropped in bulk (items 2, 3).</summary>
    public int Refs { get; private set; }

    /// <summary>References the idle scenario (item 4) and bytes per live ref (item 6) hold, spread over <see cref="IdleRemotes"/> remotes.</summary>
    public int IdleRefs { get; private set; }

    /// <summary>The small idle scenario, to show idle traffic does not grow with the number of refs.</summary>
    public int IdleRefsSmall { get; private set; } = 1_000;

    public int IdleRemotes { get; private set; } = 10;

    /// <summary>How long each idle scenario is watched.</summary>
    public TimeSpan IdleWindow { get; private set; }

    /// <summary>References churned (exported, imported, dropped, retired) for the memory check (item 6).</summary>
    public int ChurnRefs { get; private set; }

    /// <summary>References per churn round.</summary>
    public int ChurnRound { get; private set; }

    /// <summary>References of the bulk drop on PostgreSQL (item 8).</summary>
    public int PostgresRefs { get; private set; }

    /// <summary>How long the Orleans ceiling is measured (after an equal warm-up).</summary>
    public TimeSpan CeilingWindow { get; private set; }

    /// <summary>Runs of items 1-3; each figure is the median of the runs (the machine is shared and noisy).</summary>
    public int Repeat { get; private set; }

    /// <summary>Untimed rounds of items 1-3, and of the Java RMI peer's import and drop, before the timed ones (the JITs of both finish compiling).</summary>
    public int Warmups { get; private set; }

    /// <summary>References per application message (per SendAsync call).</summary>
    public int MessageSize { get; private set; } = 500;

    /// <summary>Where latest.json and latest.md go; default docs/benchmarks under the repository root.</summary>
    public string? OutputDirectory { get; private set; }

    /// <summary>Fresh grains activated for the activation ceiling (item 7).</summary>
    public int Activations { get; private set; }

    /// <summary>Live refs one pair holds while its send latency is measured, ascending (item 9).</summary>
    public IReadOnlyList<int> SendRefs { get; private set; } = [];

    /// <summary>Sends timed at each size of <see cref="SendRefs"/>; the median is reported.</summary>
    public int SendSamples { get; private set; }

    /// <summary>Do not run the Java RMI comparison (item 10).</summary>
    public bool SkipRmi { get; private set; }

    /// <summary>The parts to run; empty means all of them (<c>--only</c>).</summary>
    public IReadOnlySet<string> Only { get; private set; } = new HashSet<string>();

    /// <summary>The refs the importer holds when it crashes (item 5, and RMI's crash in item 10).</summary>
    public int CrashRefs => Math.Min(Refs, 10_000);

    /// <summary>The parts <c>--only</c> knows: core (items 1-4, 6, 7), crash (5), cycles, send (9), rmi (10), postgres (8).</summary>
    public static IReadOnlyList<string> Parts { get; } = ["core", "crash", "cycles", "send", "rmi", "postgres"];

    /// <summary>Whether <paramref name="part"/> (one of <see cref="Parts"/>) runs.</summary>
    public bool Runs(string part) => Only.Count == 0 || Only.Contains(part);

    /// <summary>Why a figure of a part that did not run is missing.</summary>
    public string NotRunReason => $"n/a (not run): --only {string.Join(',', Only.Order(StringComparer.Ordinal))}";

    public static string Usage => """
        usage: dotnet run -c Release --project bench/OcapDgc.Benchmarks [-- options]
          --quick             small sizes, a smoke run of under a minute
          --skip-postgres     do not start PostgreSQL (item 8 is reported as null)
          --postgres-only     run item 8 alone (the other figures are reported as null)
          --refs N            refs exchanged and bulk-dropped (default 100000; quick 10000)
          --idle-refs N       live refs in the idle and memory scenarios (default 100000; quick 10000)
          --idle-seconds S    how long each idle scenario is watched (default 30; quick 10)
          --repeat N          runs of items 1-3, the median is reported (default 3; quick 1)
          --warmups N         untimed rounds of items 1-3 and of the RMI peer before the timed ones (default 2; quick 1)
          --churn N           refs churned for the memory check (default 1000000; quick 50000)
          --pg-refs N         refs of the bulk drop on PostgreSQL (default 100000; quick 5000)
          --activations N     fresh grains activated for the activation ceiling (default 100000; quick 20000)
          --send-refs A,B,..  live refs in the pair whose send latency is measured (default 1000,100000,1000000;
                              quick 1000,10000)
          --send-samples N    sends timed at each size, the median is reported (default 100; --quick 20)
          --skip-rmi          do not run the Java RMI comparison (item 10 is reported as null)
          --only P,P..        run only these parts: core (items 1-4, 6, 7), crash (5), cycles (cycle detection), send (9), rmi (10),
                              postgres (8); figures of the others are null
          --out DIR           where latest.json and latest.md are written (default docs/benchmarks)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions { Quick = args.Contains("--quick") };
        o.Refs = o.Quick ? 10_000 : 100_000;
        o.IdleRefs = o.Quick ? 10_000 : 100_000;
        // One default lease ping interval (30 s): every remote pings about once in the window.
        o.IdleWindow = TimeSpan.FromSeconds(o.Quick ? 10 : 30);
        o.ChurnRefs = o.Quick ? 50_000 : 1_000_000;
        o.ChurnRound = 10_000;
        // The same 100k as item 2: a handle's write stores what changed (its journal), not its whole c-list.
        o.PostgresRefs = o.Quick ? 5_000 : 100_000;
        o.CeilingWindow = TimeSpan.FromSeconds(o.Quick ? 1 : 3);
        o.Repeat = o.Quick ? 1 : 3;
        o.Warmups = o.Quick ? 1 : 2;
        o.SendSamples = o.Quick ? 20 : 100;
        o.Activations = o.Quick ? 20_000 : 100_000;
        o.SendRefs = o.Quick ? [1_000, 10_000] : [1_000, 100_000, 1_000_000];
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    break;
                case "--skip-postgres":
                    o.SkipPostgres = true;
                    break;
                case "--postgres-only":
                    o.PostgresOnly = true;
                    o.Only = new HashSet<string>(["postgres"], StringComparer.Ordinal);
                    break;
                case "--only":
                    o.Only = ParseParts(args, ++i);
                    o.PostgresOnly = o.Only.SetEquals(["postgres"]);
                    break;
                case "--activations":
                    o.Activations = Int(args, ++i, 1_000);
                    break;
                case "--send-refs":
                    o.SendRefs = IntList(args, ++i, 1);
                    break;
                case "--send-samples":
                    o.SendSamples = Int(args, ++i, 1);
                    break;
                case "--skip-rmi":
                    o.SkipRmi = true;
                    break;
                case "--refs":
                    o.Refs = Int(args, ++i, 1_000);
                    break;
                case "--idle-refs":
                    o.IdleRefs = Int(args, ++i, o.IdleRemotes * 10);
                    break;
                case "--idle-seconds":
                    o.IdleWindow = TimeSpan.FromSeconds(Int(args, ++i, 1));
                    break;
                case "--repeat":
                    o.Repeat = Int(args, ++i, 1);
                    break;
                case "--warmups":
                    o.Warmups = Int(args, ++i, 1);
                    break;
                case "--churn":
                    o.ChurnRefs = Int(args, ++i, 1_000);
                    break;
                case "--pg-refs":
                    o.PostgresRefs = Int(args, ++i, 100);
                    break;
                case "--out":
                    o.OutputDirectory = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--out needs a folder.");
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{args[i]}'.{Environment.NewLine}{Usage}");
            }
        }

        o.ChurnRound = Math.Min(o.ChurnRound, o.ChurnRefs);
        return o;
    }

    private static HashSet<string> ParseParts(string[] args, int i)
    {
        var parts = i < args.Length ? args[i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        var unknown = parts.Where(p => !Parts.Contains(p)).ToList();
        if (parts.Length == 0 || unknown.Count > 0)
        {
            throw new ArgumentException($"--only needs a comma-separated list of {string.Join(", ", Parts)}{(unknown.Count > 0 ? $"; unknown: {string.Join(", ", unknown)}" : "")}.");
        }

        return new HashSet<string>(parts, StringComparer.Ordinal);
    }

    private static int[] IntList(string[] args, int i, int min)
    {
        var values = i < args.Length ? args[i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        var parsed = new List<int>();
        foreach (var v in values)
        {
            if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
            {
                throw new ArgumentException($"{args[i - 1]} needs comma-separated whole numbers >= {min} (got '{v}').");
            }

            parsed.Add(n);
        }

        if (parsed.Count == 0)
        {
            throw new ArgumentException($"{args[i - 1]} needs at least one number.");
        }

        return [.. parsed.Distinct().Order()];
    }

    private static int Int(string[] args, int i, int min)
    {
        if (i >= args.Length || !int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
        {
            throw new ArgumentException($"{args[i - 1]} needs a whole number >= {min}.");
        }

        return n;
    }
}
