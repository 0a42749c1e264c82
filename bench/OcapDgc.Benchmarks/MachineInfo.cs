using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace OcapDgc.Benchmarks;

/// <summary>What the figures were measured on, so that runs can be compared honestly.</summary>
internal static class MachineInfo
{
    public static void Describe(BenchReport report, BenchOptions options, string repositoryRoot)
    {
        var m = report.Machine;
        m["date (UTC)"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        m["cores"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
        m["cpu"] = CpuModel() ?? "unknown";
        m["memory"] = $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB";
        m["os"] = RuntimeInformation.OSDescription;
        m[".NET"] = RuntimeInformation.FrameworkDescription;
        m["gc"] = (GCSettings.IsServerGC ? "server" : "workstation") + (GCSettings.LatencyMode == GCLatencyMode.Batch ? "" : ", concurrent");
#if DEBUG
        m["build"] = "Debug (figures not representative: use -c Release)";
#else
        m["build"] = "Release";
#endif
        m["run"] = (options.Quick ? "--quick (small sizes: a smoke run)" : "full")
            + (options.Only.Count > 0 ? $", only {string.Join(',', options.Only.Order(StringComparer.Ordinal))}" : "");
        m["commit"] = GitCommit(repositoryRoot) ?? "unknown";
        m["load average at start"] = LoadAverage() ?? "unknown";
    }

    public static void Finish(BenchReport report, TimeSpan total)
    {
        report.Machine["load average at end"] = LoadAverage() ?? "unknown";
        report.Machine["run time"] = $"{total.TotalSeconds:F0} s";
    }

    private static string? CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? GitCommit(string root)
    {
        try
        {
            var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
            foreach (var a in new[] { "describe", "--always", "--dirty", "--abbrev=10" })
            {
                start.ArgumentList.Add(a);
            }

            using var p = Process.Start(start);
            if (p is null)
            {
                return null;
            }

            var output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
