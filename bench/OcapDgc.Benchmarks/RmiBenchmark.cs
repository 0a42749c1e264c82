using System.Diagnostics;
using System.Globalization;

namespace OcapDgc.Benchmarks;

/// <summary>
/// Item 10: Java RMI's distributed GC on loopback, measured like ours by a small Java program
/// (<c>bench/rmi-peer/RmiDgcPeer.java</c>, compiled here with the machine's JDK): a server exports fresh
/// remote objects and returns them in arrays of the message size to a client process (the client's RMI
/// runtime makes the dirty calls), the client drops them all (clean calls after its GC), or is killed
/// (the leases lapse). The server counts <c>Unreferenced.unreferenced()</c>. RMI runs as the JDK
/// configures it, except its lease, which is ours in the matching scenario, and the DGC filter's array
/// limit, raised from 10,000 so that one clean call may name all the refs dropped at once.
/// </summary>
internal static class RmiBenchmark
{
    /// <summary>The longest array the DGC filter lets through (the JDK's built-in limit is 10,000).</summary>
    public const int MaxArray = 10_000_000;

    /// <summary>The JDK's own DGC allow-list and depth limit, with <see cref="MaxArray"/> for the array limit.</summary>
    public static readonly string DgcFilter = $"java.rmi.server.ObjID;java.rmi.server.UID;java.rmi.dgc.VMID;java.rmi.dgc.Lease;maxdepth=5;maxarray={MaxArray}";

    private static readonly string[] Keys =
    [
        "rmi_import_refs_per_s", "rmi_reclaim_refs_per_s", "rmi_crash_reclaim_seconds",
        "export_import_vs_rmi", "reclaim_vs_rmi", "crash_reclaim_vs_rmi",
    ];

    public static async Task RunAsync(BenchOptions options, string repositoryRoot, BenchReport report)
    {
        if (options.SkipRmi)
        {
            Console.WriteLine("[10] RMI comparison skipped: --skip-rmi");
            Fill(report, "n/a (skipped): --skip-rmi");
            return;
        }

        string jdk, classes;
        try
        {
            jdk = await FindJdkAsync(repositoryRoot);
            classes = await CompileAsync(jdk, repositoryRoot);
        }
        catch (RmiFailure e)
        {
            Console.WriteLine($"[10] RMI comparison not run: {e.Message}");
            Fill(report, $"n/a (no JDK): {e.Message}");
            return;
        }

        var n = options.Refs;
        var lease = BenchSilo.DefaultLease;
        try
        {
            Console.WriteLine($"[10] RMI: a client imports {n:N0} refs in calls returning {options.MessageSize}, {Workload.InFlight} in flight, then drops them; lease {lease.TotalSeconds:F0} s (as items 1-3); {options.Repeat} round(s) after {options.Warmups} untimed");
            var r = await RunPeerAsync(jdk, classes, lease, TimeSpan.FromMinutes(30),
                ["drop", "--refs", $"{n}", "--batch", $"{options.MessageSize}", "--in-flight", $"{Workload.InFlight}", "--rounds", $"{options.Repeat}", "--warmups", $"{options.Warmups}"]);
            var importSeconds = r.Get("import_seconds");
            var reclaimSeconds = r.Get("reclaim_seconds");
            var rounds = options.Repeat == 1 ? "one round" : $"median of {options.Repeat} rounds";
            var settings = $"{r.Settings}; {rounds} after {options.Warmups} untimed warm-up round(s)";
            report.Add(new Figure("10", "rmi_import_refs_per_s", $"Java RMI: {n:N0} refs exported, returned in arrays of {options.MessageSize} and imported (dirty calls)", n / importSeconds, "refs/s", Note: settings));
            report.Add(new Figure("10", "rmi_reclaim_refs_per_s", $"Java RMI: the client drops all {n:N0} (clean calls) -> all unreferenced()", n / reclaimSeconds, "refs/s", Note: settings));
            report.Add(new Figure("10", "rmi_reclaim_seconds", $"  Java RMI: time to reclaim all {n:N0}", reclaimSeconds, "s"));
        }
        catch (RmiFailure e)
        {
            Console.WriteLine($"[10] RMI import and drop FAILED: {e.Message}");
            report.FillMissing("10", "rmi_import_refs_per_s", "Java RMI: import", "refs/s", $"n/a (failed): {e.Message}");
            report.FillMissing("10", "rmi_reclaim_refs_per_s", "Java RMI: drop -> unreferenced", "refs/s", $"n/a (failed): {e.Message}");
        }

        var crashRefs = options.CrashRefs;
        var crashLease = CrashReclaimBenchmark.Lease.Duration;
        try
        {
            Console.WriteLine($"[10] RMI: a client imports {crashRefs:N0} refs and is killed; lease {crashLease.TotalSeconds:F0} s (as item 5)");
            var r = await RunPeerAsync(jdk, classes, crashLease, (crashLease * 3) + TimeSpan.FromMinutes(5),
                ["crash", "--refs", $"{crashRefs}", "--batch", $"{options.MessageSize}", "--in-flight", $"{Workload.InFlight}"]);
            var seconds = r.Get("crash_reclaim_seconds");
            var leaseSeconds = r.Get("lease_ms") / 1000;
            var check = r.Get("check_interval_ms") / 1000;
            report.Add(new Figure("10", "rmi_crash_reclaim_seconds", $"Java RMI: client holding {crashRefs:N0} refs killed -> all unreferenced()", seconds, "s", Note: r.Settings));
            report.Add(new Figure("10", "rmi_lease_seconds", "  Java RMI: lease (java.rmi.dgc.leaseValue), as item 5", leaseSeconds, "s"));
            report.Add(new Figure("10", "rmi_lease_check_interval_seconds", "  Java RMI: server lease check interval (sun.rmi.dgc.checkInterval, JDK default lease/2)", check, "s"));
            report.Add(new Figure("10", "rmi_crash_reclaim_vs_lease", "  Java RMI: crash reclaim as a multiple of the lease", seconds / leaseSeconds, "x lease"));
        }
        catch (RmiFailure e)
        {
            Console.WriteLine($"[10] RMI crash FAILED: {e.Message}");
            report.FillMissing("10", "rmi_crash_reclaim_seconds", "Java RMI: client killed -> unreferenced", "s", $"n/a (failed): {e.Message}");
        }

        Ratio(options, report, "export_import_vs_rmi", "ours / RMI: export+import refs/s (higher is better)", "export_import_refs_per_s", "rmi_import_refs_per_s", ">= 2", r => r >= 2);
        Ratio(options, report, "reclaim_vs_rmi", "ours / RMI: bulk drop reclaim refs/s (higher is better)", "reclaim_refs_per_s", "rmi_reclaim_refs_per_s", ">= 10", r => r >= 10);
        Ratio(options, report, "crash_reclaim_vs_rmi", "ours / RMI: crash reclaim seconds, same lease (lower is better)", "crash_reclaim_seconds", "rmi_crash_reclaim_seconds", "< 1", r => r < 1);
    }

    private static void Ratio(BenchOptions options, BenchReport report, string key, string label, string ours, string theirs, string target, Func<double, bool> met)
    {
        if (report[ours] is { } o && report[theirs] is { } t && t > 0)
        {
            report.Add(new Figure("10", key, label, o / t, "ratio", target, met(o / t)));
            return;
        }

        var missing = report[ours] is null ? ours : theirs;
        var why = missing == ours && !options.Runs(missing == "crash_reclaim_seconds" ? "crash" : "core") ? options.NotRunReason : $"n/a (not measured): no {missing}";
        report.FillMissing("10", key, label, "ratio", why);
    }

    private static void Fill(BenchReport report, string reason)
    {
        foreach (var key in Keys)
        {
            report.FillMissing("10", key, key, "", reason);
        }
    }

    /// <summary>A JDK's bin folder: <c>bench/rmi-peer/ensure-jdk.sh</c> finds one, or installs one with apt-get.</summary>
    private static async Task<string> FindJdkAsync(string root)
    {
        var script = Path.Combine(root, "bench", "rmi-peer", "ensure-jdk.sh");
        var (code, output) = await RunAsync("bash", [script], TimeSpan.FromMinutes(10), echo: true);
        var bin = output.LastOrDefault()?.Trim();
        if (code != 0 || string.IsNullOrEmpty(bin) || !File.Exists(Path.Combine(bin, "javac")))
        {
            throw new RmiFailure($"no JDK: {script} exited with {code} (it installs default-jdk-headless with apt-get when javac is missing; set OCAPDGC_JAVA_HOME to use another JDK)");
        }

        return bin;
    }

    /// <summary>Compiles the peer (warnings are errors) into the harness's output folder; returns the class folder.</summary>
    private static async Task<string> CompileAsync(string jdk, string root)
    {
        var source = Path.Combine(root, "bench", "rmi-peer", "RmiDgcPeer.java");
        var classes = Path.Combine(AppContext.BaseDirectory, "rmi-peer");
        Directory.CreateDirectory(classes);
        var (code, output) = await RunAsync(Path.Combine(jdk, "javac"), ["-Xlint:all", "-Werror", "-d", classes, source], TimeSpan.FromMinutes(5), echo: false);
        if (code != 0)
        {
            throw new RmiFailure($"javac failed on {source} (exit {code}): {string.Join(" | ", output.TakeLast(5))}");
        }

        return classes;
    }

    /// <summary>What one run of the peer printed as <c>rmi key value</c> lines.</summary>
    private sealed class PeerResult(Dictionary<string, string> values)
    {
        public double Get(string key) =>
            values.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) && d >= 0
                ? d
                : throw new RmiFailure($"the peer did not report {key}");

        public string Settings => string.Create(CultureInfo.InvariantCulture,
            $"Java {values.GetValueOrDefault("java_version", "?")}; lease {Get("lease_ms") / 1000:F0} s, server lease check every {Get("check_interval_ms") / 1000:F0} s (read from {values.GetValueOrDefault("settings_source", "?")}); DGC filter maxarray {MaxArray:N0} (built-in {values.GetValueOrDefault("builtin_max_array", "?")}); other settings the JDK's defaults");
    }

    private static async Task<PeerResult> RunPeerAsync(string jdk, string classes, TimeSpan lease, TimeSpan timeout, string[] peerArgs)
    {
        string[] jvm =
        [
            $"-Djava.rmi.dgc.leaseValue={(long)lease.TotalMilliseconds}",
            $"-Dsun.rmi.transport.dgcFilter={DgcFilter}",
            "-Djava.rmi.server.hostname=127.0.0.1",
            // Only to read the DGC's effective lease and check interval back (RmiDgcPeer.describeSettings).
            "--add-opens", "java.rmi/sun.rmi.transport=ALL-UNNAMED",
            "-cp", classes, "RmiDgcPeer",
        ];
        var (code, output) = await RunAsync(Path.Combine(jdk, "java"), [.. jvm, .. peerArgs], timeout, echo: true);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output)
        {
            if (line.StartsWith("rmi-error ", StringComparison.Ordinal))
            {
                throw new RmiFailure(line["rmi-error ".Length..]);
            }

            var parts = line.Split(' ');
            if (parts is ["rmi", var key, var value])
            {
                values[key] = value;
            }
        }

        if (code != 0)
        {
            throw new RmiFailure($"the RMI peer exited with {code}: {string.Join(" | ", output.TakeLast(3))}");
        }

        var result = new PeerResult(values);
        if (Math.Abs(result.Get("lease_ms") - lease.TotalMilliseconds) > 0.5)
        {
            throw new RmiFailure($"RMI's lease is {result.Get("lease_ms")} ms, not the {lease.TotalMilliseconds} ms asked for");
        }

        return result;
    }

    /// <summary>Runs a process to its end (killed after <paramref name="timeout"/>); returns its exit code and its output lines (stdout and stderr).</summary>
    private static async Task<(int Code, List<string> Output)> RunAsync(string file, string[] args, TimeSpan timeout, bool echo)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var output = new List<string>();
        void OnLine(string? line, bool error)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.Add(line);
            }

            if (echo && (error || !line.StartsWith("rmi ", StringComparison.Ordinal)))
            {
                Console.WriteLine($"      {line}");
            }
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new RmiFailure($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RmiFailure($"could not start {file}: {e.Message}");
        }

        using (process)
        {
            process.OutputDataReceived += (_, e) => OnLine(e.Data, false);
            process.ErrorDataReceived += (_, e) => OnLine(e.Data, true);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new RmiFailure($"{Path.GetFileName(file)} {string.Join(' ', args.TakeLast(8))} did not finish within {timeout.TotalSeconds:F0} s; killed");
            }

            process.WaitForExit(); // the asynchronous readers have delivered every line
            lock (output)
            {
                return (process.ExitCode, [.. output]);
            }
        }
    }

    private sealed class RmiFailure(string message) : Exception(message);
}
