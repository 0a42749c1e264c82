using System.Diagnostics;
using System.Globalization;

namespace OcapDgc.Benchmarks;

/// <summary>How long each part of the run took, printed as it ends and summed up in the report's notes.</summary>
internal sealed class PhaseTimer
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(string Phase, TimeSpan Took)> _phases = [];
    private TimeSpan _last;

    /// <summary>Ends the phase that began when the previous one ended (or the run started).</summary>
    public void Done(string phase)
    {
        var now = _clock.Elapsed;
        var took = now - _last;
        _phases.Add((phase, took));
        _last = now;
        Console.WriteLine($"[phase] {phase}: {took.TotalSeconds:F1} s (run so far {now.TotalSeconds:F0} s)");
    }

    public string Summary => string.Join(", ", _phases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Phase} {p.Took.TotalSeconds:F0} s")));
}
