namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>A simulated kernel's cycle collector and its local GC's answer.</summary>
public sealed partial class SimKernel
{
    private CycleTracer? _tracer;

    /// <summary>The version of the kernel's local object graph: changed by every mutation (roots, references, sends, deliveries, notices).</summary>
    public long Version { get; set; }

    /// <summary>Answers a wrong "not rooted" for every import (a hostile kernel lying about its own graph).</summary>
    public bool LiesAboutRoots { get; set; }

    /// <summary>The kernel's cycle collector (lost with the kernel's memory on a restart).</summary>
    public CycleTracer Tracer => _tracer ??= new CycleTracer(Id, World.CycleSettings, World.Clock, new CycleEnv(this), new Random(Id.Aggregate(17, (h, c) => (h * 31) + c) + (int)Incarnation));

    /// <summary>Forgets the cycle collector's traces (the kernel crashed).</summary>
    public void NewTracer() => _tracer = null;

    /// <summary>The local GC's answer: for each import, rooted, or which of the exports remotes may reach lead to it.</summary>
    public ReachabilityAnswer Answer(string[] imports)
    {
        var referrers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (kref, own) in Own.Where(o => !o.Value.Freed))
        {
            foreach (var r in own.Refs)
            {
                if (!referrers.TryGetValue(r, out var list))
                {
                    referrers[r] = list = [];
                }

                list.Add(kref);
            }
        }

        var answers = new List<ImportReach>(imports.Length);
        foreach (var import in imports)
        {
            if (!Imports.TryGetValue(import, out var imp) || imp.Dropped || imp.Revoked)
            {
                answers.Add(new ImportReach(import, Reach.Unknown, []));
                continue;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal) { import };
            var work = new Stack<string>([import]);
            var rooted = false;
            var exports = new List<string>();
            while (work.TryPop(out var x))
            {
                if (Own.TryGetValue(x, out var own))
                {
                    rooted |= own.Rooted;
                    if (own.RemotelyReachable)
                    {
                        exports.Add(x);
                    }
                }
                else if (Imports.TryGetValue(x, out var i))
                {
                    rooted |= i.InUse;
                    if (i.RemotelyReachable)
                    {
                        exports.Add(x);
                    }
                }

                foreach (var r in referrers.GetValueOrDefault(x) ?? [])
                {
                    if (seen.Add(r))
                    {
                        work.Push(r);
                    }
                }
            }

            answers.Add(rooted && !LiesAboutRoots ? new ImportReach(import, Reach.Rooted, []) : new ImportReach(import, Reach.FromExports, [.. exports.Order(StringComparer.Ordinal)]));
        }

        return new ReachabilityAnswer(Version, [.. answers]);
    }

    /// <summary>The collector's environment: the kernel's answer, its ledgers and pairs, the world's oracle.</summary>
    private sealed class CycleEnv(SimKernel kernel) : ICycleEnvironment
    {
        public Task<ReachabilityAnswer?> AskKernelAsync(string[] importKrefs) => Task.FromResult<ReachabilityAnswer?>(kernel.Answer(importKrefs));

        public Task<ExportSnapshot> GetExportAsync(string kref) =>
            Task.FromResult(new ExportLedger(kref, kernel.Ledgers.GetValueOrDefault(kref) ?? new ExportState()).Snapshot());

        public Task<ImportFacts?> GetImportFactsAsync(string remote, string kref) =>
            Task.FromResult(kernel.StateOf(remote) is null ? null : kernel.Pair(remote).CycleFacts(kref));

        public Task<bool> SendAskAsync(string remote, long trace, long confirm, string exportKref) =>
            kernel.StateOf(remote) is null ? Task.FromResult(false) : kernel.Pair(remote).SendCycleAskAsync(trace, confirm, exportKref);

        public Task<bool> SendReplyAsync(string remote, long trace, long confirm, long wireId, bool live, string[] pending, long receipts) =>
            kernel.StateOf(remote) is null ? Task.FromResult(false) : kernel.Pair(remote).SendCycleReplyAsync(trace, confirm, wireId, live, pending, receipts);

        public Task CollectAsync(string remote, string[] importKrefs)
        {
            kernel.World.OnCycleGarbage(kernel, remote, importKrefs);
            return Task.CompletedTask;
        }

        public void Report(CycleEvent e) => kernel.World.Note($"  {kernel.Id} cycle {e}");
    }
}
