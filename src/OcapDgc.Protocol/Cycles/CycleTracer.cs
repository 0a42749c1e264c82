namespace OcapDgc;

/// <summary>
/// One kernel's part of distributed cycle detection by back tracing (after Maheshwari and Liskov, PODC
/// 1997), as plain code over an <see cref="ICycleEnvironment"/>. A trace starts at a suspect import and
/// walks the reference graph backwards: from an import to the exports that reach it (the kernel's answer),
/// from an export to the remotes that hold it (its ledger), and on at each holder from its import of that
/// export. Every inter-kernel step is one ask and one reply over the pair. A trace decides "garbage" only
/// when its first round found no root anywhere, with no answer depending on a node it did not close
/// itself, and a second, confirming round over the same edges found every kernel's facts unchanged. Then
/// only the initiating kernel is told to drop its suspect; the rest of the cycle follows through the
/// ordinary protocol, so the counts stay the source of truth.
/// </summary>
/// <remarks>
/// All state is in memory and bounded (<see cref="CycleSettings"/>). Calls must not run concurrently
/// (the grain is not reentrant; the simulation runs one input at a time). docs/protocol.md, "Cycles",
/// gives the rules and the safety argument.
/// </remarks>
public sealed class CycleTracer
{
    private readonly string _kernel;
    private readonly CycleSettings _settings;
    private readonly TimeProvider _clock;
    private readonly ICycleEnvironment _env;
    private readonly Random _random;
    private readonly Dictionary<(long Trace, long Confirm), Round> _rounds = [];
    private readonly Dictionary<long, Initiated> _mine = [];
    private int _activeNodes;

    /// <summary>Creates the tracer of kernel <paramref name="kernel"/>.</summary>
    public CycleTracer(string kernel, CycleSettings settings, TimeProvider clock, ICycleEnvironment env, Random? random = null)
    {
        _kernel = kernel;
        _settings = settings;
        _clock = clock;
        _env = env;
        _random = random ?? new Random();
    }

    /// <summary>What this tracer did since it was created.</summary>
    public CycleCounters Counters { get; } = new();

    /// <summary>Traces this kernel started that have not ended.</summary>
    public int ActiveTraces => _mine.Count;

    /// <summary>Rounds of any trace this kernel holds state for (its own and others').</summary>
    public int ActiveRounds => _rounds.Count;

    /// <summary>Whether a trace this kernel started from <paramref name="kref"/> is running.</summary>
    public bool IsTracing(string kref) => _mine.Values.Any(m => m.Kref == kref);

    private DateTimeOffset Now => _clock.GetUtcNow();

    /// <summary>
    /// Starts a trace from import <paramref name="kref"/> (from <paramref name="remote"/>). Returns false,
    /// starting nothing, when <see cref="CycleSettings.MaxConcurrentTraces"/> traces run already or one
    /// from the same import does. How it ends is reported (<see cref="TraceEnded"/>) and counted.
    /// </summary>
    public async Task<bool> StartAsync(string remote, string kref)
    {
        if (_mine.Count >= _settings.MaxConcurrentTraces || IsTracing(kref) || _activeNodes >= _settings.MaxActiveNodes)
        {
            return false;
        }

        var trace = NextId();
        _mine[trace] = new Initiated(remote, kref, Now);
        Counters.Started++;
        _env.Report(new TraceStarted(trace, remote, kref));
        var round = NewRound(trace, 0);
        var node = AddNode(round, kref, remote, asker: null);
        node.Facts = await _env.GetImportFactsAsync(remote, kref);
        await VisitAsync(round, node);
        return true;
    }

    /// <summary>
    /// <paramref name="remote"/> asks, in round (<paramref name="trace"/>, <paramref name="confirm"/>), about
    /// its export that is this kernel's import <paramref name="wireId"/> (<paramref name="facts"/>: null if none).
    /// </summary>
    public async Task OnAskAsync(string remote, long trace, long confirm, long wireId, ImportFacts? facts)
    {
        Counters.AsksReceived++;
        if (facts is null || !facts.Reachable)
        {
            await ReplyAsync(remote, trace, confirm, wireId, live: true, [], facts?.Receipts ?? 0);
            return;
        }

        if (_rounds.TryGetValue((trace, confirm), out var round) && round.Nodes.TryGetValue(facts.Kref, out var seen))
        {
            // Visited in this round already: its result if known, or "depends on me" while it is open.
            var pending = seen.Done ? seen.Pending.ToArray() : [seen.Id];
            await ReplyAsync(remote, trace, confirm, wireId, seen.Done && seen.Live, seen.Done && seen.Live ? [] : pending, facts.Receipts);
            return;
        }

        if (round is null && (_activeNodes >= _settings.MaxActiveNodes || (confirm != 0 && !_rounds.ContainsKey((trace, 0)))))
        {
            Refuse(remote, confirm != 0 ? "a confirming round of a trace this kernel holds no first round of" : $"{_activeNodes} visited imports held (Dgc:Cycles:MaxActiveNodes)");
            await ReplyAsync(remote, trace, confirm, wireId, live: true, [], facts.Receipts);
            return;
        }

        round ??= NewRound(trace, confirm);
        if (round.Nodes.Count >= _settings.MaxNodesPerTrace || _activeNodes >= _settings.MaxActiveNodes)
        {
            Refuse(remote, $"trace {trace} visited {round.Nodes.Count} imports here (Dgc:Cycles:MaxNodesPerTrace)");
            await ReplyAsync(remote, trace, confirm, wireId, live: true, [], facts.Receipts);
            return;
        }

        var node = AddNode(round, facts.Kref, remote, (remote, wireId));
        node.Facts = facts;
        await VisitAsync(round, node);
    }

    /// <summary>
    /// <paramref name="remote"/> answers, in round (<paramref name="trace"/>, <paramref name="confirm"/>), about
    /// this kernel's export <paramref name="exportKref"/>. A duplicate, or an answer nobody asked for, is ignored.
    /// </summary>
    public async Task OnReplyAsync(string remote, long trace, long confirm, string exportKref, bool live, IReadOnlyList<string> pending, long receipts, bool caughtUp)
    {
        if (!_rounds.TryGetValue((trace, confirm), out var round) || !round.Edges.TryGetValue((exportKref, remote), out var edge) || edge.Answered)
        {
            return;
        }

        edge.Answered = true;

        // "No root" counts only if the holder had received every send the ledger counted, and every message
        // it had sent back to this kernel was delivered here: otherwise a ref is in flight (live or unknown).
        edge.Live = live || !caughtUp || receipts != edge.ExpectedCount;
        edge.Pending = edge.Live ? [] : [.. pending];
        foreach (var node in edge.Waiters.ToList())
        {
            await ApplyAsync(round, node, edge);
        }
    }

    /// <summary>Gives up on rounds whose answers are overdue (their open nodes answer "live") and forgets old rounds.</summary>
    public async Task TickAsync()
    {
        var now = Now;
        foreach (var round in _rounds.Values.Where(r => now >= r.GiveUpAt).ToList())
        {
            foreach (var node in round.Nodes.Values.Where(n => !n.Done).ToList())
            {
                await CompleteAsync(round, node, live: true, gaveUp: true);
            }
        }

        foreach (var (key, round) in _rounds.Where(r => now >= r.Value.ForgetAt).ToList())
        {
            _rounds.Remove(key);
            _activeNodes -= round.Nodes.Count;
        }

        foreach (var (trace, mine) in _mine.Where(m => now - m.Value.Started >= _settings.TraceTimeout * 3).ToList())
        {
            End(trace, mine, TraceOutcome.GaveUp);
        }
    }

    private async Task VisitAsync(Round round, Node node)
    {
        if (round.Confirm == 0)
        {
            if (node.Facts is not { Reachable: true })
            {
                await CompleteAsync(round, node, live: true);
                return;
            }

            var answer = await _env.AskKernelAsync([node.Kref]);
            var reach = answer?.Imports.FirstOrDefault(i => i.Kref == node.Kref);
            if (answer is null || reach is not { Reach: Reach.FromExports })
            {
                await CompleteAsync(round, node, live: true);
                return;
            }

            node.Version = answer.Version;
            foreach (var export in reach.FromExports.Distinct(StringComparer.Ordinal))
            {
                var snapshot = await _env.GetExportAsync(export);
                node.Snapshots[export] = snapshot;
                foreach (var (holder, count) in snapshot.CountsByRemote.OrderBy(h => h.Key, StringComparer.Ordinal))
                {
                    if (count > 0)
                    {
                        node.Edges.Add((export, holder));
                    }
                }
            }
        }
        else if (!await StillAsFirstRoundAsync(round, node))
        {
            await CompleteAsync(round, node, live: true);
            return;
        }

        if (node.Edges.Count == 0)
        {
            await CompleteAsync(round, node, live: false);
            return;
        }

        node.Waiting = node.Edges.Count;
        foreach (var key in node.Edges)
        {
            var expected = node.Snapshots[key.Export].CountsByRemote.GetValueOrDefault(key.Holder);
            if (!round.Edges.TryGetValue(key, out var edge))
            {
                round.Edges[key] = edge = new Edge(expected) { Owner = node };
                edge.Waiters.Add(node);
                Counters.FramesSent++;
                if (!await _env.SendAskAsync(key.Holder, round.Trace, round.Confirm, key.Export))
                {
                    (edge.Answered, edge.Live) = (true, true);
                    await ApplyAsync(round, node, edge);
                }
            }
            else if (edge.ExpectedCount != expected)
            {
                // Two visits here saw different counts for the same hold: something moved.
                await ApplyAsync(round, node, new Edge(expected) { Answered = true, Live = true });
            }
            else if (edge.Answered)
            {
                await ApplyAsync(round, node, edge);
            }
            else
            {
                // Another node here asked over this edge and waits for it: its result will carry the answer, so
                // this node depends on that node (waiting here could close a circle of waits within one kernel).
                await ApplyAsync(round, node, new Edge(expected) { Answered = true, Pending = [edge.Owner!.Id] });
            }

            if (node.Done)
            {
                return;
            }
        }
    }

    /// <summary>The confirming round: the node's import, the kernel's answer and the ledgers it read are as in the first round.</summary>
    private async Task<bool> StillAsFirstRoundAsync(Round round, Node node)
    {
        if (!_rounds.TryGetValue((round.Trace, 0), out var first) || !first.Nodes.TryGetValue(node.Kref, out var before) || !before.Done || before.Live)
        {
            return false;
        }

        var facts = await _env.GetImportFactsAsync(before.Remote, node.Kref);
        if (facts is null || facts != before.Facts)
        {
            return false;
        }

        node.Facts = facts;
        var answer = await _env.AskKernelAsync([]);
        if (answer is null || answer.Version != before.Version)
        {
            return false;
        }

        foreach (var (export, then) in before.Snapshots)
        {
            var now = await _env.GetExportAsync(export);
            if (!SameHolds(then, now))
            {
                return false;
            }

            node.Snapshots[export] = now;
        }

        node.Edges.AddRange(before.Edges);
        return true;
    }

    private static bool SameHolds(ExportSnapshot a, ExportSnapshot b) =>
        a.CountsByRemote.Count == b.CountsByRemote.Count
        && a.CountsByRemote.All(h => b.CountsByRemote.TryGetValue(h.Key, out var c) && c == h.Value);

    private async Task ApplyAsync(Round round, Node node, Edge edge)
    {
        if (node.Done)
        {
            return;
        }

        edge.Waiters.Remove(node);
        if (edge.Live)
        {
            await CompleteAsync(round, node, live: true);
            return;
        }

        node.Pending.UnionWith(edge.Pending);
        if (--node.Waiting == 0)
        {
            await CompleteAsync(round, node, live: false);
        }
    }

    private async Task CompleteAsync(Round round, Node node, bool live, bool gaveUp = false)
    {
        if (node.Done)
        {
            return;
        }

        node.Done = true;
        node.Live = live;
        if (live)
        {
            node.Pending.Clear();
        }
        else
        {
            // A node closes the cycles through itself: "depends on me" is settled now that all its answers are in.
            node.Pending.Remove(node.Id);
        }

        if (node.Asker is { } asker)
        {
            await ReplyAsync(asker.Remote, round.Trace, round.Confirm, asker.WireId, live, [.. node.Pending], node.Facts?.Receipts ?? 0);
            return;
        }

        if (!_mine.TryGetValue(round.Trace, out var mine))
        {
            return;
        }

        if (live || node.Pending.Count > 0)
        {
            End(round.Trace, mine, gaveUp || !live ? TraceOutcome.GaveUp : round.Confirm == 0 ? TraceOutcome.Live : TraceOutcome.Changed);
            return;
        }

        if (round.Confirm == 0)
        {
            // No root found and nothing left open: confirm over the same edges that nothing changed meanwhile.
            var confirm = NextId();
            var second = NewRound(round.Trace, confirm);
            var root = AddNode(second, node.Kref, node.Remote, asker: null);
            await VisitAsync(second, root);
            return;
        }

        End(round.Trace, mine, TraceOutcome.Garbage);
        await _env.CollectAsync(mine.Remote, [mine.Kref]);
    }

    private void End(long trace, Initiated mine, TraceOutcome outcome)
    {
        _mine.Remove(trace);
        switch (outcome)
        {
            case TraceOutcome.Live:
                Counters.Live++;
                break;
            case TraceOutcome.GaveUp:
                Counters.GaveUp++;
                break;
            case TraceOutcome.Changed:
                Counters.Changed++;
                break;
            default:
                Counters.Garbage++;
                break;
        }

        _env.Report(new TraceEnded(trace, mine.Remote, mine.Kref, outcome, Now - mine.Started));
    }

    private async Task ReplyAsync(string remote, long trace, long confirm, long wireId, bool live, string[] pending, long receipts)
    {
        if (pending.Length > Wire.WireCodec.MaxCyclePending)
        {
            // More open dependencies than a reply may name: give up on this answer (live or unknown).
            (live, pending) = (true, []);
        }

        Counters.FramesSent++;
        await _env.SendReplyAsync(remote, trace, confirm, wireId, live, pending, receipts);
    }

    private void Refuse(string remote, string reason)
    {
        Counters.Refused++;
        _env.Report(new TraceRefused(remote, reason));
    }

    private Round NewRound(long trace, long confirm)
    {
        var now = Now;
        var round = new Round(trace, confirm, now + _settings.TraceTimeout, now + (_settings.TraceTimeout * 3));
        _rounds[(trace, confirm)] = round;
        return round;
    }

    private Node AddNode(Round round, string kref, string remote, (string Remote, long WireId)? asker)
    {
        var node = new Node($"{_kernel}/{kref}", kref, remote, asker);
        round.Nodes[kref] = node;
        _activeNodes++;
        return node;
    }

    private long NextId() => _random.NextInt64(1, long.MaxValue);

    private sealed record Initiated(string Remote, string Kref, DateTimeOffset Started);

    private sealed class Round(long trace, long confirm, DateTimeOffset giveUpAt, DateTimeOffset forgetAt)
    {
        public long Trace { get; } = trace;

        public long Confirm { get; } = confirm;

        public DateTimeOffset GiveUpAt { get; } = giveUpAt;

        public DateTimeOffset ForgetAt { get; } = forgetAt;

        public Dictionary<string, Node> Nodes { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Export, string Holder), Edge> Edges { get; } = [];
    }

    private sealed class Node(string id, string kref, string remote, (string Remote, long WireId)? asker)
    {
        public string Id { get; } = id;

        public string Kref { get; } = kref;

        /// <summary>The exporter of this import.</summary>
        public string Remote { get; } = remote;

        public (string Remote, long WireId)? Asker { get; } = asker;

        public ImportFacts? Facts { get; set; }

        public long Version { get; set; }

        public Dictionary<string, ExportSnapshot> Snapshots { get; } = new(StringComparer.Ordinal);

        public List<(string Export, string Holder)> Edges { get; } = [];

        public int Waiting { get; set; }

        public bool Done { get; set; }

        public bool Live { get; set; }

        public HashSet<string> Pending { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Edge(long expectedCount)
    {
        public long ExpectedCount { get; } = expectedCount;

        /// <summary>The node that asked over this edge.</summary>
        public Node? Owner { get; init; }

        public bool Answered { get; set; }

        public bool Live { get; set; }

        public List<string> Pending { get; set; } = [];

        public List<Node> Waiters { get; } = [];
    }
}
