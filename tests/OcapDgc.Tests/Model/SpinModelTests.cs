using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Model;

/// <summary>
/// The Promela model of the pair protocol (docs/model/dgc.pml), checked exhaustively by spin through
/// scripts/spin-check.sh: the correct model has no premature release (S1), no wire id naming two objects
/// (S2), no refused operation (V), and releases every hold once the workload stops (L3, and L3 without any
/// lease expiry); every
/// deliberately broken variant is caught. The script runs once for the class (about 40 s of CPU).
/// </summary>
public sealed class SpinModelTests(SpinModelRun run) : IClassFixture<SpinModelRun>
{
    [Fact]
    public void Spin_check_script_ends_with_every_check_as_expected()
    {
        Assert.True(run.ExitCode == 0, $"spin-check.sh exited with {run.ExitCode}:\n{run.Output}");
        Assert.Contains("all as expected", run.Output, StringComparison.Ordinal);
        Assert.Equal(SpinModelRun.ExpectedChecks.Order(StringComparer.Ordinal), run.Checks.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void No_premature_release_nor_ambiguous_wire_id_when_timers_fire_at_any_moment() =>
        AssertVerified("safety");

    [Fact]
    public void No_premature_release_nor_ambiguous_wire_id_when_the_wire_loses_and_duplicates_frames() =>
        AssertVerified("safety_faults");

    [Fact]
    public void Every_hold_is_eventually_released_once_the_workload_stops() =>
        AssertVerified("reclaim");

    [Fact]
    public void Drop_retire_and_retransmission_release_every_hold_without_any_lease_expiry() =>
        AssertVerified("reclaim_by_gc_alone");

    [Theory]
    [InlineData("broken_epoch")]
    [InlineData("broken_dedup")]
    [InlineData("broken_purge")]
    [InlineData("broken_retire")]
    public void Spin_finds_a_premature_release_in_a_broken_variant(string variant) =>
        AssertCaught(variant, "s1", "!(s1_premature_release)");

    [Fact]
    public void Spin_finds_a_wire_id_naming_two_objects_when_refs_of_an_ended_epoch_are_imported() =>
        AssertCaught("broken_stale", "s2", "!(s2_one_id_two_objects)");

    [Fact]
    public void Spin_finds_a_hold_never_released_when_lost_batches_are_not_resent() =>
        AssertCaught("broken_resend", "cycle", "acceptance cycle");

    [Fact]
    public void Without_leases_the_count_of_a_lost_message_is_never_released() =>
        AssertCaught("reclaim_without_leases", "cycle", "acceptance cycle");

    private void AssertVerified(string name)
    {
        var check = run.Get(name);
        Assert.True(check.AsExpected, $"{name}: {check.Line}\n{run.Output}");
        Assert.Equal("pass", check.Got);
        Assert.Equal(0, check.Errors);
        Assert.True(check.Depth > 0, check.Line);
        Assert.True(check.States > 1000, $"{name} explored only {check.States} states: {check.Line}");
    }

    private void AssertCaught(string name, string expected, string evidence)
    {
        var check = run.Get(name);
        Assert.True(check.AsExpected, $"{name}: {check.Line}\n{run.Output}");
        Assert.Equal(expected, check.Got);
        Assert.True(check.Errors >= 1, check.Line);
        Assert.Contains(evidence, run.Section(name), StringComparison.Ordinal);
    }
}

/// <summary>One line of spin-check.sh's report.</summary>
public sealed record SpinCheck(string Name, bool AsExpected, string Expected, string Got, long Errors, long Depth, double States, string Line);

/// <summary>Runs scripts/spin-check.sh once (with --trails, so counterexamples are in the output) and parses its report.</summary>
public sealed partial class SpinModelRun : IAsyncLifetime
{
    /// <summary>Every check the script runs by default.</summary>
    public static readonly string[] ExpectedChecks =
    [
        "safety", "safety_faults", "reclaim", "reclaim_by_gc_alone",
        "broken_epoch", "broken_dedup", "broken_purge", "broken_retire", "broken_stale",
        "broken_resend", "reclaim_without_leases",
    ];

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    public string Output { get; private set; } = "";

    public int ExitCode { get; private set; } = -1;

    public IReadOnlyDictionary<string, SpinCheck> Checks { get; private set; } = new Dictionary<string, SpinCheck>();

    public async Task InitializeAsync()
    {
        // scripts/test.sh installs spin; a missing spin is a failure here, never a skip.
        foreach (var tool in new[] { "spin", "gcc" })
        {
            if (FindOnPath(tool) is null)
            {
                throw new InvalidOperationException(
                    $"'{tool}' is not on PATH, so the Promela model cannot be checked. Install it with `apt-get install -y {tool}` "
                    + "(scripts/test.sh and scripts/spin-check.sh install spin when it is missing).");
            }
        }

        var root = PostgresServer.FindRepositoryRoot();

        // Niced: the other test classes run meanwhile, some with real timers, and spin keeps one core busy.
        var start = new ProcessStartInfo("nice")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var argument in new[] { "-n", "10", "bash", Path.Combine(root, "scripts", "spin-check.sh"), "--trails" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start scripts/spin-check.sh.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/spin-check.sh did not finish within {Patience}.");
        }

        Output = await stdout + await stderr;
        ExitCode = process.ExitCode;
        var checks = new Dictionary<string, SpinCheck>(StringComparer.Ordinal);
        foreach (Match m in ReportLine().Matches(Output))
        {
            var name = m.Groups["name"].Value;
            checks[name] = new SpinCheck(
                name,
                m.Groups["status"].Value == "OK",
                m.Groups["expect"].Value,
                m.Groups["got"].Value,
                long.Parse(m.Groups["errors"].Value, CultureInfo.InvariantCulture),
                long.Parse(m.Groups["depth"].Value, CultureInfo.InvariantCulture),
                double.Parse(m.Groups["states"].Value, NumberStyles.Float, CultureInfo.InvariantCulture),
                m.Value.TrimEnd());
        }

        Checks = checks;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public SpinCheck Get(string name) =>
        Checks.TryGetValue(name, out var check)
            ? check
            : throw new InvalidOperationException($"spin-check.sh reported no check '{name}' (exit code {ExitCode}):\n{Output}");

    /// <summary>The script's output for one check, from its "# name:" heading to the next: the report line, spin's
    /// first error ("pan:1: assertion violated ..." or "pan:1: acceptance cycle ...") and the narrated trail.</summary>
    public string Section(string name)
    {
        var start = Output.IndexOf($"# {name}:", StringComparison.Ordinal);
        if (start < 0)
        {
            return "";
        }

        var end = Output.IndexOf("\n# ", start + 1, StringComparison.Ordinal);
        return end < 0 ? Output[start..] : Output[start..end];
    }

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    [GeneratedRegex(@"^(?<name>\S+)\s+(?<status>OK|UNEXPECTED)\s+expect=(?<expect>\S+)\s+got=(?<got>\S+)\s+errors=(?<errors>\d+)\s+depth=(?<depth>\d+)\s+states=(?<states>[0-9.e+]+)\s+time=\S+.*$", RegexOptions.Multiline)]
    private static partial Regex ReportLine();
}
