using Microsoft.Extensions.Logging;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using Orleans.Storage;

namespace OcapDgc.ReferenceKernel;

/// <summary>
/// A small kernel for the demo and the tests. Its ground truth (what it created, sent, holds) is kept
/// apart from the DGC's tables, so the two can be compared: an export released while an importer still
/// held it counts as premature. With <see cref="ReferenceKernelOptions.Durable"/> the ground truth is
/// written to the DGC store after every change, so it survives a silo crash and re-activation on another
/// silo (the PostgreSQL cluster profile); otherwise it lives in the activation. It can run
/// bring-out-your-dead from a reminder.
/// </summary>
public sealed partial class ReferenceKernelGrain(
    [PersistentState(ReferenceKernelGrain.StateName, DgcStorage.Name)] IPersistentState<ReferenceKernelState> state,
    IOptions<ReferenceKernelOptions> options,
    ILogger<ReferenceKernelGrain> logger) : Grain, IReferenceKernelGrain, IRemindable
{
    /// <summary>The name its ground truth is stored under in <see cref="DgcStorage.Name"/> (when durable).</summary>
    public const string StateName = "kernel";

    private const string DeliverMethod = "deliver";
    private const string BoydReminder = "boyd";
    private readonly bool _durable = options.Value.Durable;
    private Task _lastWrite = Task.CompletedTask;

    // Not persisted: a test's fault injection.
    private int _failCallbacks;
    private readonly HashSet<string> _failDeliveriesFrom = new(StringComparer.Ordinal);

    // Not persisted: own objects with a send under way, and how many.
    private readonly Dictionary<string, int> _sending = new(StringComparer.Ordinal);
    private ExportShards? _exports;

    // Not persisted: the judging of the last "dropped" callback; each waits for the one before (see OnExportsDroppedAsync).
    private Task _judged = Task.CompletedTask;

    // Not persisted: own objects a send of which was under way when this activation read its state (see OnActivateAsync).
    private readonly HashSet<string> _underWayBefore = new(StringComparer.Ordinal);

    // Not persisted: fresh imports delivered while RestartAsync is under way (null otherwise).
    private List<(string Remote, string Kref)>? _restartWindow;

    private ReferenceKernelState S => state.State;

    private string Me => this.GetPrimaryKeyString();

    /// <summary>This kernel's export shards, where its exports' stored state is read.</summary>
    private ExportShards Exports => _exports ??= new ExportShards(GrainFactory, Me);

    /// <summary>One export's state as stored now (through its shard: no export grain is activated for it).</summary>
    private async Task<ExportSnapshot> StoredExportAsync(string kref) => (await Exports.SnapshotsAsync([kref]))[0];

    private IRemoteManagerGrain Manager => GrainFactory.GetGrain<IRemoteManagerGrain>(Me);

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A send under way when this kernel's silo died may have been counted by the DGC: as after one that failed, a
        // "dropped" heard during it reported the release before it, or of it, and is not held against the next one.
        // The activation that made the send may also still run (Orleans can keep two activations for a moment after a
        // silo dies): its send may be counted only after this one hears a "dropped" of the release before it, so that
        // "dropped" is not held against the next one either.
        foreach (var (kref, o) in S.Own.Where(o => o.Value.SendsUnderWay > 0))
        {
            o.ToldDropped = false;
            o.SendsUnderWay = 0;
            _underWayBefore.Add(kref);
        }

        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task StartAsync() => Manager.RegisterKernelAsync(this.AsReference<IReferenceKernelGrain>());

    /// <inheritdoc />
    public async Task<string[]> CreateObjectsAsync(int count)
    {
        var krefs = await Manager.AllocateKrefsAsync(count);
        foreach (var k in krefs)
        {
            S.Own[k] = new OwnObject();
        }

        await SaveAsync();
        return krefs;
    }

    /// <inheritdoc />
    public async Task ReleaseLocalAsync(string[] krefs)
    {
        foreach (var k in krefs)
        {
            if (S.Own.TryGetValue(k, out var o))
            {
                o.LocalRef = false;
            }
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task SendAsync(string toKernel, string[] krefs)
    {
        var labels = new string[krefs.Length];
        for (var i = 0; i < krefs.Length; i++)
        {
            labels[i] = S.Own.ContainsKey(krefs[i]) ? $"{Me}/{krefs[i]}"
                : FindImportLabel(krefs[i]) ?? throw new ArgumentException($"{Me} neither owns nor holds {krefs[i]}.", nameof(krefs));
        }

        S.GraphVersion++; // a message leaving changes the graph (the cycle collector's answers go stale)
        foreach (var k in krefs.Where(k => !S.Own.ContainsKey(k) && !(S.ImportsByRemote.TryGetValue(toKernel, out var back) && back.ContainsKey(k))))
        {
            S.SentOn.Add(k); // an import passed on to a third kernel: an export of this kernel now
        }

        // Sent again: "dropped" may be said anew. Durable before the send, so a crash after the DGC counted the send
        // cannot bring back an older "told dropped"; and the peer is asked about it when it is reported dropped.
        var own = krefs.Where(S.Own.ContainsKey).Distinct(StringComparer.Ordinal).ToArray();

        // Sent before and not heard of since: the "dropped" of the release that made it unreachable may still be on its
        // way, to arrive after this send. Which remote's release that was is read now, in one read (see OwnObject.DueFrom).
        var due = own.Where(k => S.Own[k] is { Sends: > 0, ToldDropped: false }).ToArray();
        var releases = due.Length > 0 ? await Exports.SnapshotsAsync(due) : [];
        var dueFrom = due.Zip(releases).Where(r => r.Second is { Reachable: false, DroppedBy: not null })
            .ToDictionary(r => r.First, r => r.Second.DroppedBy, StringComparer.Ordinal);
        foreach (var k in own)
        {
            S.Own[k].DueFrom = dueFrom.GetValueOrDefault(k);
            S.Own[k].ToldDropped = false;
            S.Own[k].SentTo.Add(toKernel);
            S.Own[k].EndedFor.Remove(toKernel);
            S.Own[k].Sends++;
            S.Own[k].SendsUnderWay++;
            _sending[k] = _sending.GetValueOrDefault(k) + 1;
        }

        try
        {
            await SaveAsync();
            await Handle(toKernel).SendAsync(DeliverMethod, JsonSerializer.Serialize(labels), krefs);
        }
        catch
        {
            // The send may have been counted before it failed (a silo died under it): as after one that returned, a
            // "dropped" heard during it reported the release before it, or of it, and is not held against the next one.
            foreach (var k in own)
            {
                if (S.Own.TryGetValue(k, out var o))
                {
                    o.ToldDropped = false;
                }
            }

            await SaveAsync();
            throw;
        }
        finally
        {
            foreach (var k in own)
            {
                if (--_sending[k] == 0)
                {
                    _sending.Remove(k);
                }

                if (S.Own.TryGetValue(k, out var o) && o.SendsUnderWay > 0)
                {
                    o.SendsUnderWay--;
                }
            }
        }

        foreach (var k in own)
        {
            if (S.Own.TryGetValue(k, out var o))
            {
                // A "dropped" heard during the send may report the release before it or of it: neither is judged.
                o.ToldDropped = false;
                S.Exported.Add(k);
            }
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task RestartAsync()
    {
        // A crash loses the kernel's memory: its objects and what it held are gone (its counters stay, for the ledger).
        S.Own.Clear();
        S.Detached.Clear();
        S.SentOn.Clear();
        S.ImportsByRemote.Clear();
        S.HeldLabels.Clear();
        S.Exported.Clear();
        S.Retired.Clear();
        S.ToRetire.Clear();
        S.ImportOrigins.Clear();
        _restartWindow = [];
        try
        {
            await SaveAsync();
            await Manager.RestartKernelAsync();

            // Callbacks interleave: a message delivered while the restart was under way came either through a handle
            // already reset (an import of the new incarnation) or through one not yet reset, whose reset then forgot
            // the import without a word (it was the old incarnation's). Keep only the imports the DGC still knows.
            var forgotten = 0;
            foreach (var group in _restartWindow.GroupBy(d => d.Remote, StringComparer.Ordinal))
            {
                var handle = Handle(group.Key);
                var gone = new List<string>();
                foreach (var (_, kref) in group)
                {
                    if ((await handle.TraceRefAsync(kref)).Role != RefRole.Import)
                    {
                        gone.Add(kref);
                    }
                }

                ForgetImports(group.Key, [.. gone]);
                forgotten += gone.Count;
            }

            // Likewise a revocation heard during the restart may name imports the reset forgot since.
            foreach (var (remote, krefs) in S.ToRetire.ToList())
            {
                var handle = Handle(remote);
                foreach (var kref in krefs.ToList())
                {
                    if ((await handle.TraceRefAsync(kref)).Role is not (RefRole.Import or RefRole.RevokedImport))
                    {
                        krefs.Remove(kref);
                        forgotten++;
                    }
                }
            }

            if (forgotten > 0)
            {
                await SaveAsync();
            }
        }
        finally
        {
            _restartWindow = null;
        }
    }

    /// <inheritdoc />
    public Task<string[]> GetHeldImportsAsync(string fromKernel) =>
        Task.FromResult(S.ImportsByRemote.TryGetValue(fromKernel, out var m) ? m.Keys.ToArray() : []);

    /// <inheritdoc />
    public Task<Dictionary<string, string>> GetImportLabelsAsync(string fromKernel) =>
        Task.FromResult(S.ImportsByRemote.TryGetValue(fromKernel, out var m) ? new Dictionary<string, string>(m, StringComparer.Ordinal) : []);

    /// <inheritdoc />
    public async Task SetBoydPeriodAsync(TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(period, TimeSpan.Zero);
        if (period > TimeSpan.Zero)
        {
            await this.RegisterOrUpdateReminder(BoydReminder, period, period);
        }
        else if (await this.GetReminder(BoydReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <inheritdoc />
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == BoydReminder)
        {
            S.BoydTicks++;
            await SaveAsync();
            await Manager.BringOutYourDeadAsync();
        }
    }

    /// <inheritdoc />
    public async Task DropAsync(string fromKernel, string[] krefs, bool retire)
    {
        // Only what this kernel holds is dropped, and only what it still knows (held, or dropped or revoked and not yet
        // retired) is retired: the caller's view may be older than the DGC's callbacks (an import revoked, heard, and
        // retired since names nothing any more, and the DGC would refuse it as unknown).
        S.ImportsByRemote.TryGetValue(fromKernel, out var imports);
        var held = krefs.Where(k => imports?.ContainsKey(k) == true).Distinct(StringComparer.Ordinal).ToArray();
        var known = krefs.Where(k => imports?.ContainsKey(k) == true || ToRetire(fromKernel).Contains(k)).Distinct(StringComparer.Ordinal).ToArray();

        // Ground truth first (and durable first): once the drop is on its way, this kernel no longer holds the
        // imports. A crash in between can only leave the DGC holding what the kernel forgot, never the reverse.
        if (imports is not null)
        {
            foreach (var k in krefs)
            {
                if (imports.Remove(k, out var label))
                {
                    Unhold(label);
                }
            }
        }

        Unlink(krefs);
        if (retire)
        {
            ToRetire(fromKernel).ExceptWith(krefs);
        }
        else
        {
            // Still recognized (a weak-map key, say) until a later drop-all with retire forgets it: only what it held
            // (the caller's view may be older than a retire since, and the DGC would refuse a second one as unknown).
            ToRetire(fromKernel).UnionWith(held);
        }

        await SaveAsync();
        var handle = Handle(fromKernel);
        try
        {
            if (retire)
            {
                // An import this kernel let go of in an earlier drop whose call to the DGC failed (its ground truth was
                // written first) may still be reachable there: that drop is finished first, or the retire is refused.
                held = [.. held, .. await StillReachedAsync(fromKernel, known.Except(held, StringComparer.Ordinal))];
            }

            if (held.Length > 0)
            {
                await handle.DropImportsAsync(held);
            }

            if (retire && known.Length > 0)
            {
                await handle.RetireImportsAsync(known);
            }
        }
        catch (DgcException e) when (e.Code == DgcError.UnknownRef)
        {
            await LogUnknownImportsAsync(fromKernel, known);
            throw;
        }
    }

    /// <summary>The kernel held (or was to retire) imports its DGC does not know: says where the kernel got each.</summary>
    private async Task LogUnknownImportsAsync(string fromKernel, IEnumerable<string> krefs)
    {
        var handle = Handle(fromKernel);
        foreach (var k in krefs)
        {
            LogUnknownImport(logger, Me, k, fromKernel, S.ImportOrigins.GetValueOrDefault(k) ?? "no message recorded", (await handle.TraceRefAsync(k)).ToString());
        }
    }

    /// <inheritdoc />
    public async Task RetireAsync(string fromKernel, string[] krefs)
    {
        // What the kernel holds again is not retired: a message that waited (its delivery had failed) and carried the
        // import handed it back after the caller's drop, and the DGC would refuse it as still reachable.
        var held = S.ImportsByRemote.GetValueOrDefault(fromKernel);
        krefs = [.. krefs.Where(k => held?.ContainsKey(k) != true)];
        ToRetire(fromKernel).ExceptWith(krefs);
        await SaveAsync();
        if (krefs.Length > 0)
        {
            await Handle(fromKernel).RetireImportsAsync(krefs);
        }
    }

    /// <inheritdoc />
    public async Task<int> DropAllAsync(string fromKernel, bool retire)
    {
        var all = await GetHeldImportsAsync(fromKernel);
        foreach (var chunk in all.Chunk(4096))
        {
            await DropAsync(fromKernel, chunk, retire);
        }

        if (retire && S.ToRetire.Remove(fromKernel, out var known) && known.Count > 0)
        {
            await SaveAsync();
            try
            {
                await Handle(fromKernel).RetireImportsAsync([.. known]);
            }
            catch (DgcException e) when (e.Code == DgcError.UnknownRef)
            {
                await LogUnknownImportsAsync(fromKernel, known);
                throw;
            }
        }

        return all.Length;
    }

    /// <inheritdoc />
    public async Task<string[]> WhichHeldAsync(string[] labels, string exporter, long exporterEpoch)
    {
        if (!S.ImportsByRemote.TryGetValue(exporter, out var imports) || imports.Count == 0)
        {
            return [];
        }

        if ((await Handle(exporter).GetFiguresAsync()).PeerEpoch < exporterEpoch)
        {
            // The exporter ended the session these imports belong to; they are revoked at the next contact.
            return [];
        }

        var held = imports.Values.ToHashSet(StringComparer.Ordinal);
        return [.. labels.Where(held.Contains)];
    }

    /// <summary>Logs both sides' DGC views of each prematurely released object, so the log tells which side forgot what. Best effort: a failure here must not fail the callback.</summary>
    private async Task LogPrematureDetailsAsync(string peer, IReferenceKernelGrain peerKernel, string[] labels)
    {
        foreach (var label in labels)
        {
            try
            {
                var kref = label[(Me.Length + 1)..];
                var mine = await Handle(peer).TraceRefAsync(kref);
                var theirs = await peerKernel.TraceImportAsync(label, Me);
                var counts = (await StoredExportAsync(kref)).CountsByRemote;
                LogPrematureDetail(logger, Me, label, string.Join(" ", counts.Select(c => $"{c.Key}={c.Value}")), mine.ToString(), theirs);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogPrematureDetail(logger, Me, label, "?", "?", $"could not be traced: {e.Message}");
            }
        }
    }

    /// <inheritdoc />
    public async Task<string> TraceImportAsync(string label, string exporter)
    {
        var kref = S.ImportsByRemote.GetValueOrDefault(exporter)?.FirstOrDefault(i => i.Value == label).Key;
        return kref is null ? "not held" : $"held as {kref}; {Me}'s handle: {await Handle(exporter).TraceRefAsync(kref)}";
    }

    /// <inheritdoc />
    public Task<string> DescribeRefAsync(string kref)
    {
        if (S.Own.TryGetValue(kref, out var own))
        {
            var sent = own.SentTo.Count == 0 ? "never sent" : $"sent to {string.Join(", ", own.SentTo.Order(StringComparer.Ordinal))}";
            return Task.FromResult(own.LocalRef
                ? $"{Me} owns {kref} and still holds a local reference to it ({sent})."
                : $"{Me} owns {kref} but holds no local reference: only remotes keep it alive ({sent}).");
        }

        foreach (var (remote, imports) in S.ImportsByRemote)
        {
            if (imports.TryGetValue(kref, out var label))
            {
                return Task.FromResult($"{Me} holds {kref} as an import from {remote} ({label}).");
            }
        }

        foreach (var (remote, krefs) in S.ToRetire)
        {
            if (krefs.Contains(kref))
            {
                return Task.FromResult($"{Me} no longer holds {kref} (an import from {remote}) but has not retired it yet.");
            }
        }

        return Task.FromResult(S.Retired.Contains(kref)
            ? $"{Me} owned {kref}; it was retired."
            : $"{Me} holds nothing named {kref}.");
    }

    /// <inheritdoc />
    public Task<KernelLedger> GetLedgerAsync() => Task.FromResult(new KernelLedger(
        Me,
        S.Own.Count,
        S.Exported.Count,
        S.DroppedEvents,
        S.Retired.Count,
        S.Premature,
        S.HeldLabels.Count,
        S.Revoked,
        S.ImportsRetired,
        S.Messages,
        [.. S.Exported.Where(k => !S.Retired.Contains(k)).Take(50)],
        S.BoydTicks,
        S.Confused,
        S.SessionsEnded,
        S.EffectRepeats,
        S.ToldTwice,
        S.CycleVerdicts,
        S.CycleMistakes));

    /// <inheritdoc />
    public async Task DeliverAsync(string fromKernel, string messageId, string method, string body, string[] krefs)
    {
        if (_failDeliveriesFrom.Contains(fromKernel))
        {
            throw new InvalidOperationException($"{Me}: delivery of message {messageId} from {fromKernel} failed on purpose (a test's fault injection).");
        }

        // A repeat is not counted (or acted on) again, but its refs are this kernel's again: the DGC kept their
        // receipts while the message waited, so an import let go since is held once more (the loop below is idempotent).
        // Unless the repeat comes late: a call that reported failure but ran after all, or a second activation of the
        // handle left by a silo crash, can bring it after the drop, revocation or retirement that followed it. An import
        // let go since is held again only if the DGC still counts it as reached (it kept the message's receipts).
        var repeat = Repeat(messageId);
        if (!repeat)
        {
            S.Messages++;
        }

        var labels = JsonSerializer.Deserialize<string[]>(body) ?? [];
        if (!S.ImportsByRemote.TryGetValue(fromKernel, out var imports))
        {
            S.ImportsByRemote[fromKernel] = imports = new(StringComparer.Ordinal);
        }

        var letGo = krefs.Where(k => !S.Own.ContainsKey(k) && !imports.ContainsKey(k)).Distinct(StringComparer.Ordinal).ToList();
        var gone = repeat ? letGo.Except(await StillReachedAsync(fromKernel, letGo), StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal) : [];
        if (gone.Count > 0)
        {
            LogLateRepeat(logger, Me, messageId, fromKernel, gone);
        }

        for (var i = 0; i < krefs.Length; i++)
        {
            if (gone.Contains(krefs[i]))
            {
                continue;
            }

            if (S.Own.ContainsKey(krefs[i]))
            {
                // One of ours, sent back: the kref must name the very object the label says.
                if (labels[i] != $"{Me}/{krefs[i]}")
                {
                    S.Confused++;
                }

                continue;
            }

            // A delivered ref is held by the kernel (a root) until it lets go of it again (DetachAsync).
            S.Detached.Remove(krefs[i]);
            if (_durable)
            {
                S.ImportOrigins[krefs[i]] = repeat ? $"{messageId} (a repeat)" : messageId;
            }

            if (imports.TryGetValue(krefs[i], out var known))
            {
                if (known != labels[i])
                {
                    S.Confused++;
                }
            }
            else
            {
                // Sent again after this kernel dropped it: reachable once more, so no longer only recognized.
                ToRetire(fromKernel).Remove(krefs[i]);
                imports[krefs[i]] = labels[i];
                _restartWindow?.Add((fromKernel, krefs[i]));
                S.HeldLabels[labels[i]] = S.HeldLabels.GetValueOrDefault(labels[i]) + 1;
            }
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task OnExportsDroppedAsync(string effectId, string[] krefs)
    {
        if (Repeat(effectId))
        {
            return;
        }

        S.DroppedEvents += krefs.Length;

        // Reports are judged one callback at a time, in the order they came: callbacks interleave, and one that read the
        // DGC's state before another could otherwise be judged after it.
        var turn = JudgeDroppedAfterAsync(_judged, effectId, krefs);
        _judged = turn;
        await turn;

        var byPeer = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var k in krefs)
        {
            if (S.Own.TryGetValue(k, out var o))
            {
                foreach (var peer in o.SentTo)
                {
                    if (!byPeer.TryGetValue(peer, out var list))
                    {
                        byPeer[peer] = list = [];
                    }

                    list.Add($"{Me}/{k}");
                }
            }
        }

        var remote = ServiceProvider.GetService<IRemoteGroundTruth>();
        foreach (var (peer, labels) in byPeer)
        {
            var epoch = (await Handle(peer).GetFiguresAsync()).Epoch;
            if (remote is not null && remote.IsRemote(peer))
            {
                // The importer lives in another cluster: its host is asked, without holding up this callback.
                remote.Check(peer, [.. labels], Me, epoch);
                continue;
            }

            // A peer whose session ended since the object was sent to it holds it no longer, as far as the DGC goes
            // (its imports are revoked at its next contact); the epoch says so too, unless this pair has since
            // cleared its state (it holds nothing for the peer), when it reads 0.
            var live = labels.Where(l => !S.Own.TryGetValue(l[(Me.Length + 1)..], out var o) || !o.EndedFor.Contains(peer)).ToArray();

            // The export may have been sent to the peer again since its release (this kernel does not wait for
            // "dropped" to send an object): a hold the DGC counts is not early. Asked twice, with the DGC's
            // count read after each answer: a hold that a send since the release explains is counted at one of them.
            var peerKernel = GrainFactory.GetGrain<IReferenceKernelGrain>(peer);
            var held = live.Length > 0 ? await peerKernel.WhichHeldAsync(live, Me, epoch) : [];
            if (held.Length > 0)
            {
                var counted = await CountedForAsync(peer, held);
                var heldAgain = await peerKernel.WhichHeldAsync([.. held.Where(l => !counted.Contains(l))], Me, epoch);
                var countedAgain = heldAgain.Length > 0 ? await CountedForAsync(peer, heldAgain) : [];
                var early = heldAgain.Where(l => !countedAgain.Contains(l)).ToArray();
                if (early.Length > 0 && await SessionEndingOrEndedAsync(peer, epoch))
                {
                    // The figures interleave with the handle's calls: this check can run while the handle ends its
                    // session with the peer (every hold of the peer let go, the new epoch not yet begun). A session
                    // that is ending is no longer live: the peer's imports of it are revoked at its next contact.
                    LogReleasedBySessionEnd(logger, Me, early, peer, epoch);
                    early = [];
                }

                S.Premature += early.Length;
                if (early.Length > 0)
                {
                    LogPremature(logger, Me, string.Join(", ", early), effectId, peer, epoch);
                    await LogPrematureDetailsAsync(peer, peerKernel, early);
                }

            }
        }

        await SaveAsync();
    }

    /// <summary>Judges each "dropped" of one callback, once the callback before has been judged: a report of the same release twice is the DGC's fault.</summary>
    private async Task JudgeDroppedAfterAsync(Task previous, string effectId, string[] krefs)
    {
        await EndedAsync(previous);
        foreach (var k in krefs)
        {
            if (S.Own.TryGetValue(k, out var told))
            {
                if (_underWayBefore.Remove(k))
                {
                    // A send another activation had under way may be counted after this "dropped" (see OnActivateAsync).
                    told.ToldDropped = false;
                    continue;
                }

                // The first report after a send made while a "dropped" was due: from the pair of the remote whose release
                // that was (an effect id begins with its pair's remote), it reports that release, before the send.
                if (told.DueFrom is { } due)
                {
                    told.DueFrom = null;
                    if (!_sending.ContainsKey(k) && effectId.StartsWith(due + "/", StringComparison.Ordinal))
                    {
                        LogDueBeforeSend(logger, Me, k, effectId);
                        continue;
                    }
                }

                // An object sent more than once may have been sent again after the release this reports and before
                // it arrived (through another remote's pair): if the DGC has it reachable now, this report is of an
                // earlier release, and says nothing about the one to come.
                var sendsBefore = told.Sends;
                ExportSnapshot? now = null;
                if (told.Sends > 1 && !_sending.ContainsKey(k)
                    && (now = await StoredExportAsync(k)).Reachable)
                {
                    continue;
                }

                // Which release the DGC has recorded as the last (for an object sent more than once, or by a durable
                // kernel: a read per export, which the memory benchmarks' objects, sent once, do not pay). A second
                // "dropped" for a different release means the object was sent in between by a send this activation did
                // not see: Orleans can briefly run a second activation of this kernel after a silo dies, and a send it
                // made reached the DGC while its write of the kernel's state was refused. Only the same release heard
                // twice is the DGC's fault.
                string? release = null;
                if (_durable || told.Sends > 1)
                {
                    now ??= await StoredExportAsync(k);
                    if (now.Reachable)
                    {
                        // Sent again since the release this reports (perhaps by a send this activation did not see):
                        // it cannot be told apart from the next release, so it is not held against it.
                        continue;
                    }

                    release = $"{now.DroppedBy} {now.DroppedByStream}/{now.DroppedBySeq}";
                    if (now.DroppedBy is { Length: > 0 } by && !effectId.StartsWith(by + "/", StringComparison.Ordinal))
                    {
                        // The last release was another remote's: this report, from its own remote's pair, is of an earlier
                        // release (before a send), come late; the last release's report is its own (heard or to come).
                        LogLateEarlierRelease(logger, Me, k, effectId, release);
                        continue;
                    }
                }

                if (told.Sends != sendsBefore)
                {
                    // A send of it began while this callback waited on the reads above (callbacks interleave with
                    // calls): this reports a release before that send, and says nothing about the one to come.
                    continue;
                }

                if (told.ToldDropped && !_sending.ContainsKey(k))
                {
                    if (release is not null && told.ToldDroppedRelease is { } before && release != before)
                    {
                        LogUnseenSend(logger, Me, k, effectId, release, told.ToldDroppedBy ?? "unknown", before);
                    }
                    else
                    {
                        S.ToldTwice++;
                        LogToldTwice(logger, Me, k, effectId, release ?? "not read", told.ToldDroppedBy ?? "unknown", told.ToldDroppedRelease ?? "not read");
                    }
                }

                told.ToldDropped = true;
                told.ToldDroppedBy = effectId;
                told.ToldDroppedRelease = release;
            }
        }
    }

    /// <inheritdoc />
    public async Task OnExportsRetiredAsync(string effectId, string[] krefs)
    {
        if (Repeat(effectId))
        {
            return;
        }

        S.Retired.UnionWith(krefs);
        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task OnImportsRevokedAsync(string remote, string effectId, string[] krefs)
    {
        if (Repeat(effectId))
        {
            // Not counted again, but applied again: a repeated message delivered just before it (both were repeated
            // after a crash) handed back imports it revoked. Forgetting is idempotent; those are to be retired again.
            var heldAgain = krefs.Where(k => S.ImportsByRemote.GetValueOrDefault(remote)?.ContainsKey(k) == true).ToArray();
            ForgetImports(remote, heldAgain);
            ToRetire(remote).UnionWith(heldAgain);
            await SaveAsync();
            return;
        }

        S.Revoked += krefs.Length;

        // Until this kernel retires them (its next drop-all with retire), the DGC refuses any use of them. Only what it
        // still held or had yet to retire: a retire of its own may have crossed the revocation, and the DGC forgot
        // those imports then (a second retire would be refused as unknown).
        var toRetire = ToRetire(remote);
        var known = krefs.Where(k => S.ImportsByRemote.GetValueOrDefault(remote)?.ContainsKey(k) == true || toRetire.Contains(k)).ToArray();
        ForgetImports(remote, krefs);
        toRetire.UnionWith(known);
        if (_durable)
        {
            foreach (var k in known)
            {
                S.ImportOrigins[k] = $"{S.ImportOrigins.GetValueOrDefault(k) ?? "no message recorded"}, revoked by {effectId}";
            }
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task OnImportsRetiredAsync(string remote, string effectId, string[] krefs)
    {
        if (Repeat(effectId))
        {
            // Applied again, not counted again (see OnImportsRevokedAsync).
            ForgetImports(remote, krefs);
            ToRetire(remote).ExceptWith(krefs);
            await SaveAsync();
            return;
        }

        S.ImportsRetired += krefs.Length;
        ForgetImports(remote, krefs);
        ToRetire(remote).ExceptWith(krefs);
        await SaveAsync();
    }

    /// <inheritdoc />
    public Task OnBringOutYourDeadAsync(string remote) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task OnSessionEndedAsync(string remote, string effectId, SessionEnd reason, string[] released)
    {
        if (Repeat(effectId))
        {
            return;
        }

        S.SessionsEnded++;
        foreach (var k in released)
        {
            if (S.Own.TryGetValue(k, out var o))
            {
                o.EndedFor.Add(remote);
            }
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public Task FailNextCallbacksAsync(int count)
    {
        _failCallbacks = count;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task FailDeliveriesFromAsync(string remote, bool fail)
    {
        _ = fail ? _failDeliveriesFrom.Add(remote) : _failDeliveriesFrom.Remove(remote);
        return Task.CompletedTask;
    }

    /// <summary>Which of <paramref name="krefs"/> the pair with <paramref name="remote"/> still has as imports the kernel reaches (not dropped, revoked, retired or unknown there).</summary>
    private async Task<List<string>> StillReachedAsync(string remote, IEnumerable<string> krefs)
    {
        var handle = Handle(remote);
        var reached = new List<string>();
        foreach (var kref in krefs.Distinct(StringComparer.Ordinal))
        {
            if (await handle.TraceRefAsync(kref) is { Role: RefRole.Import, Reachable: true })
            {
                reached.Add(kref);
            }
        }

        return reached;
    }

    /// <inheritdoc />
    public Task<string[]> GetHeardIdsAsync() => Task.FromResult(S.SeenEffects.Order(StringComparer.Ordinal).ToArray());

    /// <summary>Which of <paramref name="labels"/> (own objects) the DGC counts as sent to <paramref name="peer"/> now.</summary>
    private async Task<HashSet<string>> CountedForAsync(string peer, IEnumerable<string> labels)
    {
        var prefix = $"{Me}/";
        var own = labels.ToList();
        var snapshots = await Exports.SnapshotsAsync([.. own.Select(l => l[prefix.Length..])]);
        return [.. own.Zip(snapshots).Where(z => z.Second.CountsByRemote.GetValueOrDefault(peer) > 0).Select(z => z.First)];
    }

    /// <summary>Whether this effect or message was heard before (then it is counted and ignored); the DGC delivers both at least once.</summary>
    private bool Repeat(string effectId)
    {
        if (_failCallbacks > 0)
        {
            _failCallbacks--;
            throw new InvalidOperationException($"{Me}: callback for effect {effectId} failed on purpose (a test's fault injection).");
        }

        if (S.SeenEffects.Add(effectId))
        {
            return false;
        }

        S.EffectRepeats++;
        return true;
    }

    private void ForgetImports(string remote, string[] krefs)
    {
        if (S.ImportsByRemote.TryGetValue(remote, out var imports))
        {
            foreach (var k in krefs)
            {
                if (imports.Remove(k, out var label))
                {
                    Unhold(label);
                }
            }
        }

        Unlink(krefs);
    }

    private HashSet<string> ToRetire(string remote)
    {
        if (!S.ToRetire.TryGetValue(remote, out var set))
        {
            S.ToRetire[remote] = set = new(StringComparer.Ordinal);
        }

        return set;
    }

    private void Unhold(string label)
    {
        if (S.HeldLabels.TryGetValue(label, out var n))
        {
            if (n <= 1)
            {
                S.HeldLabels.Remove(label);
            }
            else
            {
                S.HeldLabels[label] = n - 1;
            }
        }
    }

    private string? FindImportLabel(string kref)
    {
        foreach (var imports in S.ImportsByRemote.Values)
        {
            if (imports.TryGetValue(kref, out var label))
            {
                return label;
            }
        }

        return null;
    }

    private IRemoteHandleGrain Handle(string remote) =>
        GrainFactory.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Me, remote));

    private Task SaveAsync()
    {
        S.GraphVersion++;
        if (!_durable)
        {
            return Task.CompletedTask;
        }

        // Callbacks interleave: writes go one after another (two at once would race on the ETag), and
        // each carries every change made before it started.
        _lastWrite = WriteAfterAsync(_lastWrite);
        return _lastWrite;
    }

    /// <summary>Waits until <paramref name="previous"/> has ended, however: whoever waited on it saw its error.</summary>
    private static async Task EndedAsync(Task previous)
    {
        try
        {
            await previous;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
        }
    }

    private async Task WriteAfterAsync(Task previous)
    {
        // Whoever waited on the earlier write saw its error; this write carries its changes too.
        await EndedAsync(previous);

        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException e)
        {
            // Another activation of this kernel (Orleans can briefly keep two after a silo dies) wrote its state since this
            // one read it: this one's view is stale, so it goes; the next call activates the kernel from what is stored.
            LogSuperseded(logger, Me, e.Message);
            DeactivateOnIdle();
            throw;
        }
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "{Kernel}: {Labels} reported dropped (effect {EffectId}) while {Peer} still holds them in session {Epoch} and the DGC does not count its hold (premature)")]
    private static partial void LogPremature(ILogger logger, string kernel, string labels, string effectId, string peer, long epoch);

    [LoggerMessage(EventId = 9008, Level = LogLevel.Information, Message = "{Kernel}: {Labels} reported dropped while {Peer} still held them, but the session {Epoch} with {Peer} was ending: released by the session end, not early")]
    private static partial void LogReleasedBySessionEnd(ILogger logger, string kernel, IEnumerable<string> labels, string peer, long epoch);

    /// <summary>Whether this kernel's session <paramref name="epoch"/> with <paramref name="peer"/> is ending or has ended (a new epoch began).</summary>
    private async Task<bool> SessionEndingOrEndedAsync(string peer, long epoch)
    {
        var now = await Handle(peer).GetFiguresAsync();
        return now.SessionEnding || now.Epoch != epoch;
    }

    [LoggerMessage(EventId = 9003, Level = LogLevel.Warning, Message = "{Kernel}: premature {Label}: counts {Counts}; exporter's handle: {Mine}; importer: {Theirs}")]
    private static partial void LogPrematureDetail(ILogger logger, string kernel, string label, string counts, string mine, string theirs);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Warning, Message = "{Kernel}: a drop or retire of imports from {Remote} was refused as unknown; {Kref} came in {Origin}; its handle: {Trace}")]
    private static partial void LogUnknownImport(ILogger logger, string kernel, string kref, string remote, string origin, string trace);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Information, Message = "{Kernel}: {Kref} reported dropped again (effect {EffectId}, release {Release}) with no send this activation saw, but for another release than before (effect {Before}, release {BeforeRelease}): a send of it made elsewhere (a second activation of this kernel) reached the DGC")]
    private static partial void LogUnseenSend(ILogger logger, string kernel, string kref, string effectId, string release, string before, string beforeRelease);

    [LoggerMessage(EventId = 9007, Level = LogLevel.Warning, Message = "{Kernel}: another activation of this kernel wrote its state since this one read it; this one deactivates: {Reason}")]
    private static partial void LogSuperseded(ILogger logger, string kernel, string reason);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Information, Message = "{Kernel}: message {MessageId} from {Remote} came again after its imports {Krefs} were let go; the DGC no longer counts them, so they are not taken back")]
    private static partial void LogLateRepeat(ILogger logger, string kernel, string messageId, string remote, IEnumerable<string> krefs);

    [LoggerMessage(EventId = 9009, Level = LogLevel.Information, Message = "{Kernel}: {Kref} reported dropped (effect {EffectId}) after it was sent again: the report of the release before that send, which was on its way")]
    private static partial void LogDueBeforeSend(ILogger logger, string kernel, string kref, string effectId);

    [LoggerMessage(EventId = 9010, Level = LogLevel.Information, Message = "{Kernel}: {Kref} reported dropped (effect {EffectId}) by a pair whose remote did not make the last release ({Release}): the report of an earlier release, come late")]
    private static partial void LogLateEarlierRelease(ILogger logger, string kernel, string kref, string effectId, string release);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "{Kernel}: {Kref} reported dropped again (effect {EffectId}, release {Release}) without being sent since it was last reported dropped (by effect {Before}, release {BeforeRelease})")]
    private static partial void LogToldTwice(ILogger logger, string kernel, string kref, string effectId, string release, string before, string beforeRelease);
}
