using CsCheck;

namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>One step of a plan. Its numbers pick among what exists when it runs, so every plan is valid and shrinks well.</summary>
public abstract record Step
{
    public abstract void Apply(World w, Random r);

    protected static string Pick(string[] names, int i) => names[Math.Abs(i) % names.Length];

    protected static T? PickOf<T>(IReadOnlyList<T> items, Random r) => items.Count == 0 ? default : items[r.Next(items.Count)];
}

/// <summary>A kernel sends a message: new objects, objects it sent before, imports from the receiver (send-backs) or from others (proxied).</summary>
public sealed record SendStep(int From, int To, int Refs, bool Carried) : Step
{
    public override void Apply(World w, Random r)
    {
        var (from, to) = (Pick(w.Names, From), Pick(w.Names, To));
        if (from == to)
        {
            return;
        }

        var have = w.Sendable(from);
        var krefs = Enumerable.Range(0, 1 + Math.Abs(Refs) % 3)
            .Select(_ => have.Count == 0 || r.Next(3) == 0 ? w[from].NewObject() : have[r.Next(have.Count)])
            .ToArray();
        _ = Carried ? w.Carry(from, to, krefs) : w.Send(from, to, krefs);
    }
}

/// <summary>A kernel lets go of some of what it uses; its local GC drops imports and frees objects.</summary>
public sealed record ReleaseStep(int Kernel, int Count) : Step
{
    public override void Apply(World w, Random r)
    {
        var k = w[Pick(w.Names, Kernel)];
        var used = k.Own.Where(o => o.Value.Rooted).Select(o => o.Key).Concat(k.Imports.Where(i => i.Value.InUse).Select(i => i.Key)).Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < 1 + Math.Abs(Count) % 3 && used.Count > 0; i++)
        {
            var kref = used[r.Next(used.Count)];
            used.Remove(kref);
            w.Release(k.Id, kref);
        }
    }
}

/// <summary>A kernel retires some dropped or revoked imports.</summary>
public sealed record RetireStep(int Kernel) : Step
{
    public override void Apply(World w, Random r)
    {
        var k = w[Pick(w.Names, Kernel)];
        w.Retire(k.Id, [.. k.Imports.Where(i => (i.Value.Dropped || i.Value.Revoked) && r.Next(2) == 0).Select(i => i.Key).Order(StringComparer.Ordinal)]);
    }
}

/// <summary>An owner deletes an object no remote reaches that some remote may still recognize.</summary>
public sealed record DeleteStep(int Kernel) : Step
{
    public override void Apply(World w, Random r)
    {
        var k = w[Pick(w.Names, Kernel)];
        var kref = PickOf(k.Own.Where(o => !o.Value.Rooted && !o.Value.RemotelyReachable && o.Value.RemotelyRecognized).Select(o => o.Key).Order(StringComparer.Ordinal).ToList(), r);
        if (kref is not null)
        {
            w.Delete(k.Id, kref);
        }
    }
}

/// <summary>Frames arrive: mostly the oldest first, sometimes one from further back (reordering).</summary>
public sealed record DeliverStep(int Count) : Step
{
    public override void Apply(World w, Random r)
    {
        for (var i = 0; i < 1 + Math.Abs(Count) % 6 && w.Net.Frames.Count > 0; i++)
        {
            w.Deliver(r.Next(4) == 0 ? r.Next(w.Net.Frames.Count) : 0);
        }
    }
}

/// <summary>The network loses or duplicates a frame in flight.</summary>
public sealed record FaultStep(bool Duplicate) : Step
{
    public override void Apply(World w, Random r)
    {
        if (w.Net.Frames.Count == 0)
        {
            return;
        }

        var i = r.Next(w.Net.Frames.Count);
        if (Duplicate)
        {
            w.Duplicate(i);
        }
        else
        {
            w.Lose(i);
        }
    }
}

/// <summary>A partition between two kernels starts or ends.</summary>
public sealed record PartitionStep(int A, int B, bool Heal) : Step
{
    public override void Apply(World w, Random r)
    {
        var (a, b) = (Pick(w.Names, A), Pick(w.Names, B));
        if (Heal)
        {
            w.Net.Heal(a, b);
        }
        else if (a != b)
        {
            w.Net.Cut(a, b);
        }
    }
}

/// <summary>Time passes, then timers fire (and, sometimes, the lease reminders).</summary>
public sealed record TickStep(int Seconds, bool CheckLeases) : Step
{
    public override void Apply(World w, Random r)
    {
        w.Advance(TimeSpan.FromSeconds(Math.Abs(Seconds) % 90));
        w.Tick(CheckLeases);
    }
}

/// <summary>A kernel brings out its dead.</summary>
public sealed record BoydStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w.Boyd(Pick(w.Names, Kernel));
}

/// <summary>A pair's grain is deactivated (gracefully, or lost with its silo) and comes back from storage on its next call.</summary>
public sealed record DeactivateStep(int Kernel, int Remote, bool Graceful) : Step
{
    public override void Apply(World w, Random r)
    {
        var (k, remote) = (Pick(w.Names, Kernel), Pick(w.Names, Remote));
        if (k != remote)
        {
            w.Deactivate(k, remote, Graceful);
        }
    }
}

/// <summary>A kernel restarts without its memory.</summary>
public sealed record RestartStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w.Restart(Pick(w.Names, Kernel));
}

/// <summary>Mallory sends a frame of its own making, in its own name.</summary>
public sealed record ForgeStep(int Target) : Step
{
    public override void Apply(World w, Random r)
    {
        var target = Pick(w.Names, Target);
        if (target != World.Mallory && w.Kernels.ContainsKey(World.Mallory))
        {
            w.Forge(target, r);
        }
    }
}

/// <summary>The silo of a kernel's pairs will crash at one of their next writes that record a batch's application (after the export ledgers changed).</summary>
public sealed record CrashStep(int Kernel, int AtWrite) : Step
{
    public override void Apply(World w, Random r) => w[Pick(w.Names, Kernel)].CrashAtWrite = 1 + (Math.Abs(AtWrite) % 2);
}

/// <summary>The next pair of a kernel that clears its row dies around it: just before its manager hears what it knew of the remote (kept on the row until then), or just after the row went.</summary>
public sealed record CrashAroundClearStep(int Kernel, bool BeforeRemember) : Step
{
    public override void Apply(World w, Random r)
    {
        var k = w[Pick(w.Names, Kernel)];
        if (BeforeRemember)
        {
            k.CrashBeforeRemember = true;
        }
        else
        {
            k.CrashAfterClear = true;
        }
    }
}

/// <summary>A kernel's next effect callbacks fail; the DGC must deliver them again, and the kernel hear each once.</summary>
public sealed record FailCallbacksStep(int Kernel, int Count) : Step
{
    public override void Apply(World w, Random r) => w[Pick(w.Names, Kernel)].FailCallbacks = 1 + (Math.Abs(Count) % 3);
}

/// <summary>The next export owner's call of a batch's application at a kernel fails, before or after taking effect.</summary>
public sealed record FailApplyStep(int Kernel, bool Executed) : Step
{
    public override void Apply(World w, Random r) => w[Pick(w.Names, Kernel)].FailApply = (true, Executed);
}

/// <summary>The next new epoch a pair of a kernel draws while taking a frame or checking a lease fails (a session end stops part way).</summary>
public sealed record FailEpochDrawStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w[Pick(w.Names, Kernel)].FailEpochDraw = true;
}

/// <summary>The next session end at a kernel, while taking a frame or checking a lease, fails after one export's owner let the remote go.</summary>
public sealed record FailExpiryStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w[Pick(w.Names, Kernel)].FailExpiry = true;
}

/// <summary>A kernel calls the API wrongly.</summary>
public sealed record MisuseStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w.Misuse(Pick(w.Names, Kernel), r);
}

/// <summary>Kernels build a cycle of objects across two or three of them (each object rooted until a release).</summary>
public sealed record CycleStep(int A, int B, int C) : Step
{
    public override void Apply(World w, Random r)
    {
        var names = new[] { Pick(w.Names, A), Pick(w.Names, B), Pick(w.Names, C) }.Distinct().ToArray();
        if (names.Length >= 2 && !names.Contains(World.Mallory))
        {
            w.BuildCycle(names);
        }
    }
}

/// <summary>A kernel's object takes a reference to something else the kernel uses (its local graph grows).</summary>
public sealed record LinkStep(int Kernel) : Step
{
    public override void Apply(World w, Random r)
    {
        var k = w[Pick(w.Names, Kernel)];
        var objects = k.Own.Where(o => !o.Value.Freed && o.Value.Rooted).Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        var targets = w.Sendable(k.Id);
        if (objects.Count > 0 && targets.Count > 0)
        {
            w.Link(k.Id, objects[r.Next(objects.Count)], targets[r.Next(targets.Count)]);
        }
    }
}

/// <summary>A kernel's cycle collector traces the imports its local GC says no root reaches.</summary>
public sealed record TraceStep(int Kernel) : Step
{
    public override void Apply(World w, Random r) => w.StartTraces(Pick(w.Names, Kernel));
}

/// <summary>Generates plans.</summary>
public static class Plans
{
    private static readonly Gen<int> K = Gen.Int[0, 3];

    /// <summary>
    /// Whether plans include crashes between a batch's application and its record (<c>DGC_SIM_CRASHES=1</c>).
    /// Off by default: with them, long runs still find a rare late delivery of a fenced-off message (see docs/protocol.md).
    /// </summary>
    private static readonly bool Crashes = Environment.GetEnvironmentVariable("DGC_SIM_CRASHES") == "1";

    /// <summary>
    /// Whether plans build cross-kernel cycles and run traces mid-plan: on unless <c>DGC_SIM_CYCLES=0</c>
    /// (docs/protocol.md, "Cycles").
    /// </summary>
    private static readonly bool Cycles = Environment.GetEnvironmentVariable("DGC_SIM_CYCLES") != "0";

    public static readonly Gen<Step> Step = Gen.Frequency(
        (10, Gen.Select(K, K, Gen.Int[0, 2], Gen.Int[0, 9], (f, t, n, c) => (Step)new SendStep(f, t, n, c == 0))),
        (5, Gen.Select(K, Gen.Int[0, 2], (k, n) => (Step)new ReleaseStep(k, n))),
        (2, K.Select(k => (Step)new RetireStep(k))),
        (1, K.Select(k => (Step)new DeleteStep(k))),
        (14, Gen.Int[0, 5].Select(n => (Step)new DeliverStep(n))),
        (2, Gen.Bool.Select(d => (Step)new FaultStep(d))),
        (1, Gen.Select(K, K, Gen.Int[0, 2], (a, b, h) => (Step)new PartitionStep(a, b, h > 0))),
        (4, Gen.Select(Gen.Int[0, 89], Gen.Int[0, 2], (s, c) => (Step)new TickStep(s, c == 0))),
        (1, K.Select(k => (Step)new BoydStep(k))),
        (1, Gen.Select(K, K, Gen.Bool, (k, r, g) => (Step)new DeactivateStep(k, r, g))),
        (1, Gen.Int[0, 9].Select(k => (Step)new RestartStep(k == 0 ? 0 : 9))),
        (1, K.Select(k => (Step)new ForgeStep(k))),
        (1, K.Select(k => (Step)new MisuseStep(k))),
        (Crashes ? 1 : 0, Gen.Select(K, Gen.Int[0, 3], (k, n) => (Step)new CrashStep(k, n))),
        (Crashes ? 1 : 0, Gen.Select(K, Gen.Bool, (k, b) => (Step)new CrashAroundClearStep(k, b))),
        (1, Gen.Select(K, Gen.Int[0, 2], (k, n) => (Step)new FailCallbacksStep(k, n))),
        (3, Gen.Select(K, Gen.Bool, (k, e) => (Step)new FailApplyStep(k, e))),
        (2, K.Select(k => (Step)new FailEpochDrawStep(k))),
        (2, K.Select(k => (Step)new FailExpiryStep(k))),
        (Cycles ? 2 : 0, Gen.Select(K, K, K, (a, b, c) => (Step)new CycleStep(a, b, c))),
        (Cycles ? 2 : 0, K.Select(k => (Step)new LinkStep(k))),
        (Cycles ? 2 : 0, K.Select(k => (Step)new TraceStep(k))));

    private static long _lateRefusals;

    /// <summary>Late messages refused across every plan run so far (see <see cref="World.LateRefusals"/>).</summary>
    public static long LateRefusals => Interlocked.Read(ref _lateRefusals);

    /// <summary>Runs a plan from <paramref name="seed"/>: every step, the oracle between steps, then quiescence.</summary>
    public static int Run(Step[] plan, int seed)
    {
        var w = new World();
        var r = new Random(seed);
        for (var i = 0; i < plan.Length; i++)
        {
            try
            {
                w.Note($"{i}: {plan[i]}");
                try
                {
                    plan[i].Apply(w, r);
                }
                catch (SimCrashException)
                {
                    w.Recover();
                }

                w.EndStep();
            }
            catch (SimulationViolationException e)
            {
                throw new SimulationViolationException($"step {i} ({plan[i]}): {e.Message}{Traced(w)}");
            }
        }

        try
        {
            w.Quiesce(r);
        }
        catch (SimulationViolationException e)
        {
            throw new SimulationViolationException($"quiescence after {plan.Length} steps: {e.Message}{Traced(w)}");
        }

        Interlocked.Add(ref _lateRefusals, w.LateRefusals);

        return plan.Length;
    }

    private static string Traced(World w)
    {
        if (w.Trace is null)
        {
            return "";
        }

        var path = Path.Combine(Path.GetTempPath(), "dgc-sim-trace.txt");
        File.WriteAllLines(path, w.Trace);
        return $" (trace in {path}){Environment.NewLine}{string.Join(Environment.NewLine, w.Trace.TakeLast(40))}";
    }
}
