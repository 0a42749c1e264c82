using System.Text.Json;
using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>A silo crash the simulation injects at a pair-state write.</summary>
public sealed class SimCrashException(string message) : Exception(message);

/// <summary>An export owner's call failed (its silo died under it); the pair that made it lives on.</summary>
public sealed class SimCallFailedException(string message) : Exception(message);

/// <summary>An object as the world knows it: the kernel that serves it and that kernel's kref.</summary>
public readonly record struct ObjId(string Owner, string Kref)
{
    public override string ToString() => $"{Owner}:{Kref}";
}

/// <summary>One of a kernel's own objects, as its local GC sees it.</summary>
public sealed class OwnObject
{
    /// <summary>Held by a local root.</summary>
    public bool Rooted { get; set; } = true;

    /// <summary>Some remote may reach it: set on every send, cleared when the DGC says "dropped".</summary>
    public bool RemotelyReachable { get; set; }

    /// <summary>Some remote may recognize it: set on every send, cleared when the DGC says "retired".</summary>
    public bool RemotelyRecognized { get; set; }

    /// <summary>Collected: nothing may name it again.</summary>
    public bool Freed { get; set; }

    /// <summary>What the object references: krefs of the kernel's own objects or imports (its local graph).</summary>
    public HashSet<string> Refs { get; } = new(StringComparer.Ordinal);
}

/// <summary>One import, as the kernel sees it.</summary>
public sealed class ImportObject(ObjId identity, string from, long epoch)
{
    public ObjId Identity { get; } = identity;

    public string From { get; } = from;

    /// <summary>The exporter's session it arrived in.</summary>
    public long Epoch { get; set; } = epoch;

    /// <summary>The kernel uses it locally.</summary>
    public bool InUse { get; set; } = true;

    /// <summary>Re-exported (proxied) to another remote that may still reach it.</summary>
    public bool RemotelyReachable { get; set; }

    public bool Dropped { get; set; }

    public bool Revoked { get; set; }
}

/// <summary>
/// One kernel of the simulation: what its manager grain and export grains would keep (sessions, krefs,
/// export ledgers), its pairs with their stored state, and a small kernel with a local GC that is also
/// the ground truth the oracle reads.
/// </summary>
public sealed partial class SimKernel(World world, string id, bool hostile = false)
{
    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false };

    public string Id { get; } = id;

    public World World { get; } = world;

    public bool Hostile { get; } = hostile;

    // What the kernel's manager grain keeps.
    public long Incarnation { get; private set; } = 1;

    public long NextEpoch { get; set; } = 1;

    public long NextKref { get; set; } = 1;

    public HashSet<string> Remotes { get; } = [];

    public Dictionary<string, PeerMemory> Memories { get; } = new(StringComparer.Ordinal);

    // Export grains, by kref.
    public Dictionary<string, ExportState> Ledgers { get; } = new(StringComparer.Ordinal);

    // Pair grains: active ones, and their stored state.
    public Dictionary<string, RemotePair> Active { get; } = new(StringComparer.Ordinal);

    /// <summary>The pairs' stored rows, by remote (present while any row is).</summary>
    public Dictionary<string, SimRows> Store { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Reminders { get; } = [];

    // The kernel itself.
    public Dictionary<string, OwnObject> Own { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, ImportObject> Imports { get; } = new(StringComparer.Ordinal);

    /// <summary>Epochs of this kernel's export sessions towards each remote that ended (their holds were let go).</summary>
    public Dictionary<string, HashSet<long>> EndedEpochs { get; } = new(StringComparer.Ordinal);

    public List<PairEvent> Events { get; } = [];

    /// <summary>Effect ids the kernel heard; a repeat is ignored (the DGC delivers effects at least once).</summary>
    public HashSet<string> SeenEffects { get; } = new(StringComparer.Ordinal);

    /// <summary>Counts down the kernel's pair-state writes that record a batch's application; the one that reaches zero crashes its silo instead (0: off).</summary>
    public int CrashAtWrite { get; set; }

    /// <summary>The remote whose pair crashed at a write, until the world recovers it.</summary>
    public string? Crashed { get; set; }

    /// <summary>How many of the next effect callbacks fail (the kernel's silo is down, say): the DGC must deliver them again.</summary>
    public int FailCallbacks { get; set; }

    /// <summary>Remotes whose pairs' effect callbacks fail while they are listed here (the kernel cannot hear those pairs).</summary>
    public HashSet<string> DeafTo { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the next export owner's call of an inbound batch's application fails (its silo died), and whether it
    /// took effect before failing: the batch is then applied in part, and the pair lives on.
    /// </summary>
    public (bool Fail, bool Executed) FailApply { get; set; }

    /// <summary>
    /// Whether the next new epoch a pair of this kernel draws from its manager, while taking a frame or checking a
    /// lease, fails (the manager's silo died under the call), and the pair lives on: a session end (reconciliation,
    /// the remote's restart, a lapsed lease) stops part way.
    /// </summary>
    public bool FailEpochDraw { get; set; }

    /// <summary>
    /// Whether the next session end of a pair of this kernel, while taking a frame or checking a lease, fails part way
    /// through letting the remote's holds go: the first export's owner lets them go, then the call fails (its silo
    /// died), and the pair lives on.
    /// </summary>
    public bool FailExpiry { get; set; }

    /// <summary>Set while the world runs a lease check of one of this kernel's pairs (a reminder tick).</summary>
    public bool Checking { get; set; }

    /// <summary>
    /// The next pair of this kernel that clears its state while taking a frame dies right after the row is gone
    /// (before its manager hears). Only while taking a frame: a kernel call that died after its change was stored
    /// would leave the simulated kernel unsure whether it took effect, which it does not model.
    /// </summary>
    public bool CrashAfterClear { get; set; }

    /// <summary>The next pair of this kernel that leaves what it knows of its remote with the manager while taking a frame dies just before (its manager never hears); see <see cref="CrashAfterClear"/>.</summary>
    public bool CrashBeforeRemember { get; set; }

    /// <summary>Set while the world delivers a frame to one of this kernel's pairs (the only time <see cref="FailApply"/> acts).</summary>
    public bool Delivering { get; set; }

    public string NewKref() => DgcIds.Kref(NextKref++);

    public string NewObject()
    {
        var kref = NewKref();
        Own[kref] = new OwnObject();
        return kref;
    }

    /// <summary>The pair towards <paramref name="remote"/>, activated from its stored state when needed.</summary>
    public RemotePair Pair(string remote)
    {
        if (Active.TryGetValue(remote, out var pair))
        {
            return pair;
        }

        var rows = Store.TryGetValue(remote, out var stored) ? stored : new SimRows();
        var journal = new PairJournal(rows, World.JournalEntries);
        var state = World.Run(journal.LoadAsync());
        if (!rows.Any)
        {
            Store.Remove(remote);
        }

        pair = new RemotePair(Id, remote, state, World.Settings, World.Clock, new Env(World, this, remote, rows, journal));
        Active[remote] = pair;
        World.Run(pair.ActivateAsync());
        return pair;
    }

    /// <summary>Every remote with an active or stored pair.</summary>
    public IEnumerable<string> PairedRemotes() => Active.Keys.Union(Store.Keys).Order(StringComparer.Ordinal).ToList();

    /// <summary>The pair's state as stored, or as held by the active pair.</summary>
    public PairState? StateOf(string remote) =>
        Active.TryGetValue(remote, out var p) ? p.State : Store.TryGetValue(remote, out var rows) ? rows.Image() : null;

    /// <summary>The pair's grain is deactivated: in-memory state goes; graceful deactivation flushes first.</summary>
    public void Deactivate(string remote, bool graceful)
    {
        if (Active.Remove(remote, out var pair) && graceful)
        {
            Active[remote] = pair;
            World.Run(pair.DeactivateAsync());
            Active.Remove(remote);
        }
    }

    /// <summary>No crash is armed any more (one armed and not yet fired is forgotten).</summary>
    public void DisarmCrashes() => (CrashAtWrite, CrashBeforeRemember, CrashAfterClear) = (0, false, false);

    /// <summary>The kernel restarts without its memory: a new incarnation; its pairs reset; its objects and imports are gone.</summary>
    public void Restart()
    {
        // A crash in the middle of a restart is not modelled (see the closing note of the durable-effects work).
        DisarmCrashes();
        Incarnation++;
        foreach (var remote in PairedRemotes())
        {
            World.Run(Pair(remote).ResetAsync(Incarnation));
        }

        Own.Clear();
        Imports.Clear();
        NewTracer(); // the collector's traces die with the kernel's memory
        Version++;
    }

    private ExportLedger Ledger(string kref)
    {
        if (!Ledgers.TryGetValue(kref, out var state))
        {
            Ledgers[kref] = state = new ExportState();
        }

        return new ExportLedger(kref, state);
    }

    private ExportApplyResult Settle(string kref, ExportApplyResult result)
    {
        if (Ledgers.TryGetValue(kref, out var state) && state.Holds.Count == 0)
        {
            Ledgers.Remove(kref);
        }

        return result;
    }

    /// <summary>The pair's environment: grain calls become calls on this kernel's objects; frames go to the network.</summary>
    private sealed class Env(World world, SimKernel kernel, string remote, SimRows rows, PairJournal journal) : IPairEnvironment, ICyclePairEnvironment
    {
        public Task OnCycleAskAsync(long trace, long confirm, long wireId, ImportFacts? facts) =>
            kernel.Tracer.OnAskAsync(remote, trace, confirm, wireId, facts);

        public Task OnCycleReplyAsync(long trace, long confirm, string exportKref, bool live, string[] pending, long receipts, bool caughtUp) =>
            kernel.Tracer.OnReplyAsync(remote, trace, confirm, exportKref, live, pending, receipts, caughtUp);

        public Task<SessionStart> OpenSessionAsync()
        {
            kernel.Remotes.Add(remote);
            return Task.FromResult(new SessionStart(kernel.Incarnation, kernel.NextEpoch++));
        }

        public Task<long> NextEpochAsync()
        {
            if (kernel.FailEpochDraw && (kernel.Delivering || kernel.Checking))
            {
                kernel.FailEpochDraw = false;
                world.Note($"  {kernel.Id}/{remote} drawing a new epoch failed");
                return Task.FromException<long>(new SimCallFailedException($"{kernel.Id}: its manager failed"));
            }

            return Task.FromResult(kernel.NextEpoch++);
        }

        public Task<string[]> AllocateKrefsAsync(int count) =>
            Task.FromResult(Enumerable.Range(0, count).Select(_ => kernel.NewKref()).ToArray());

        public Task ForgetRemoteAsync(PeerMemory memory)
        {
            kernel.Remotes.Remove(remote);
            kernel.Memories[remote] = memory;
            return Task.CompletedTask;
        }

        public Task RememberRemoteAsync(PeerMemory memory)
        {
            if (kernel.CrashBeforeRemember && kernel.Delivering)
            {
                kernel.CrashBeforeRemember = false;
                kernel.Crashed = remote;
                throw new SimCrashException($"{kernel.Id}/{remote} crashed before its manager heard what it knew of {remote}");
            }

            kernel.Memories[remote] = memory;
            return Task.CompletedTask;
        }

        public Task<PeerRecall> RecallRemoteAsync() => Task.FromResult(new PeerRecall(kernel.Memories.GetValueOrDefault(remote), kernel.Remotes.Contains(remote)));

        public Task RecordSentAsync(IReadOnlyDictionary<string, long> sends)
        {
            foreach (var (kref, count) in sends)
            {
                kernel.Ledger(kref).RecordSent(remote, count);
            }

            return Task.CompletedTask;
        }

        /// <summary>Like the grains' export owners: every export takes the batch, except one whose owner fails (before or after applying it); then the call fails.</summary>
        public Task<ExportApplyResult[]> ApplyToExportsAsync(long stream, long seq, IReadOnlyList<ExportOps> exports)
        {
            var results = new ExportApplyResult[exports.Count];
            SimCallFailedException? failed = null;
            for (var i = 0; i < exports.Count; i++)
            {
                var (kref, ops, counts) = exports[i];
                if (failed is null && kernel.Delivering && kernel.FailApply.Fail)
                {
                    var executed = kernel.FailApply.Executed;
                    kernel.FailApply = (false, false);
                    if (executed)
                    {
                        kernel.Settle(kref, kernel.Ledger(kref).Apply(remote, stream, seq, ops, counts, out _));
                    }

                    world.Note($"  {kernel.Id}/{remote} the owner of {kref} failed applying batch {seq}{(executed ? " after applying it" : "")}");
                    failed = new SimCallFailedException($"{kernel.Id}: the owner of {kref} failed");
                    continue;
                }

                results[i] = kernel.Settle(kref, kernel.Ledger(kref).Apply(remote, stream, seq, ops, counts, out _));
            }

            return failed is null ? Task.FromResult(results) : Task.FromException<ExportApplyResult[]>(failed);
        }

        public Task<ExportApplyResult[]> ExpireExportsAsync(IReadOnlyList<string> krefs)
        {
            if (kernel.FailExpiry && (kernel.Delivering || kernel.Checking) && krefs.Count > 0)
            {
                kernel.FailExpiry = false;
                kernel.Settle(krefs[0], kernel.Ledger(krefs[0]).ExpireRemote(remote, out _));
                world.Note($"  {kernel.Id}/{remote} ending the session failed after the owner of {krefs[0]} let {remote}'s holds go");
                return Task.FromException<ExportApplyResult[]>(new SimCallFailedException($"{kernel.Id}: an export owner failed"));
            }

            return Task.FromResult(krefs.Select(k => kernel.Settle(k, kernel.Ledger(k).ExpireRemote(remote, out _))).ToArray());
        }

        public Task<ExportApplyResult[]> ReleaseLostSendsAsync(IReadOnlyList<string> krefs, IReadOnlyList<bool> forget) =>
            Task.FromResult(krefs.Select((k, i) => kernel.Settle(k, kernel.Ledger(k).ReleaseLostSends(remote, forget[i], out _))).ToArray());

        public Task<ExportSnapshot[]> GetExportsAsync(IReadOnlyList<string> krefs) =>
            Task.FromResult(krefs.Select(k => new ExportLedger(k, kernel.Ledgers.GetValueOrDefault(k) ?? new ExportState()).Snapshot()).ToArray());

        /// <summary>The simulation runs one activation of each pair at a time.</summary>
        public Task EnsureCurrentAsync() => Task.CompletedTask;

        public async Task WriteStateAsync(PairState state)
        {
            // Crashes are injected at the writes that record a batch's application: after the batch changed the
            // export ledgers, before the pair recorded it (the window in which effects used to be lost).
            if (kernel.CrashAtWrite > 0 && RecordsApplication(state) && --kernel.CrashAtWrite == 0)
            {
                // The silo dies before this write: what the pair did in memory since its last write is lost.
                kernel.Crashed = remote;
                throw new SimCrashException($"{kernel.Id}/{remote} crashed at a write");
            }

            await journal.WriteAsync(state);
            kernel.Store[remote] = rows;
            world.Writes++;

            // The journal stores what changed, not the state: what it stored must read back as the state.
            if (rows.Current is not { } stored || SimRows.Canonical(stored) != SimRows.Canonical(state))
            {
                throw new InvalidOperationException($"{kernel.Id}/{remote}: the stored journal does not read back as the state written:\n stored {(rows.Current is null ? "nothing" : SimRows.Canonical(rows.Current))}\n state  {SimRows.Canonical(state)}");
            }
        }

        private bool RecordsApplication(PairState state) =>
            rows.Current is { } stored && state.PeerStream == stored.PeerStream && state.HighestApplied > stored.HighestApplied;

        public async Task ClearStateAsync()
        {
            await journal.ClearAsync();
            if (!rows.Any)
            {
                kernel.Store.Remove(remote);
            }

            if (kernel.CrashAfterClear && kernel.Delivering)
            {
                kernel.CrashAfterClear = false;
                kernel.Crashed = remote;
                throw new SimCrashException($"{kernel.Id}/{remote} crashed after clearing its row");
            }
        }

        public Task SendFrameAsync(string json)
        {
            world.Net.Send(kernel.Id, remote, json);
            return Task.CompletedTask;
        }

        public Task<bool> NotifyKernelAsync(KernelNotice notice)
        {
            if (notice.EffectId.Length > 0 && (kernel.FailCallbacks > 0 || kernel.DeafTo.Contains(remote)))
            {
                kernel.FailCallbacks -= kernel.DeafTo.Contains(remote) ? 0 : 1;
                world.Note($"  {kernel.Id}<-{remote} callback failed: {notice}");
                return Task.FromResult(false);
            }

            world.OnNotice(kernel, remote, notice);
            return Task.FromResult(true);
        }

        public Task SetLeaseReminderAsync(bool enabled)
        {
            if (enabled)
            {
                kernel.Reminders.Add(remote);
            }
            else
            {
                kernel.Reminders.Remove(remote);
            }

            return Task.CompletedTask;
        }

        public void Report(PairEvent e)
        {
            kernel.Events.Add(e);
            world.OnEvent(kernel, remote, e);
        }
    }
}
