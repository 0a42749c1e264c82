using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>A property the simulation found broken.</summary>
public sealed class SimulationViolationException(string message) : Exception(message);

/// <summary>
/// Several kernels, each with its pairs towards the others, over one simulated network and one clock.
/// Steps (kernel calls, deliveries, faults, timer ticks, deactivations, restarts, forged frames) run the
/// real <see cref="RemotePair"/> and <see cref="ExportLedger"/>; the oracle checks, as things happen and
/// after every step:
/// S1 no kernel is told an export is dropped while another kernel holds it in a session that was not ended;
/// S2 no delivery resolves a ref to another object than the one sent, and no ref to a freed object is delivered;
/// exactly once: no application message is delivered twice, across clears and restarts included;
/// availability: no lease lapses while the remote was heard from within the lease or exports resumed
/// within it, no session ends by reconciliation on a pair that lost nothing, no import is revoked
/// unless its exporter ended that session, and no frame or operation an honest kernel sent is refused;
/// and, after faults stop (<see cref="Quiesce"/>): while every pair keeps talking, everything but the
/// objects still held is released, and once those go too, nothing is left anywhere (L3).
/// </summary>
public sealed partial class World
{
    public const string Mallory = "mallory";

    private readonly Dictionary<long, (string From, string To, ObjId[] Sent)> _messages = [];

    /// <summary>The sender's session each message sent with SendAsync went out in: its refs belong to it, however late the kernel hears them.</summary>
    private readonly Dictionary<long, long> _sentInSession = [];
    private readonly HashSet<long> _delivered = [];
    private readonly Dictionary<(string, string), DateTimeOffset> _lastHeard = [];
    private readonly Dictionary<(string, string), DateTimeOffset> _exportsSince = [];
    private readonly HashSet<(string, string)> _disturbed = [];
    private readonly HashSet<string> _gcPending = [];
    private long _nextMessage;
    private bool _misusing;

    public World(int honest = 3, bool withMallory = true, PairSettings? settings = null)
    {
        Settings = settings ?? new PairSettings(MaxBatchSize: 8, ReceiveWindow: 4, RetransmitAfter: TimeSpan.FromSeconds(1), Lease: TimeSpan.FromSeconds(60), PingInterval: TimeSpan.FromSeconds(20))
        {
            // Far above what honest kernels here send, so only Mallory meets them.
            Limits = new PairLimits(MaxOpsPerBatch: 64, MaxRefsPerMessage: 16, MaxBufferedBytes: 16_384, MaxImports: 10_000, MaxExports: 10_000),
        };
        foreach (var name in new[] { "alice", "bob", "carol", "dave", "erin" }.Take(honest))
        {
            Kernels[name] = new SimKernel(this, name);
        }

        if (withMallory)
        {
            Kernels[Mallory] = new SimKernel(this, Mallory, hostile: true);
        }

        Names = [.. Kernels.Keys];
    }

    public PairSettings Settings { get; }

    /// <summary>Journal entries a pair writes before a snapshot: few, so compaction runs often in the simulation.</summary>
    public int JournalEntries { get; init; } = 8;

    public SimClock Clock { get; } = new();

    public SimNetwork Net { get; } = new();

    public Dictionary<string, SimKernel> Kernels { get; } = new(StringComparer.Ordinal);

    public string[] Names { get; }

    public long Writes { get; set; }

    public long Deliveries { get; private set; }

    /// <summary>Application messages of honest kernels delivered to their receivers' kernels (each once).</summary>
    public int MessagesDelivered => _delivered.Count;

    public long Refusals { get; private set; }

    /// <summary>Effects delivered again (same id) and ignored by their kernel.</summary>
    public long EffectRepeats { get; private set; }

    /// <summary>Pair crashes injected at writes.</summary>
    public long Crashes { get; private set; }

    /// <summary>Messages that waited (their callback failed) and were refused at a later delivery: an object they send back may have been let go.</summary>
    public long LateRefusals { get; private set; }

    /// <summary>After a crash at a write: the crashed pair's grain is gone (its memory lost) and comes back from its last write.</summary>
    public void Recover()
    {
        foreach (var k in Kernels.Values.Where(k => k.Crashed is not null))
        {
            Crashes++;
            _disturbed.Add(SimNetwork.Key(k.Id, k.Crashed!));
            k.Deactivate(k.Crashed!, graceful: false);
            k.Crashed = null;
        }
    }

    public SimKernel this[string name] => Kernels[name];

    /// <summary>With <c>DGC_SIM_TRACE=1</c>, what happened (frames, notices, events), for the failure message.</summary>
    public List<string>? Trace { get; } = Environment.GetEnvironmentVariable("DGC_SIM_TRACE") == "1" ? [] : null;

    public void Note(string line) => Trace?.Add(line);

    /// <summary>Runs a pair input to completion: every environment call completes at once, so the run is deterministic.</summary>
    public static void Run(Task task)
    {
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException("A pair input did not complete synchronously in the simulation.");
        }

        task.GetAwaiter().GetResult();
    }

    public static T Run<T>(Task<T> task)
    {
        Run((Task)task);
        return task.Result;
    }

    // ---- Kernel actions ----

    /// <summary><paramref name="from"/> sends a message to <paramref name="to"/> carrying <paramref name="krefs"/>.</summary>
    public long Send(string from, string to, params string[] krefs) => SendCore(from, to, krefs, carried: false);

    /// <summary>Like <see cref="Send"/>, but the kernel carries the message itself (ExportRefsAsync / ImportRefsAsync).</summary>
    public long Carry(string from, string to, params string[] krefs) => SendCore(from, to, krefs, carried: true);

    /// <summary>What a kernel may send now: its rooted objects and the imports it uses.</summary>
    public List<string> Sendable(string kernel)
    {
        var k = this[kernel];
        return [.. k.Own.Where(o => o.Value.Rooted && !o.Value.Freed).Select(o => o.Key)
            .Concat(k.Imports.Where(i => i.Value.InUse && !i.Value.Dropped && !i.Value.Revoked).Select(i => i.Key))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>The kernel stops using <paramref name="kref"/> locally (a root or an import); its local GC runs at the end of the step.</summary>
    public void Release(string kernel, string kref)
    {
        var k = this[kernel];
        if (k.Own.TryGetValue(kref, out var own))
        {
            own.Rooted = false;
        }
        else if (k.Imports.TryGetValue(kref, out var imp))
        {
            imp.InUse = false;
        }

        k.Version++;
        _gcPending.Add(kernel);
    }

    /// <summary>The kernel retires dropped (or revoked) imports it no longer recognizes.</summary>
    public void Retire(string kernel, IEnumerable<string> krefs)
    {
        var k = this[kernel];
        krefs = [.. krefs];

        ActivatePairs(k, krefs.Where(k.Imports.ContainsKey).Select(kref => k.Imports[kref].From));

        foreach (var group in krefs.Where(k.Imports.ContainsKey).GroupBy(kref => k.Imports[kref].From).ToList())
        {
            var list = group.Where(kref => k.Imports[kref].Dropped || k.Imports[kref].Revoked).ToArray();
            if (list.Length == 0)
            {
                continue;
            }

            Expect(() => Run(k.Pair(group.Key).RetireImportsAsync(list)), $"{kernel} retiring {string.Join(",", list)}");
            foreach (var kref in list)
            {
                k.Imports.Remove(kref);
            }
        }
    }

    /// <summary>The owner deletes objects no remote reaches but some may still recognize (IRemoteManagerGrain.DeleteExportsAsync).</summary>
    public void Delete(string kernel, string kref)
    {
        var k = this[kernel];
        if (!k.Own.TryGetValue(kref, out var own) || own.RemotelyReachable || own.Rooted || !own.RemotelyRecognized)
        {
            return;
        }

        Note($"  {kernel} deletes {kref}");
        string[] recognizers = [];
        if (k.Ledgers.TryGetValue(kref, out var state))
        {
            if (state.Reachable)
            {
                throw new SimulationViolationException($"{kernel}: {kref} was told dropped (and not sent since), yet its ledger says a remote still reaches it");
            }

            recognizers = new ExportLedger(kref, state).Delete();
            k.Ledgers.Remove(kref);
        }

        foreach (var remote in recognizers)
        {
            Run(k.Pair(remote).RetireExportsAsync([kref]));
        }

        own.RemotelyRecognized = false;
        own.Freed = true;
    }

    public void Boyd(string kernel)
    {
        var k = this[kernel];
        foreach (var remote in k.PairedRemotes())
        {
            Run(k.Pair(remote).BringOutYourDeadAsync(askRemote: true));
        }

        _gcPending.Add(kernel);
    }

    public void Restart(string kernel)
    {
        var k = this[kernel];
        foreach (var other in Names.Where(n => n != kernel))
        {
            _disturbed.Add(SimNetwork.Key(kernel, other));
        }

        k.Restart();
    }

    public void Deactivate(string kernel, string remote, bool graceful)
    {
        _disturbed.Add(SimNetwork.Key(kernel, remote));
        this[kernel].Deactivate(remote, graceful);
    }

    // ---- Network and clock ----

    /// <summary>Delivers the frame at <paramref name="index"/> (0 is the oldest).</summary>
    public void Deliver(int index)
    {
        var frame = Net.Take(index);
        if (frame is null)
        {
            return;
        }

        Deliveries++;
        Note($"  deliver {frame.From}->{frame.To}: {frame.Json ?? "carried " + string.Join(",", frame.CarriedRefs!)}");
        var receiver = this[frame.To];
        var pair = receiver.Pair(frame.From);
        if (frame.Json is null)
        {
            string[] krefs;
            _misusing = true; // a carried message may be refused: a stale session, or a send-back its own drop overtook
            try
            {
                krefs = Run(pair.ImportRefsAsync(frame.CarriedRefs!));
            }
            catch (DgcException)
            {
                // The kernel drops the message.
                Refusals++;
                return;
            }
            finally
            {
                _misusing = false;
            }

            OnDelivered(receiver, frame.From, frame.MessageId, krefs);
            return;
        }

        // A frame counts as heard once its handling is done: if the silo dies handling it, it was lost.
        var heard = Renews(frame);
        receiver.Delivering = true;
        try
        {
            Run(pair.ReceiveFrameAsync(frame.Json));
        }
        catch (SimCallFailedException)
        {
            // A call the handle made failed part way (an export owner's or the manager's silo died under it): a batch
            // applied in part and not recorded, or a session end stopped. The handle lives on (the stricter case: the
            // grain host treats it as a crash); the sender resends what was not acknowledged.
            return;
        }
        finally
        {
            receiver.Delivering = false;
            receiver.FailApply = (false, false);
            receiver.FailEpochDraw = false;
            receiver.FailExpiry = false;
        }

        if (heard)
        {
            _lastHeard[(frame.To, frame.From)] = Clock.Now;
        }

        if (Trace is not null)
        {
            var st = receiver.StateOf(frame.From);
            Note($"    {frame.To}/{frame.From}: epoch {st?.Epoch} peerEpoch {st?.PeerEpoch} exports [{(st is null ? "" : string.Join(",", st.Exports.Keys))}] imports [{(st is null ? "" : string.Join(",", st.Imports.Select(i => $"{i.Key}:{i.Value.Reachable}")))}] applied {st?.PeerStream}/{st?.HighestApplied}");
        }
    }

    /// <summary>Delivers everything in flight, oldest first, until the network is empty (bounded).</summary>
    public void Drain(int bound = 100_000)
    {
        for (var i = 0; Net.Frames.Count > 0; i++)
        {
            if (i > bound)
            {
                throw new SimulationViolationException($"the network did not drain: {Net.Frames.Count} frames still in flight after {bound} deliveries (a frame loop?)");
            }

            Deliver(0);
            EndStep();
        }
    }

    public void Lose(int index) => Net.LoseAt(index);

    public void Duplicate(int index)
    {
        if (Net.Frames[index].Json is not null)
        {
            Net.DuplicateAt(index);
        }
    }

    public void Advance(TimeSpan by) => Clock.Advance(by);

    /// <summary>
    /// What the timers and the reminder do: every active pair's flush and ping timers fire, and, with
    /// <paramref name="checkLeases"/>, every pair holding a reminder (activated if needed) runs its lease check.
    /// </summary>
    public void Tick(bool checkLeases)
    {
        foreach (var k in Kernels.Values)
        {
            foreach (var remote in k.Active.Keys.ToList())
            {
                var pair = k.Active[remote];
                Run(pair.OnFlushTickAsync());
                Run(pair.OnPingTickAsync());
            }

            Run(k.Tracer.TickAsync());

            if (checkLeases)
            {
                foreach (var remote in k.Reminders.ToList())
                {
                    var pair = k.Pair(remote);
                    k.Checking = true;
                    try
                    {
                        Run(pair.CheckLeaseAsync());
                    }
                    catch (SimCallFailedException)
                    {
                        // A session end stopped part way (see Deliver); the handle lives on and finishes it at its next input.
                    }
                    finally
                    {
                        k.Checking = false;
                        k.FailEpochDraw = false;
                        k.FailExpiry = false;
                    }
                }
            }
        }
    }

    /// <summary>Mallory writes a frame of its own making to <paramref name="target"/>, in its own name.</summary>
    public void Forge(string target, Random r)
    {
        var t = this[target];
        var mine = t.StateOf(Mallory);
        var theirs = this[Mallory].StateOf(target);
        var header = r.Next(8) == 0
            ? new SessionHeader(long.MaxValue - r.Next(3), long.MaxValue - r.Next(3), (long)int.MaxValue + r.Next(3)) // values no honest peer reaches
            : new SessionHeader(
                Math.Max(1, this[Mallory].Incarnation + r.Next(-1, 2)),
                Math.Max(1, (theirs?.Epoch ?? 1) + r.Next(-1, 2)),
                Math.Max(0, (mine?.Epoch ?? 0) + r.Next(-1, 2)));
        var many = r.Next(6) == 0 ? 65 + r.Next(100) : 1 + r.Next(3); // sometimes past the pair's limits
        WireRef Ref(bool senderExport) => new(senderExport, 1 + r.Next((int)Math.Min(8, (mine?.NextExportId ?? 1) + 1)));
        var stream = (mine?.PeerStream ?? 1) + r.Next(-1, 2);
        WireFrame frame = r.Next(8) switch
        {
            0 => new BatchFrame(stream, Math.Max(1, (mine?.HighestApplied ?? 0) + r.Next(0, 3)), mine?.HighestApplied ?? 0,
                [.. Enumerable.Range(0, many).Select(_ => new DgcOp((DgcOpKind)r.Next(3), Ref(r.Next(4) == 0), 1 + r.Next(3)))]),
            1 => new AppFrame(stream, 1 + r.Next(5), "forged", "0", [.. Enumerable.Range(0, many > 3 ? 17 : 1).Select(_ => Ref(r.Next(2) == 0))]),
            2 => new PingFrame(stream, r.Next(3), r.Next(3), "0000000000000000"),
            3 => new PongFrame((PongStatus)r.Next(4)),
            4 => new ImportListFrame(stream, mine?.HighestApplied ?? 0, [new ImportListEntry(Ref(false), r.Next(2) == 0)]),
            5 => new FenceFrame(1 + r.Next(1_000), r.Next(5)),
            6 => new AckFrame(mine?.Stream ?? 1, r.Next(5)),
            _ => new BringOutYourDeadFrame(),
        };
        Run(t.Pair(Mallory).ReceiveFrameAsync(WireCodec.Encode(frame with { Session = header })));
    }

    /// <summary>Runs <paramref name="call"/> with refusals of honest kernels' calls expected (a test that provokes one).</summary>
    public void ExpectingRefusal(Action call)
    {
        _misusing = true;
        try
        {
            call();
        }
        finally
        {
            _misusing = false;
        }
    }

    /// <summary>Calls the kernel API wrongly; the call must be refused with the right code and change nothing.</summary>
    public void Misuse(string kernel, Random r)
    {
        var k = this[kernel];
        ActivatePairs(k, k.Imports.Values.Select(i => i.From));
        // An import whose revocation or retirement the kernel has not heard yet (its callback failed) is gone for the DGC already;
        // one named by a message still to be delivered is the kernel's again once it is (a drop of it now is not over-release).
        bool Live(KeyValuePair<string, ImportObject> i) => !i.Value.Revoked
            && !(k.StateOf(i.Value.From)?.Outbox.Any(e => e.Kind is EffectKind.ImportsRevoked or EffectKind.ImportsRetired or EffectKind.MessageDelivered && e.Krefs.Contains(i.Key)) ?? false);
        var reachable = k.Imports.Where(i => !i.Value.Dropped && Live(i)).Select(i => i.Key).Order(StringComparer.Ordinal).ToList();
        var dropped = k.Imports.Where(i => i.Value.Dropped && Live(i)).Select(i => i.Key).Order(StringComparer.Ordinal).ToList();
        var remote = Names.Where(n => n != kernel).ElementAt(r.Next(Names.Length - 1));
        (string Remote, Func<RemotePair, Task> Call, DgcError Code) misuse = r.Next(5) switch
        {
            0 when reachable.Count > 0 => Pick(reachable, p => p.RetireImportsAsync([reachable[0]]), DgcError.RetireBeforeDrop),
            1 when dropped.Count > 0 => Pick(dropped, p => p.DropImportsAsync([dropped[0]]), DgcError.OverRelease),
            2 => (remote, p => p.DropImportsAsync(["ko999999"]), DgcError.UnknownRef),
            3 => (remote, p => p.SendAsync("m", "x", ["not-a-kref"]), DgcError.InvalidInput),
            _ => (remote, p => p.ImportRefsAsync(["ro*1"]), DgcError.InvalidInput),
        };
        var pair = k.Pair(misuse.Remote);
        var before = System.Text.Json.JsonSerializer.Serialize(pair.State);
        _misusing = true;
        try
        {
            Run(misuse.Call(pair));
            throw new SimulationViolationException($"{kernel}->{misuse.Remote}: a misuse expected to fail with {misuse.Code} was accepted");
        }
        catch (DgcException e) when (e.Code == misuse.Code)
        {
        }
        catch (DgcException e)
        {
            throw new SimulationViolationException($"{kernel}->{misuse.Remote}: misuse refused with {e.Code}, expected {misuse.Code}: {e.Message}");
        }
        finally
        {
            _misusing = false;
        }

        if (System.Text.Json.JsonSerializer.Serialize(pair.State) != before)
        {
            throw new SimulationViolationException($"{kernel}->{misuse.Remote}: a refused call ({misuse.Code}) changed the pair's state");
        }

        (string, Func<RemotePair, Task>, DgcError) Pick(List<string> krefs, Func<RemotePair, Task> call, DgcError code) =>
            (k.Imports[krefs[0]].From, call, code);
    }

    // ---- The step boundary ----

    /// <summary>Runs the kernels' local GCs and checks the invariants that hold between steps.</summary>
    public void EndStep()
    {
        foreach (var name in _gcPending.Order(StringComparer.Ordinal).ToList())
        {
            _gcPending.Remove(name);
            try
            {
                LocalGc(this[name]);
            }
            catch (SimCrashException)
            {
                Recover();
                _gcPending.Add(name); // the kernel's GC runs again after the crash
                break;
            }
        }

        foreach (var k in Kernels.Values)
        {
            foreach (var remote in k.PairedRemotes())
            {
                var key = (k.Id, remote);
                if ((k.StateOf(remote)?.Exports.Count ?? 0) == 0)
                {
                    _exportsSince.Remove(key);
                }
                else
                {
                    _exportsSince.TryAdd(key, Clock.Now);
                }
            }
        }

        CheckHoldsAreCounted();
        CheckDigests();
    }

    // ---- Quiescence ----

    /// <summary>
    /// Faults stop. Phase 1: each pair of honest kernels keeps one object held in one direction, so the two
    /// keep talking (pings, pongs) and no lease lapses; everything else is let go, and must be released by
    /// the protocol alone within a few leases. Phase 2: the kept objects go too; nothing may be left.
    /// </summary>
    public void Quiesce(Random r)
    {
        foreach (var k in Kernels.Values)
        {
            k.DisarmCrashes();
            k.FailCallbacks = 0;
        }

        Net.HealAll();
        Drain();

        // Messages (and effects) whose callbacks failed wait in their pairs' outboxes until the next flush tick or
        // activation: deliver them before the kernels decide what to let go.
        foreach (var k in Kernels.Values)
        {
            ActivatePairs(k, k.Store.Keys);
        }

        Tick(checkLeases: false);
        Drain();
        var honest = Names.Where(n => !this[n].Hostile).ToArray();
        var keep = new List<(string Owner, string Kref)>();
        for (var i = 0; i < honest.Length; i++)
        {
            for (var j = i + 1; j < honest.Length; j++)
            {
                var (a, b) = r.Next(2) == 0 ? (honest[i], honest[j]) : (honest[j], honest[i]);
                var kref = this[a].NewObject();
                Send(a, b, kref);
                keep.Add((a, kref));
            }
        }

        Drain();
        var kept = keep.ToHashSet();
        foreach (var k in Kernels.Values)
        {
            foreach (var kref in k.Own.Keys.Where(o => !kept.Contains((k.Id, o))).ToList())
            {
                Release(k.Id, kref);
            }

            foreach (var (kref, imp) in k.Imports.ToList())
            {
                if (!kept.Contains((imp.Identity.Owner, imp.Identity.Kref)))
                {
                    Release(k.Id, kref);
                }
            }
        }

        RunQuietly(leases: 6);
        var keptByMallory = KeptByMallory();
        foreach (var k in Kernels.Values.Where(k => !k.Hostile))
        {
            var left = k.Ledgers.Where(l => !kept.Contains((k.Id, l.Key)) && !keptByMallory.Contains(new ObjId(k.Id, l.Key))).Select(l => $"{l.Key} held by {string.Join(",", l.Value.Holds.Select(h => $"{h.Key}x{h.Value.Count}"))}").ToList();
            if (left.Count > 0)
            {
                throw new SimulationViolationException($"L1/L2 while talking: after six leases with every pair talking, {k.Id} still counts {left.Count} exports nobody uses: {string.Join("; ", left.Take(5))}");
            }
        }

        foreach (var (owner, kref) in keep)
        {
            Release(owner, kref);
        }

        foreach (var k in Kernels.Values)
        {
            foreach (var kref in k.Imports.Keys.ToList())
            {
                Release(k.Id, kref);
            }
        }

        RunQuietly(leases: 6);
        CheckNothingLeft();
    }

    /// <summary>Timers, reminders and deliveries only, for <paramref name="leases"/> leases of the clock; kernels retire what they dropped.</summary>
    public void RunQuietly(int leases)
    {
        var step = Settings.PingInterval / 2;
        var rounds = (int)(Settings.Lease * leases / step);
        for (var i = 0; i < rounds; i++)
        {
            Clock.Advance(step);
            Tick(checkLeases: true);
            EndStep();
            Drain();
            foreach (var k in Kernels.Values)
            {
                StartTraces(k.Id);
            }

            EndStep();
            Drain();
            foreach (var k in Kernels.Values)
            {
                Retire(k.Id, [.. k.Imports.Where(x => x.Value.Dropped || x.Value.Revoked).Select(x => x.Key).Order(StringComparer.Ordinal)]);
            }

            EndStep();
            Drain();
        }
    }

    /// <summary>L3: no ledger, no stored pair state, no reminder, no remote registered, no import anywhere.</summary>
    public void CheckNothingLeft()
    {
        var keptByMallory = KeptByMallory();
        // Mallory's pairs, its own and others' towards it, may stay stuck on values it forged (say, an
        // incarnation it never had), and Mallory may keep holding what it was sent: a hostile kernel can hurt
        // only its own pairs. Every hold of an honest kernel must be released.
        foreach (var k in Kernels.Values.Where(k => !k.Hostile))
        {
            var left = new List<string>();
            left.AddRange(k.Ledgers.Where(l => !keptByMallory.Contains(new ObjId(k.Id, l.Key))).Select(l => $"ledger {l.Key} ({string.Join(",", l.Value.Holds.Keys)})"));
            bool Kept(string kref) => keptByMallory.Contains(new ObjId(k.Id, kref));
            var remotes = k.PairedRemotes().Where(r => r != Mallory).Select(r => (r, s: k.StateOf(r)!))
                .Where(p => p.s.Exports.Values.Any(e => !Kept(e.Kref)) || p.s.Imports.Values.Any(i => !Kept(i.Kref))
                    || p.s.Revoked.Count + p.s.Queue.Count + p.s.Unacked.Count > 0
                    || (p.s.IsEmpty && (k.Store.ContainsKey(p.r) || k.Reminders.Contains(p.r))))
                .ToList();
            left.AddRange(remotes.Select(p =>
                $"pair state towards {p.r} (exports {p.s.Exports.Count}, imports {p.s.Imports.Count}, revoked {p.s.Revoked.Count}, queued {p.s.Queue.Count}, unacked {p.s.Unacked.Count}, stored {k.Store.ContainsKey(p.r)}, reminder {k.Reminders.Contains(p.r)})"));
            left.AddRange(k.Imports.Keys.Where(i => !Kept(i)).Select(i => $"import {i}"));

            // A remote the manager lists has a row; a pair that cleared its own leaves the list too.
            left.AddRange(k.Remotes.Where(r => r != Mallory && !k.Store.ContainsKey(r) && k.StateOf(r) is null or { IsEmpty: true })
                .Select(r => $"{r} listed by its manager with no row"));
            if (left.Count > 0)
            {
                throw new SimulationViolationException($"L3: after quiescence {k.Id} still has {string.Join("; ", left.Take(6))}");
            }
        }
    }

    /// <summary>
    /// Objects Mallory keeps alive: those it holds, and, through kernels that proxy an import for it, the
    /// objects behind them, and what those objects reference. Holding what it was sent is Mallory's right; the honest kernels' other objects
    /// must still all be released.
    /// </summary>
    private HashSet<ObjId> KeptByMallory()
    {
        var kept = new HashSet<ObjId>();
        var work = new Queue<ObjId>(Kernels.Values.SelectMany(k => k.Ledgers.Where(l => l.Value.Holds.ContainsKey(Mallory)).Select(l => new ObjId(k.Id, l.Key))));
        while (work.TryDequeue(out var obj))
        {
            if (!kept.Add(obj))
            {
                continue;
            }

            if (this[obj.Owner].Imports.TryGetValue(obj.Kref, out var proxied))
            {
                work.Enqueue(proxied.Identity);
            }
            else if (this[obj.Owner].Own.TryGetValue(obj.Kref, out var own))
            {
                // With cycle steps objects reference others (imports, own objects): what Mallory holds keeps those too.
                foreach (var r in own.Refs)
                {
                    work.Enqueue(new ObjId(obj.Owner, r));
                }
            }
        }

        kept.UnionWith(KeptByLostSends());
        return kept;
    }

    // ---- What the pairs tell the kernels and report ----

    internal void OnNotice(SimKernel k, string remote, KernelNotice notice)
    {
        if (Trace is not null)
        {
            var krefs = notice switch { MessageDelivered m => m.Krefs, ExportsDropped d => d.Krefs, ExportsRetired r => r.Krefs, ImportsRevoked v => v.Krefs, ImportsRetired t => t.Krefs, RemoteSessionEnded e => e.Released, _ => [] };
            Note($"  {k.Id}<-{remote} notice {notice.GetType().Name} {notice.EffectId} [{string.Join(",", krefs)}]");
        }
        if (notice.EffectId.Length > 0 && !k.SeenEffects.Add(notice.EffectId))
        {
            EffectRepeats++;
            if (notice is MessageDelivered repeated)
            {
                // A repeated message is not acted on again, but its refs are the kernel's again (the DGC kept their
                // receipts while it waited): an import let go since is held once more, as the kernel contract says.
                HoldAgain(k, remote, long.Parse(repeated.Body, System.Globalization.CultureInfo.InvariantCulture), repeated.Krefs);
            }
            else if (notice is ImportsRevoked revokedAgain)
            {
                // Applied again (the kernel contract): a repeated message just before it may have handed those imports back.
                foreach (var kref in revokedAgain.Krefs)
                {
                    if (k.Imports.TryGetValue(kref, out var imp))
                    {
                        imp.Revoked = true;
                    }
                }

                _gcPending.Add(k.Id);
            }
            else if (notice is ImportsRetired retiredAgain)
            {
                foreach (var kref in retiredAgain.Krefs)
                {
                    k.Imports.Remove(kref);
                }
            }

            return; // heard before: ignored, as a kernel should
        }

        k.Version++;
        switch (notice)
        {
            case MessageDelivered m:
                OnDelivered(k, remote, long.Parse(m.Body, System.Globalization.CultureInfo.InvariantCulture), m.Krefs);
                break;
            case ExportsDropped d:
                foreach (var kref in d.Krefs)
                {
                    CheckNotPremature(k, kref);
                    var wasReachable = k.Own.TryGetValue(kref, out var own) ? own.RemotelyReachable : k.Imports.TryGetValue(kref, out var proxy) ? proxy.RemotelyReachable : (bool?)null;
                    // A second "dropped" without a send in between is a bug, also for an export nobody recognizes any
                    // more (a late "dropped" is then withheld: "retired" says it).
                    if (wasReachable == false && !k.Hostile)
                    {
                        throw new SimulationViolationException($"exactly once: {k.Id} was told {kref} is dropped twice, with no send in between (effect {d.EffectId})");
                    }

                    if (own is not null)
                    {
                        own.RemotelyReachable = false;
                    }
                    else if (k.Imports.TryGetValue(kref, out var imp))
                    {
                        imp.RemotelyReachable = false;
                    }
                }

                _gcPending.Add(k.Id);
                break;
            case ExportsRetired r:
                // Retired says dropped too (no remote recognizes it, so none reaches it): after a crash the DGC
                // may say only "retired" for an export it could no longer tell was dropped by that very operation.
                foreach (var kref in r.Krefs)
                {
                    if (k.Own.TryGetValue(kref, out var own))
                    {
                        own.RemotelyRecognized = own.RemotelyReachable = false;
                    }
                    else if (k.Imports.TryGetValue(kref, out var proxy))
                    {
                        proxy.RemotelyReachable = false;
                    }
                }

                _gcPending.Add(k.Id);
                break;
            case ImportsRevoked v:
                foreach (var kref in v.Krefs)
                {
                    if (k.Imports.TryGetValue(kref, out var imp))
                    {
                        CheckRevocationJustified(k, remote, kref, imp);
                        imp.Revoked = true;
                    }
                }

                _gcPending.Add(k.Id);
                break;
            case ImportsRetired t:
                foreach (var kref in t.Krefs)
                {
                    k.Imports.Remove(kref);
                }

                break;
            case BoydRequested:
                _gcPending.Add(k.Id);
                break;
        }
    }

    internal void OnEvent(SimKernel k, string remote, PairEvent e)
    {
        Note($"  {k.Id}/{remote} event {e}");
        var watched = !k.Hostile && remote != Mallory;
        switch (e)
        {
            case SessionEnded s:
                if (!k.EndedEpochs.TryGetValue(remote, out var ended))
                {
                    k.EndedEpochs[remote] = ended = [];
                }

                ended.Add(s.OldEpoch);
                if (watched && s.Why == SessionEnd.Reconciled && !_disturbed.Contains(SimNetwork.Key(k.Id, remote)) && !Net.Lossy.Contains(SimNetwork.Key(k.Id, remote)))
                {
                    throw new SimulationViolationException($"availability: {k.Id} ended its session with {remote} by reconciliation although that pair lost nothing and nothing was deactivated or restarted");
                }

                break;
            case LeaseLapsed l when watched:
                var heard = _lastHeard.TryGetValue((k.Id, remote), out var at) ? Clock.Now - at : TimeSpan.MaxValue;
                var exporting = _exportsSince.TryGetValue((k.Id, remote), out var since) ? Clock.Now - since : TimeSpan.Zero;
                if (heard <= Settings.Lease || exporting <= Settings.Lease)
                {
                    throw new SimulationViolationException($"availability: {k.Id} let {remote}'s lease lapse ({l.Silent} by its clock) although it heard from {remote} {heard} ago and has exported to it for only {exporting}; lease {Settings.Lease}");
                }

                break;
            case LateMessageRefused:
                LateRefusals++;
                break;
            case InboundRefused r when watched:
                throw new SimulationViolationException($"{k.Id}<-{remote}: refused what an honest kernel sent: {r.Reason}");
            case CallRefused c when watched && !_misusing:
                throw new SimulationViolationException($"{k.Id}->{remote}: an honest kernel call was refused ({c.Code}): {c.Reason}");
        }
    }

    private long SendCore(string from, string to, string[] krefs, bool carried)
    {
        var k = this[from];
        var sent = krefs.Select(kref => k.Own.ContainsKey(kref)
            ? new ObjId(from, kref)
            : k.Imports[kref].From == to ? k.Imports[kref].Identity : new ObjId(from, kref)).ToArray();
        var id = ++_nextMessage;
        _messages[id] = (from, to, sent);
        k.Version++;
        var pair = k.Pair(to);
        if (pair.State.Outbox.Any(e => e.Kind == EffectKind.ImportsRevoked && e.Krefs.Intersect(krefs).Any())
            || krefs.Any(kref => k.Imports.TryGetValue(kref, out var imp) && imp.Revoked)) // heard just now, as the pair activated
        {
            // The DGC revoked one of these imports and refuses its use; the kernel has not heard yet (its
            // callback failed and will be repeated), so it would learn from the refusal.
            return 0;
        }

        try
        {
            if (carried)
            {
                _disturbed.Add(SimNetwork.Key(from, to));
                var wire = Expect(() => Run(pair.ExportRefsAsync(krefs)), $"{from} exporting to {to}");
                Net.Send(from, to, null, id, wire);
            }
            else
            {
                Expect(() => Run(pair.SendAsync("deliver", id.ToString(System.Globalization.CultureInfo.InvariantCulture), krefs)), $"{from} sending to {to}");
                _sentInSession[id] = pair.State.Epoch;
            }
        }
        catch (SimulationViolationException) when (k.Hostile)
        {
            return 0; // Mallory's own pairs may be stuck on values it forged; only honest kernels' calls must succeed
        }

        NoteSessions(k, to, id, krefs);
        foreach (var kref in krefs)
        {
            if (k.Own.TryGetValue(kref, out var own))
            {
                own.RemotelyReachable = own.RemotelyRecognized = true;
            }
            else if (k.Imports[kref].From != to)
            {
                k.Imports[kref].RemotelyReachable = true;
            }
        }

        return id;
    }

    /// <summary>A repeated message's imports: held again where the kernel let them go (dropped or retired) since it first heard it.</summary>
    private void HoldAgain(SimKernel k, string from, long messageId, string[] krefs)
    {
        if (!_messages.TryGetValue(messageId, out var message) || message.From != from || message.To != k.Id || krefs.Length != message.Sent.Length)
        {
            return; // not a message an honest kernel sent this way (Mallory's making)
        }

        var epoch = _sentInSession.TryGetValue(messageId, out var sentIn) ? sentIn : k.StateOf(from)?.PeerEpoch ?? 0;
        for (var i = 0; i < krefs.Length; i++)
        {
            if (message.Sent[i].Owner == k.Id)
            {
                continue; // one of its own objects, sent back: not an import
            }

            if (k.Imports.TryGetValue(krefs[i], out var imp))
            {
                if (!imp.Revoked)
                {
                    imp.InUse = true;
                    imp.Dropped = false;
                }
            }
            else
            {
                k.Imports[krefs[i]] = new ImportObject(message.Sent[i], from, epoch);
            }
        }

        k.Version++;
    }

    private void OnDelivered(SimKernel k, string from, long messageId, string[] krefs)
    {
        if (k.Hostile || from == Mallory)
        {
            // Mallory's frames are its own making; only what honest kernels sent is checked against the truth.
            if (_messages.TryGetValue(messageId, out var m) && m.From == from && m.To == k.Id)
            {
                Record(k, from, messageId, krefs, m.Sent);
            }

            return;
        }

        if (!_messages.TryGetValue(messageId, out var message) || message.From != from || message.To != k.Id)
        {
            throw new SimulationViolationException($"{k.Id} was delivered message {messageId} from {from}, which {from} never sent to it");
        }

        Record(k, from, messageId, krefs, message.Sent);
    }

    private void Record(SimKernel k, string from, long messageId, string[] krefs, ObjId[] sent)
    {
        if (!_delivered.Add(messageId))
        {
            throw new SimulationViolationException($"exactly once: message {messageId} from {from} was delivered to {k.Id} twice");
        }

        if (krefs.Length != sent.Length)
        {
            throw new SimulationViolationException($"message {messageId}: {sent.Length} refs sent, {krefs.Length} delivered");
        }

        // A message waits in the receiver's outbox while its callback fails: its imports are of the session it came in.
        var epoch = _sentInSession.TryGetValue(messageId, out var sentIn) ? sentIn : k.StateOf(from)?.PeerEpoch ?? 0;
        k.Version++;
        for (var i = 0; i < krefs.Length; i++)
        {
            var (kref, obj) = (krefs[i], sent[i]);
            if (obj.Owner == k.Id)
            {
                if (kref != obj.Kref)
                {
                    throw new SimulationViolationException($"S2: message {messageId} sent {obj} back to its owner, which received {kref}");
                }

                if (k.Own.TryGetValue(kref, out var own) && own.Freed)
                {
                    throw new SimulationViolationException($"dangling: {k.Id} received its own {kref} back in message {messageId} after it was told dropped and freed it");
                }

                continue;
            }

            // A message of a session its exporter has since ended (its lease lapsed) may still carry an object
            // the exporter let go: the receiver's import is revoked at its next contact (S1 allows that).
            if (this[obj.Owner].Own.TryGetValue(obj.Kref, out var served) && served.Freed && !SessionEnded(this[obj.Owner], k.Id, epoch))
            {
                throw new SimulationViolationException($"dangling: {k.Id} received {obj} in message {messageId} of session {epoch}, which {obj.Owner} never ended, although {obj.Owner} already freed it");
            }

            if (k.Own.ContainsKey(kref))
            {
                throw new SimulationViolationException($"S2: message {messageId} carried {obj}, which {k.Id} resolved to its own {kref}");
            }

            if (k.Imports.TryGetValue(kref, out var imp))
            {
                if (imp.Revoked)
                {
                    throw new SimulationViolationException($"S1: message {messageId} reached {k.Id} through {kref}, an import that was revoked");
                }

                if (imp.Identity != obj)
                {
                    throw new SimulationViolationException($"S2: message {messageId} carried {obj}, which {k.Id} resolved to {kref}, already its import of {imp.Identity}");
                }

                imp.InUse = true;
                imp.Dropped = false;
            }
            else
            {
                k.Imports[kref] = new ImportObject(obj, from, epoch);
            }
        }

        OnCycleDelivery(k, messageId, krefs);
    }

    /// <summary>S1 at the moment an exporter hears "dropped": no honest holder of it may remain in a session that was not ended.</summary>
    private void CheckNotPremature(SimKernel exporter, string kref)
    {
        var obj = new ObjId(exporter.Id, kref);
        foreach (var holder in Kernels.Values.Where(h => h != exporter && !h.Hostile))
        {
            foreach (var (hkref, imp) in holder.Imports)
            {
                if (imp.Identity == obj && !imp.Dropped && !imp.Revoked && !SessionEnded(exporter, holder.Id, imp.Epoch))
                {
                    throw new SimulationViolationException($"S1: {exporter.Id} was told {kref} is dropped while {holder.Id} still holds it (as {hkref}) in session {imp.Epoch}, which {exporter.Id} never ended");
                }
            }
        }
    }

    /// <summary>Between steps: every honest import still held in the exporter's current session is counted by the exporter.</summary>
    /// <summary>Every pair's running digests (what its pings carry and compare) equal the sums over its whole tables.</summary>
    private void CheckDigests()
    {
        foreach (var k in Kernels.Values.Where(h => !h.Hostile))
        {
            foreach (var (remote, pair) in k.Active)
            {
                var exports = ImportDigest.Compute(pair.State.Exports.Select(e => (e.Key, e.Value.Reachable)));
                var imports = ImportDigest.Compute(pair.State.Imports.Select(e => (e.Key, e.Value.Reachable)));
                if (pair.CList.ExportDigest() != exports || pair.CList.ImportsDigest() != imports
                    || pair.CList.ReachableImports() != pair.State.Imports.Values.Count(i => i.Reachable))
                {
                    throw new SimulationViolationException($"digest: {k.Id}'s pair with {remote} keeps a running digest or reachable count that differs from its tables' sums");
                }
            }
        }
    }

    private void CheckHoldsAreCounted()
    {
        foreach (var holder in Kernels.Values.Where(h => !h.Hostile))
        {
            foreach (var (hkref, imp) in holder.Imports)
            {
                if (imp.Dropped || imp.Revoked || imp.Identity.Owner == Mallory || SessionEnded(this[imp.Identity.Owner], holder.Id, imp.Epoch))
                {
                    continue;
                }

                var exporter = this[imp.Identity.Owner];
                if (!exporter.Ledgers.TryGetValue(imp.Identity.Kref, out var ledger) || !ledger.Holds.TryGetValue(holder.Id, out var hold) || hold.Count <= 0)
                {
                    throw new SimulationViolationException($"S1: {holder.Id} holds {imp.Identity} (as {hkref}, session {imp.Epoch}) but {exporter.Id} does not count it for {holder.Id}");
                }
            }
        }
    }

    private void CheckRevocationJustified(SimKernel importer, string exporter, string kref, ImportObject imp)
    {
        if (importer.Hostile || exporter == Mallory || SessionEnded(this[exporter], importer.Id, imp.Epoch))
        {
            return;
        }

        throw new SimulationViolationException($"availability: {importer.Id}'s import {kref} of {imp.Identity} (session {imp.Epoch}) was revoked although {exporter} never ended that session");
    }

    private static bool SessionEnded(SimKernel exporter, string importer, long epoch) =>
        (exporter.EndedEpochs.TryGetValue(importer, out var ended) && (ended.Contains(epoch) || epoch == 0))
        || (exporter.StateOf(importer) is { EndingSession.Count: > 0 } ending && ending.Epoch == epoch); // ending, durably: finished on reactivation

    /// <summary>
    /// A kernel's call activates its pair before anything else, and an activation may finish a batch a crash
    /// interrupted and tell the kernel there and then that some imports are gone: the kernel chooses what to
    /// name after that, as a real one would see those callbacks first.
    /// </summary>
    private static void ActivatePairs(SimKernel k, IEnumerable<string> remotes)
    {
        foreach (var remote in remotes.Distinct().ToList())
        {
            k.Pair(remote);
        }
    }

    /// <summary>Whether <paramref name="frame"/> renews its sender's lease at the receiver (it names the receiver's current session).</summary>
    private bool Renews(InFlight frame)
    {
        try
        {
            var header = WireCodec.Decode(frame.Json!).Session;
            var current = this[frame.To].StateOf(frame.From)?.Epoch ?? 0;
            return current != 0 && header.Peer == current && header.Incarnation >= (this[frame.To].StateOf(frame.From)?.PeerIncarnation ?? 0);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static void LocalGc(SimKernel k)
    {
        // Marks from the local roots and from what remotes may reach, along the objects' references.
        var marked = new HashSet<string>(StringComparer.Ordinal);
        var work = new Stack<string>(k.Own.Where(o => !o.Value.Freed && (o.Value.Rooted || o.Value.RemotelyReachable)).Select(o => o.Key)
            .Concat(k.Imports.Where(i => i.Value.InUse || i.Value.RemotelyReachable).Select(i => i.Key)));
        while (work.TryPop(out var kref))
        {
            if (marked.Add(kref) && k.Own.TryGetValue(kref, out var own))
            {
                foreach (var r in own.Refs)
                {
                    work.Push(r);
                }
            }
        }

        foreach (var (kref, own) in k.Own.Where(o => !o.Value.Freed && !marked.Contains(o.Key)))
        {
            own.Freed = true;
            own.Refs.Clear();
            k.Version++;
        }

        ActivatePairs(k, k.Imports.Where(i => !marked.Contains(i.Key) && !i.Value.Dropped && !i.Value.Revoked).Select(i => i.Value.From));

        foreach (var group in k.Imports.Where(i => !marked.Contains(i.Key) && !i.Value.Dropped && !i.Value.Revoked)
                     .GroupBy(i => i.Value.From).OrderBy(g => g.Key, StringComparer.Ordinal).ToList())
        {
            var krefs = group.Select(i => i.Key).Order(StringComparer.Ordinal).ToArray();
            Expect(() => Run(k.Pair(group.Key).DropImportsAsync(krefs)), $"{k.Id} dropping {string.Join(",", krefs)}");
            foreach (var kref in krefs)
            {
                k.Imports[kref].Dropped = true;
            }

            k.Version++;
        }
    }

    private static T Expect<T>(Func<T> call, string what)
    {
        try
        {
            return call();
        }
        catch (DgcException e)
        {
            throw new SimulationViolationException($"{what}: refused ({e.Code}): {e.Message}");
        }
    }

    private static void Expect(Action call, string what) => Expect(() => { call(); return 0; }, what);
}
