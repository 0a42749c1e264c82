using System.Globalization;
using CsCheck;
using OcapDgc.Protocol.Tests.Simulation;

namespace OcapDgc.Protocol.Tests;

/// <summary>
/// The seeded protocol simulation (see <see cref="World"/>): random plans of kernel calls, deliveries,
/// faults, timer ticks, deactivations, restarts, forged frames and misuse over three kernels and a hostile
/// one, checked by the oracle after every step and after quiescence. A failing plan is shrunk by CsCheck
/// and printed with its seed. <c>DGC_SIM_STEPS</c> sets the number of steps (100,000 by default; the
/// long run, scripts/simulate.sh, uses 1,000,000); <c>DGC_SIM_REPORT</c> names a file that gets one
/// summary line, which scripts/test.sh prints.
/// </summary>
public sealed class SimulationTests
{
    private const int PlanLength = 200;

    [Fact]
    public void Random_plans_keep_safety_exactly_once_and_availability_after_every_step_and_release_everything_after_quiescence()
    {
        var target = long.TryParse(Environment.GetEnvironmentVariable("DGC_SIM_STEPS"), CultureInfo.InvariantCulture, out var n) ? n : 100_000;
        // Plans average about PlanLength / 2 steps; a tenth more plans make sure the target is reached.
        var plans = (int)Math.Max(1, target * 11 / 10 / (PlanLength / 2));
        long steps = 0;
        var lateBefore = Plans.LateRefusals;
        var started = DateTime.UtcNow;
        Gen.Select(Plans.Step.Array[1, PlanLength], Gen.Int).Sample(
            t => { Interlocked.Add(ref steps, Plans.Run(t.Item1, t.Item2)); },
            iter: plans,
            threads: 1,
            print: t => $"seed {t.Item2}:{Environment.NewLine}{string.Join(Environment.NewLine, t.Item1.Select((s, i) => $"{i}: {s}"))}");

        var line = string.Create(CultureInfo.InvariantCulture, $"simulation: {steps} steps in {plans} plans of up to {PlanLength}, {(DateTime.UtcNow - started).TotalSeconds:F1} s, no violation; {Plans.LateRefusals - lateBefore} waiting messages refused late");
        if (Environment.GetEnvironmentVariable("DGC_SIM_REPORT") is { Length: > 0 } report)
        {
            File.AppendAllText(report, line + Environment.NewLine);
        }

        Assert.True(steps >= target, $"only {steps} of {target} steps ran");
    }
}
