using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// The DGC protocol of one local kernel towards one remote kernel, as plain code over a
/// <see cref="PairState"/>. Inputs are kernel calls (<see cref="ExportRefsAsync"/>, <see cref="SendAsync"/>,
/// <see cref="DropImportsAsync"/>, ...), inbound frames (<see cref="ReceiveFrameAsync"/>) and clock ticks
/// (<see cref="OnFlushTickAsync"/>, <see cref="OnPingTickAsync"/>, <see cref="CheckLeaseAsync"/>);
/// everything it does outside its state goes through the <see cref="IPairEnvironment"/>.
/// </summary>
/// <remarks>
/// The rules live in small parts over the state: <see cref="CList"/> (wire ids),
/// <see cref="Outbound"/> (batches out), <see cref="InboundSequencer"/> (batches in, exactly once, in
/// order), <see cref="MessageDedup"/> (application messages once), <see cref="SessionTracker"/>
/// (incarnations, epochs, streams), <see cref="LeaseClock"/> and <see cref="Reconciler"/>. This class
/// sequences them and carries out their decisions. Calls must not run concurrently, except that a kernel
/// callback may call back in (the grain allows that call chain to re-enter).
/// </remarks>
public sealed partial class RemotePair
{
    private const int ExpireChunk = 4096;

    private readonly IPairEnvironment _env;
    private readonly PairSettings _settings;
    private readonly TimeProvider _clock;

    // Not persisted: per activation.
    private long _messageStream;
    private long _lastMessageSeq;
    private readonly Dictionary<long, long> _sentBack = [];

    // The next inbound batch, held back by its barrier, and how often it has arrived. Kept here, not in the
    // sequencer, so it survives the pair clearing its state between two arrivals.
    private (BatchFrame Batch, int Arrivals)? _waiting;
    private DateTimeOffset _lastSend;
    private bool _dirty;
    private int _inCallback;
    private bool _reminderOn;
    private bool _delivering;

    // Effects enqueued since delivery last ran: delivered as they are. Older ones (their callback failed, or
    // the pair was reactivated) are checked against the export owner first: see DeliverEffectsAsync.
    private readonly HashSet<string> _fresh = new(StringComparer.Ordinal);

    /// <summary>Creates the pair <paramref name="local"/> → <paramref name="remote"/> over <paramref name="state"/> (as loaded, or new).</summary>
    public RemotePair(string local, string remote, PairState state, PairSettings settings, TimeProvider clock, IPairEnvironment env)
    {
        Local = local;
        Remote = remote;
        _settings = settings;
        _clock = clock;
        _env = env;
        Lease = new LeaseClock(settings.Lease, settings.PingInterval, clock.GetUtcNow());
        Attach(state);
        if (state.LeaseRenewedAt != default && state.Exports.Count > 0)
        {
            // Reactivated (perhaps on another silo after a crash): the remote's lease runs from its last
            // renewal as written, which is at most a quarter lease behind the real one, so it counts
            // that quarter in the remote's favour and never lapses the lease early.
            var renewed = state.LeaseRenewedAt + LeaseWriteStep;
            Lease.Renew(renewed < Lease.RenewedAt ? renewed : Lease.RenewedAt);
        }
    }

    /// <summary>How far the remote's lease renewal may move on before it is written (see <see cref="PairState.LeaseRenewedAt"/>).</summary>
    private TimeSpan LeaseWriteStep => _settings.Lease / 4;

    /// <summary>When the remote's lease lapses if it is not renewed before (null: no exports, no lease): the host checks it then.</summary>
    public DateTimeOffset? LeaseLapsesAt => State.Exports.Count > 0 ? Lease.RenewedAt + Lease.Lease : null;

    /// <summary>The local kernel.</summary>
    public string Local { get; }

    /// <summary>The remote kernel.</summary>
    public string Remote { get; }

    /// <summary>The durable state (replaced by a fresh one when the pair clears).</summary>
    public PairState State { get; private set; } = null!;

    /// <summary>What this pair did since it was created (per activation, not durable).</summary>
    public PairCounters Counters { get; } = new();

    /// <summary>The c-list.</summary>
    public CList CList { get; private set; } = null!;

    /// <summary>The outbound queue.</summary>
    public Outbound Outbound { get; private set; } = null!;

    /// <summary>The inbound sequencer.</summary>
    public InboundSequencer Inbound { get; private set; } = null!;

    /// <summary>The sessions.</summary>
    public SessionTracker Sessions { get; private set; } = null!;

    /// <summary>The lease timing.</summary>
    public LeaseClock Lease { get; }

    private MessageDedup Messages { get; set; } = null!;

    private Reconciler Reconciler { get; set; } = null!;

    private DateTimeOffset Now => _clock.GetUtcNow();

    /// <summary>Whether the host should tick <see cref="OnFlushTickAsync"/>: something to send or to resend.</summary>
    public bool NeedsFlushTick => Outbound.HasWork || State.Outbox.Count > 0;

    /// <summary>
    /// How many times a batch held back by its barrier may arrive (the first time, then retransmissions)
    /// before the messages it waits for are given up as lost. Counting arrivals rather than time keeps the
    /// wait tied to the sender's retransmission (about this many <c>RetransmitAfter</c>s) and to BOYD.
    /// </summary>
    private const int BarrierArrivals = 3;

    private static readonly IReadOnlyDictionary<string, long> NoPendingDeliveries = new Dictionary<string, long>();

    /// <summary>Whether the lease reminder should run: the pair holds something.</summary>
    public bool HoldsAnything => CList.HoldsAnything;

    /// <summary>
    /// Call once after creating the pair: a pair with no state of its own recalls what its manager kept of
    /// the remote; one that holds anything turns its lease reminder on. Effects waiting for the kernel are
    /// delivered at the end, unless <paramref name="deliverNow"/> is false: a host that activates the pair
    /// inside its own activation (a grain's <c>OnActivateAsync</c>) must not call the kernel from there, since
    /// a callback that calls back into the pair would wait for that activation to finish. It then calls
    /// <see cref="DeliverWaitingEffectsAsync"/> once activated.
    /// </summary>
    public async Task ActivateAsync(bool deliverNow = true)
    {
        _delivering = !deliverNow; // holds back the deliveries that finishing a crashed activation's work would start
        try
        {
            await ActivateCoreAsync();
        }
        finally
        {
            _delivering = false;

            // What finishing an earlier activation's work recorded is as late as what that activation left waiting
            // (the kernel may have sent and released the object again since): each is checked again when delivered.
            _fresh.Clear();
        }

        if (deliverNow)
        {
            await DeliverWaitingEffectsAsync();
        }
    }

    /// <summary>
    /// Delivers the effects waiting for the kernel (after <c>ActivateAsync(deliverNow: false)</c>), then settles as a
    /// flush tick does: a pair left holding nothing once they are told clears its row then, not at some later call.
    /// </summary>
    public async Task DeliverWaitingEffectsAsync()
    {
        await DeliverEffectsAsync();
        await SettleAsync();
    }

    private async Task ActivateCoreAsync()
    {
        if (!Sessions.Open && State.PeerIncarnation == 0)
        {
            var recall = await _env.RecallRemoteAsync();
            recall.Memory?.RestoreInto(State);
            if (recall.Listed)
            {
                // No row, yet listed: an earlier activation died after clearing its row (or after opening a session,
                // before its first write), before its manager forgot the remote. Finish that now.
                await _env.ForgetRemoteAsync(PeerMemory.Of(State));
            }
        }
        else if (State.EndingSession.Count > 0)
        {
            // The previous activation crashed while ending the remote's session: finish it.
            await FinishEndingSessionAsync();
            await SaveAsync();
        }
        else if (Sessions.Open && State.IsEmpty)
        {
            // A row that holds nothing (left by a crash between a write and the clear): clear it now.
            await SaveAsync();
        }

        if (State.Applying is { } applying)
        {
            // The previous activation crashed while applying an inbound batch: finish it before anything else.
            await FinishApplyingAsync(applying);
        }

        if (HoldsAnything)
        {
            await SyncReminderAsync(true);
        }

        // Effects a previous activation wrote but the kernel may not have heard (it crashed, or the callback failed)
        // are delivered by the caller (ActivateAsync).
    }

    /// <summary>Final flush when the host deactivates the pair.</summary>
    public Task DeactivateAsync() => Outbound.AnyQueued(_ => true) ? FlushCoreAsync(resend: false) : Task.CompletedTask;

    /// <summary>Translate on send: counts each own kref (durably, before this returns) and returns the wire refs as the remote reads them.</summary>
    public async Task<string[]> ExportRefsAsync(string[] krefs) => Texts(await ExportCoreAsync(krefs, carrierStream: 0, carrierSeq: 0));

    /// <summary>Translate on receive for a kernel that carries its own messages.</summary>
    public Task<string[]> ImportRefsAsync(string[] wireRefs)
    {
        ArgumentNullException.ThrowIfNull(wireRefs);
        var parsed = new WireRef[wireRefs.Length];
        for (var i = 0; i < wireRefs.Length; i++)
        {
            if (!WireRef.TryParse(wireRefs[i], out parsed[i]))
            {
                throw Refuse(DgcError.InvalidInput, $"'{wireRefs[i]}' is not a wire ref; expected ro+N or ro-N.");
            }
        }

        return ImportCarriedAsync(parsed);
    }

    /// <summary>Translates <paramref name="krefs"/> and sends an application message.</summary>
    public async Task<string[]> SendAsync(string method, string body, string[] krefs)
    {
        if (string.IsNullOrEmpty(method) || method.StartsWith("dgc:", StringComparison.Ordinal))
        {
            throw Refuse(DgcError.InvalidInput, $"'{method}' cannot be an application method (empty, or reserved dgc: prefix).");
        }

        if (_messageStream == 0)
        {
            _messageStream = await _env.NextEpochAsync();
        }

        // Each export records this message as its carrier, written before the message leaves, so
        // reconciliation can fence it off if it is lost, also after a reactivation. Its number is taken
        // only once the refs are accepted: a refused send leaves no gap in the message numbers.
        var seq = _lastMessageSeq + 1;
        var refs = await ExportCoreAsync(krefs, _messageStream, seq);
        _lastMessageSeq = seq;
        var message = new AppFrame(_messageStream, seq, method, body ?? "", refs);
        foreach (var r in message.Refs)
        {
            if (!r.SenderExport)
            {
                // A send-back: a later drop of this import must not overtake this message (see BarrierAsync).
                _sentBack[r.Id] = message.Seq;
            }
        }

        await SendFrameAsync(message);
        return Texts(refs);
    }

    /// <summary>The refs as the kernel gets them back: as the remote reads them.</summary>
    private static string[] Texts(WireRef[] refs) => [.. refs.Select(r => r.ToString())];

    /// <summary>
    /// The kernel no longer reaches these imports: queues one dropRef each with every receipt delivered to it so
    /// far. Receipts of messages still waiting to be delivered (their callback failed) are kept: the kernel
    /// will hold the import again when it hears them, as if its drop had crossed them.
    /// </summary>
    public async Task DropImportsAsync(string[] krefs)
    {
        var ids = ResolveImports(krefs, out _);
        var pending = PendingDeliveries();
        foreach (var id in ids)
        {
            var entry = State.Imports[id];
            if (!entry.Reachable)
            {
                throw Refuse(DgcError.OverRelease, $"{entry.Kref} (from {Remote}) was already dropped.");
            }
        }

        foreach (var id in ids)
        {
            var entry = State.Imports[id];
            var waiting = pending.GetValueOrDefault(entry.Kref);
            var delivered = entry.Receipts - waiting;
            if (delivered <= 0)
            {
                // Every receipt is in a message still to be delivered (one whose callback reported failure may
                // have reached the kernel all the same): its delivery hands the import to the kernel again.
                continue;
            }

            Outbound.Enqueue(new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(id), delivered));
            entry.Receipts = waiting;
            entry.Reachable = waiting > 0;
            CList.TouchedImport(id);
        }

        await SaveAndMaybeFlushAsync();
    }

    /// <summary>
    /// How many receipts of each import kref are in messages still waiting in the outbox to be delivered to the
    /// kernel: the kernel has not heard of them, so its drop does not release them. (No allocation when none waits.)
    /// </summary>
    private IReadOnlyDictionary<string, long> PendingDeliveries()
    {
        Dictionary<string, long>? pending = null;
        foreach (var effect in State.Outbox.Where(e => e.Kind == EffectKind.MessageDelivered))
        {
            pending ??= new(StringComparer.Ordinal);
            foreach (var kref in effect.Krefs)
            {
                pending[kref] = pending.GetValueOrDefault(kref) + 1;
            }
        }

        return pending ?? NoPendingDeliveries;
    }

    /// <summary>The kernel forgets these dropped imports: queues retire each. Revoked ones are forgotten locally.</summary>
    public async Task RetireImportsAsync(string[] krefs)
    {
        var ids = ResolveImports(krefs, out var revoked);
        var pending = PendingDeliveries();
        foreach (var id in ids)
        {
            var entry = State.Imports[id];
            if (entry.Reachable && entry.Receipts > pending.GetValueOrDefault(entry.Kref))
            {
                throw Refuse(DgcError.RetireBeforeDrop, $"{entry.Kref} (from {Remote}) is still reachable; drop it before retiring it.");
            }
        }

        foreach (var id in ids)
        {
            if (pending.ContainsKey(State.Imports[id].Kref))
            {
                // A message still to be delivered names it: the kernel will hear of it again, so it stays.
                continue;
            }

            Outbound.Enqueue(new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(id)));
            CList.ForgetImport(id);
        }

        // A revoked import names nothing at the exporter any more, so forgetting it is local (unless a message still
        // to be delivered names it: the kernel will hear of it, and of its revocation, again).
        foreach (var kref in revoked.Where(k => !pending.ContainsKey(k)))
        {
            State.Revoked.Remove(kref);
            State.Changes.Unrevoked(kref);
        }

        await SaveAndMaybeFlushAsync();
    }

    /// <summary>Flushes the queue and resends every unacknowledged batch.</summary>
    public async Task FlushAsync()
    {
        await FlushCoreAsync(resend: true);
        await SaveAsync();
    }

    /// <summary>Bring out your dead: flush, resend, ping, check the lease, and (when asked) ask the remote too.</summary>
    public async Task BringOutYourDeadAsync(bool askRemote)
    {
        await FlushCoreAsync(resend: true);
        await CheckLeaseCoreAsync(forcePing: true);
        if (askRemote && Sessions.Open)
        {
            await SendFrameAsync(new BringOutYourDeadFrame());
        }

        await SaveAsync();
    }

    /// <summary>The lease check (the reminder's tick): ping if due, and end the remote's session if its lease lapsed.</summary>
    public async Task CheckLeaseAsync()
    {
        await DeliverEffectsAsync();
        await CheckLeaseCoreAsync(forcePing: false);
        await SettleAsync();
        if (!HoldsAnything)
        {
            await SyncReminderAsync(false);
        }
    }

    /// <summary>This kernel restarted without its memory: forget the old incarnation's imports and exports, start anew, greet the remote.</summary>
    public async Task ResetAsync(long incarnation)
    {
        if (!Sessions.Open || incarnation <= State.Incarnation)
        {
            return;
        }

        await EndSessionAsync(SessionEnd.LocalRestart);

        // The remote's session goes on: a retire of one of the old incarnation's imports may still come, and is
        // a crossing to ignore, not an unknown ref.
        var highestImport = State.HighestImportId;
        await RevokeImportsAsync(notify: false);
        State.HighestImportId = highestImport;
        State.Revoked.Clear();
        State.Changes.RevokedCleared();

        // Effects the old incarnation never acknowledged name krefs the new one never had: told them, it would
        // retire imports this reset forgot (refused as unknown).
        State.Outbox.Clear();
        Outbound.Reset();
        Sessions.Restart(incarnation);
        await WriteAsync();

        // Greet the remote, so it releases the old incarnation's holds now rather than when the lease lapses.
        await SendFrameAsync(new PongFrame(PongStatus.NewSession));
        await SaveAsync();
    }

    /// <summary>The kernel deleted these objects: the remote, which may still recognize them, is told to retire them.</summary>
    public async Task RetireExportsAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        var exported = new List<(string Kref, long Id)>();
        foreach (var kref in krefs)
        {
            if (CList.TryGetExportId(kref, out var id))
            {
                exported.Add((kref, id));
            }
        }

        // The batch that made an object deletable may be applied at its owner and not yet here; once the export is
        // forgotten, that batch's resend would name an object this pair no longer knows (refused). Finishing it finds
        // the owner's record deleted and forgets the export too; the remote is told to retire it all the same.
        await FinishPartAppliedAsync();
        foreach (var (kref, id) in exported)
        {
            if (CList.TryGetExportId(kref, out var still) && still == id)
            {
                CList.ForgetExport(id);
            }

            Outbound.Enqueue(new DgcOp(DgcOpKind.Retire, WireRef.ToSenderExport(id)));
        }

        await SaveAndMaybeFlushAsync();
    }

    /// <summary>One frame from the remote (JSON). Malformed frames are refused whole and change nothing.</summary>
    public async Task ReceiveFrameAsync(string frameJson)
    {
        Counters.FramesReceived++;
        WireFrame frame;
        try
        {
            frame = WireCodec.Decode(frameJson);
        }
        catch (FormatException e)
        {
            CountRejected(1, e.Message);
            return;
        }

        if (OverLimits(frame) is { } refused)
        {
            CountRejected(refused.Count, refused.Reason);
            return;
        }

        // A session end that stopped part way (a call it made failed, and the host let the pair live on) is finished
        // before the remote is heard: its holds may be let go already, so a frame of that session must find it ended.
        await FinishEndingSessionAsync();
        if (!await AcceptSessionAsync(frame.Session))
        {
            return;
        }

        switch (frame)
        {
            case BatchFrame batch:
                await ReceiveBatchAsync(batch, frameJson.Length);
                break;
            case AckFrame ack:
                // Not written by itself: after a crash the batch would only be resent and ignored as a
                // duplicate, so the next write (or the clear, once the pair is empty) carries it.
                Outbound.Acknowledge(ack.Stream, ack.Seq);
                break;
            case BringOutYourDeadFrame:
                // Collect, flush and renew, but never send a BOYD back: that would ping-pong forever.
                await NotifyKernelAsync(new BoydRequested());
                await FlushCoreAsync(resend: true);
                await CheckLeaseCoreAsync(forcePing: true);
                break;
            case PingFrame ping:
                var status = Reconciler.Compare(ping);
                if (status == PongStatus.Match)
                {
                    Lease.Agreed(Now);
                }

                await SendFrameAsync(new PongFrame(status));
                break;
            case PongFrame pong when pong.Status == PongStatus.Behind:
                await FlushCoreAsync(resend: true);
                break;
            case PongFrame pong when pong.Status == PongStatus.Mismatch:
                await SendImportListAsync();
                break;
            case ImportListFrame list:
                await ReconcileAsync(list);
                break;
            case FenceFrame fence:
                await AcceptFenceAsync(fence);
                break;
            case CycleAskFrame or CycleReplyFrame:
                await ReceiveCycleAsync(frame);
                break;
            case AppFrame app:
                await ReceiveAppFrameAsync(app);
                break;
        }

        await SettleAsync();
    }

    /// <summary>The flush timer's tick: seal queued operations, or resend what waited too long for an ack.</summary>
    public async Task OnFlushTickAsync()
    {
        if (State.Outbox.Count > 0)
        {
            await DeliverEffectsAsync();
            await SettleAsync();
        }

        if (Outbound.AnyQueued(_ => true))
        {
            await FlushCoreAsync(resend: false);
        }
        else if (State.Unacked.Count > 0 && Now - _lastSend >= _settings.RetransmitAfter)
        {
            await FlushCoreAsync(resend: true);
        }
    }

    /// <summary>The ping timer's tick: renew this kernel's lease at the remote while it imports anything.</summary>
    public async Task OnPingTickAsync()
    {
        // The timer sets the cadence; comparing with the last ping here would skip every other tick by a hair.
        if (State.Imports.Count > 0)
        {
            await SendPingAsync();
        }
    }

    private void Attach(PairState state)
    {
        State = state;
        CList = new CList(state);
        Outbound = new Outbound(state, _settings.MaxBatchSize);
        Inbound = new InboundSequencer(state, _settings.ReceiveWindow, _settings.Limits.MaxBufferedBytes);
        Messages = new MessageDedup(state, _settings.ReceiveWindow * 16);
        Sessions = new SessionTracker(state);
        Reconciler = new Reconciler(state, CList, _settings.Lease);
    }

    private async Task<WireRef[]> ExportCoreAsync(string[] krefs, long carrierStream, long carrierSeq)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            RequireKref(kref);
            if (State.Revoked.Contains(kref))
            {
                throw Refuse(DgcError.Revoked, $"{kref} was an import from {Remote} that was revoked (its lease lapsed or {Remote} restarted); it names nothing any more.");
            }

            if (CList.TryGetImportId(kref, out var importId) && !State.Imports[importId].Reachable)
            {
                throw Refuse(DgcError.UnknownRef, $"{kref} is an import from {Remote} that this kernel dropped; it cannot be sent.");
            }
        }

        var newExports = krefs.Distinct(StringComparer.Ordinal).Count(k => !CList.TryGetImportId(k, out _) && !CList.TryGetExportId(k, out _));
        if (State.Exports.Count + newExports > _settings.Limits.MaxExports)
        {
            throw Refuse(DgcError.QuotaExceeded, $"{newExports} new exports to {Remote} would pass this pair's quota of {_settings.Limits.MaxExports} live exports (Dgc:Limits:MaxExports).");
        }

        // Once this send made a new hold, the batch's resend would be applied to that hold again.
        await FinishPartAppliedAsync();

        // A session end that stopped part way is finished first: the refs then go out in the new session, not in
        // the ended one, whose exports are about to be let go.
        await FinishEndingSessionAsync();

        await EnsureSessionAsync();
        NoteRefsMoved(krefs);
        if (State.Exports.Count == 0)
        {
            // Exports resume: the remote had nothing to renew its lease for, so its lease starts now.
            RenewLease(write: true);
            Lease.Agreed(Now);
        }

        var wire = new WireRef[krefs.Length];
        var sends = new Dictionary<string, long>(krefs.Length, StringComparer.Ordinal);
        var grew = false;
        var now = Now;
        for (var i = 0; i < krefs.Length; i++)
        {
            var kref = krefs[i];
            if (CList.TryGetImportId(kref, out var importId))
            {
                // Sending an object back to the kernel that exported it: it reads ro-N, its own export.
                wire[i] = WireRef.ToReceiverExport(importId);
                continue;
            }

            var id = CList.ExportIdOf(kref, out var added);
            grew |= added;
            State.Exports[id].Reachable = true;
            CList.RecordSend(id, now, carrierStream, carrierSeq);
            wire[i] = WireRef.ToSenderExport(id);
            sends[kref] = sends.GetValueOrDefault(kref) + 1;
        }

        if (sends.Count > 0)
        {
            // The c-list entry (with the message that carries it) is durable before the count, so a counted
            // export always has a wire id, and a lost message can always be named.
            await WriteAsync();
        }

        if (sends.Count > 0)
        {
            await _env.RecordSentAsync(sends);
        }

        _env.Report(new RefsExported(krefs.Length));
        if (grew)
        {
            await SyncReminderAsync(true);
        }

        return wire;
    }

    /// <summary>
    /// Refs the kernel carried itself have no frame around them: each says by its id which session of its
    /// exporter it belongs to. One of an older session than this pair knows is refused as stale; one of a
    /// newer session means the exporter started it: imports of the old one are revoked and the new one adopted.
    /// </summary>
    private async Task<string[]> ImportCarriedAsync(WireRef[] refs)
    {
        var epochs = refs.Where(r => r.SenderExport).Select(r => SessionTracker.EpochOf(r.Id)).Distinct().ToList();
        if (epochs.Count > 1 || (epochs.Count == 1 && epochs[0] < State.PeerEpoch))
        {
            throw RefuseStale($"{string.Join(", ", refs.Where(r => r.SenderExport))}: not all of {Remote}'s current session; refs of an ended session name nothing.");
        }

        if (epochs.Count == 1 && epochs[0] > State.PeerEpoch)
        {
            if (State.PeerEpoch != 0)
            {
                await RevokeImportsAsync(notify: true);
            }

            _dirty |= Sessions.AdoptEpoch(epochs[0]);
        }

        return await ImportCoreAsync(refs, senderSessionValid: true, localSessionValid: true);
    }

    /// <summary>
    /// Imports <paramref name="refs"/> and writes the result; given the <paramref name="message"/> that carried
    /// them, queues its delivery to the kernel as an effect in the same write, so the kernel hears of every
    /// import the pair records, even if this activation dies before it is told.
    /// </summary>
    private async Task<string[]> ImportCoreAsync(WireRef[] refs, bool senderSessionValid, bool localSessionValid, AppFrame? message = null)
    {
        var fresh = new HashSet<long>(refs.Length);
        foreach (var r in refs)
        {
            if (!r.SenderExport)
            {
                if (!localSessionValid || !Sessions.IsCurrentLocalId(r.Id))
                {
                    throw RefuseStale($"{r} names an object of an earlier session of {Local} towards {Remote}; that session ended.");
                }

                if (!State.Exports.TryGetValue(r.Id, out var sentBack))
                {
                    throw Refuse(DgcError.UnknownRef, $"{r} names no object this kernel ({Local}) exported to {Remote}.");
                }

                if (!sentBack.Reachable)
                {
                    // The remote sent the object back and then dropped it, and the drop arrived first: this
                    // kernel may have let the object go. (Messages sent with SendAsync cannot be overtaken:
                    // their drop waits for them; a message the kernel carries itself can.)
                    throw Refuse(DgcError.UnknownRef, $"{r} ({sentBack.Kref}) was dropped by {Remote} before this message carrying it arrived; it may be gone.");
                }
            }
            else if (!senderSessionValid || !Sessions.IsCurrentPeerId(r.Id))
            {
                throw RefuseStale($"{r} is from an earlier session of {Remote}; that session ended.");
            }
            else if (!State.Imports.ContainsKey(r.Id))
            {
                fresh.Add(r.Id);
            }
        }

        if (State.Imports.Count + fresh.Count > _settings.Limits.MaxImports)
        {
            throw Refuse(DgcError.QuotaExceeded, $"{fresh.Count} new imports from {Remote} would pass this pair's quota of {_settings.Limits.MaxImports} live imports (Dgc:Limits:MaxImports).");
        }

        await EnsureSessionAsync();
        var newKrefs = fresh.Count > 0 ? await _env.AllocateKrefsAsync(fresh.Count) : [];
        var next = 0;
        var krefs = new string[refs.Length];
        HashSet<string>? returned = null; // this kernel's own objects sent back (most messages have none)
        for (var i = 0; i < refs.Length; i++)
        {
            var r = refs[i];
            if (!r.SenderExport)
            {
                krefs[i] = State.Exports[r.Id].Kref;
                (returned ??= new(StringComparer.Ordinal)).Add(krefs[i]);
                continue;
            }

            if (!State.Imports.TryGetValue(r.Id, out var entry))
            {
                entry = CList.AddImport(r.Id, newKrefs[next++]);
                Outbound.Enqueue(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(r.Id)));
            }

            entry.Receipts++;
            entry.Reachable = true;
            CList.TouchedImport(r.Id);
            krefs[i] = entry.Kref;
        }

        NoteRefsMoved(krefs);
        if (message is not null)
        {
            EnqueueMessage(message, krefs, returned);
        }

        _env.Report(new RefsImported(refs.Length));
        await SaveAndMaybeFlushAsync();
        if (fresh.Count > 0)
        {
            await SyncReminderAsync(true);
        }

        return krefs;
    }

    private async Task ReceiveAppFrameAsync(AppFrame app)
    {
        if (!Messages.FirstDelivery(app.Stream, app.Seq))
        {
            Counters.DuplicateMessages++;
            return;
        }

        _dirty = true;
        try
        {
            await ImportCoreAsync([.. app.Refs], Sessions.PeerRefsValid(app.Session), Sessions.LocalRefsValid(app.Session), app);
        }
        catch (DgcException)
        {
            // Already counted and reported; a forged or stale ref never reaches the kernel.
            return;
        }

        // Written with the imports; delivered until the kernel's callback returns (in order with the other effects).
        await DeliverEffectsAsync();
        if (_waiting is { } waiting && waiting.Batch.Stream == State.PeerStream && waiting.Batch.Seq == State.HighestApplied + 1
            && Messages.Reached(waiting.Batch.AfterStream, waiting.Batch.AfterSeq))
        {
            // This message was the last one a held-back batch waited for.
            await ApplyInOrderAsync(waiting.Batch);
        }
    }

    /// <summary>Resolves import krefs for drop/retire; revoked ones are returned apart, they need nothing on the wire.</summary>
    private List<long> ResolveImports(string[] krefs, out HashSet<string> revoked)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        var ids = new List<long>(krefs.Length);
        var seen = new HashSet<long>();
        revoked = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kref in krefs)
        {
            RequireKref(kref);
            if (State.Revoked.Contains(kref))
            {
                revoked.Add(kref);
                continue;
            }

            if (!CList.TryGetImportId(kref, out _) && State.Outbox.Exists(e => e.Kind == EffectKind.ImportsRetired && e.Krefs.Contains(kref)))
            {
                // The exporter deleted it; the kernel has not heard yet (that callback is to be repeated).
                // Dropping or retiring it needs nothing more.
                continue;
            }

            if (!CList.TryGetImportId(kref, out var id))
            {
                throw Refuse(DgcError.UnknownRef, $"{kref} is not an import from {Remote}.");
            }

            if (seen.Add(id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    /// <summary>
    /// Checks a frame's session against ours: drops frames of a dead incarnation, treats a new incarnation
    /// as a lapsed session, revokes imports of an ended session, and renews the remote's lease.
    /// </summary>
    private async Task<bool> AcceptSessionAsync(SessionHeader h)
    {
        var verdict = Sessions.Classify(h);
        if (verdict.Stale)
        {
            Counters.StaleOps++;
            _env.Report(new StaleIgnored(1, $"a frame of incarnation {h.Incarnation}, succeeded by {State.PeerIncarnation}"));
            return false;
        }

        if (verdict.PeerRestarted)
        {
            // The remote lost its memory: its holds on our exports are gone. Its exports to us belong to
            // sessions it ended when it restarted; the epoch check below revokes them (epochs never go back
            // across restarts, so an import of its new incarnation's session, carried by the kernel before
            // this frame, is kept).
            _env.Report(new PeerRestarted(State.PeerIncarnation, h.Incarnation));
            if (State.Exports.Count > 0)
            {
                // The new incarnation is adopted with the list of exports the session end lets go (one write): if the
                // end stops part way, the remote's next frame is not taken for another restart, which would end the
                // session that sends since then belong to (the end is finished by the next send or lease check).
                State.PeerIncarnation = h.Incarnation;
                await EndSessionAsync(SessionEnd.PeerRestarted);
            }
        }

        if (verdict.PeerEpochEnded)
        {
            // Revoking also drops the queued operations naming the ended session's wire ids: in the
            // new session the same ids name other objects, so they must never go under its header.
            await RevokeImportsAsync(notify: true);
        }

        _dirty |= Sessions.Adopt(h);
        if (verdict.Renews)
        {
            RenewLease();
        }

        return true;
    }

    /// <summary>
    /// A frame over this pair's limits, or naming a session value no honest peer can reach, is refused
    /// whole before anything else looks at it (<see cref="PairLimits"/>).
    /// </summary>
    private (int Count, string Reason)? OverLimits(WireFrame frame)
    {
        var limits = _settings.Limits;
        var h = frame.Session;
        var stream = frame switch
        {
            BatchFrame b => b.Stream,
            AppFrame a => a.Stream,
            PingFrame p => p.Stream,
            ImportListFrame l => l.Stream,
            FenceFrame f => f.Stream,
            _ => 0,
        };
        if (Math.Max(h.Epoch, Math.Max(h.Peer, stream)) > PairLimits.MaxSessionValue || h.Incarnation > PairLimits.MaxIncarnation)
        {
            return (1, $"a session or stream above {PairLimits.MaxSessionValue}, or an incarnation above {PairLimits.MaxIncarnation} (inc {h.Incarnation}, epoch {h.Epoch}, peer {h.Peer}, stream {stream}): no honest peer gets there.");
        }

        return frame switch
        {
            BatchFrame b when b.Ops.Count > limits.MaxOpsPerBatch => (b.Ops.Count, $"batch {b.Seq} has {b.Ops.Count} operations; at most {limits.MaxOpsPerBatch} are taken (Dgc:Limits:MaxOpsPerBatch)."),
            AppFrame a when a.Refs.Count > limits.MaxRefsPerMessage => (a.Refs.Count, $"message {a.Seq} carries {a.Refs.Count} refs; at most {limits.MaxRefsPerMessage} are taken (Dgc:Limits:MaxRefsPerMessage)."),
            _ => null,
        };
    }

    private async Task ReceiveBatchAsync(BatchFrame batch, long bytes)
    {
        var verdict = Inbound.Accept(batch, out var changed, bytes);
        _dirty |= changed;
        switch (verdict)
        {
            case BatchVerdict.StaleStream:
                // A late copy from a stream the remote has left. Acknowledge it, so a sender somehow still on
                // that stream stops resending; its operations belong to a session that is over.
                Counters.StaleOps += batch.Ops.Count;
                _env.Report(new StaleIgnored(batch.Ops.Count, $"batch {batch.Seq} of stream {batch.Stream}, succeeded by stream {State.PeerStream}"));
                await SendFrameAsync(new AckFrame(batch.Stream, batch.Seq));
                return;
            case BatchVerdict.Duplicate:
                Counters.DuplicateBatches++;
                await SendFrameAsync(new AckFrame(State.PeerStream, State.HighestApplied));
                return;
            case BatchVerdict.Buffered:
                return;
        }

        await ApplyInOrderAsync(batch);
    }

    /// <summary>
    /// Applies <paramref name="batch"/>, the next in order, and the buffered ones after it, each once its
    /// barrier is reached: every message of the sender it names was delivered, or waited for through
    /// <see cref="BarrierArrivals"/> arrivals of the batch and then given up (refused if it ever arrives).
    /// Then acknowledges.
    /// </summary>
    private async Task ApplyInOrderAsync(BatchFrame batch)
    {
        for (BatchFrame? next = batch; next is not null; next = Inbound.TakeNext())
        {
            if (!Messages.Reached(next.AfterStream, next.AfterSeq))
            {
                _dirty = true;
                _waiting = _waiting is { } w && w.Batch.Stream == next.Stream && w.Batch.Seq == next.Seq ? (next, w.Arrivals + 1) : (next, 1);
                if (_waiting.Value.Arrivals < BarrierArrivals)
                {
                    break;
                }

                Messages.Fence(next.AfterStream, next.AfterSeq);
            }

            _waiting = null;
            await ApplyBatchAsync(next);
        }

        Inbound.DropApplied();
        await SendFrameAsync(new AckFrame(State.PeerStream, State.HighestApplied));
    }

    private async Task ApplyBatchAsync(BatchFrame batch)
    {
        if (State.Applying is null && batch.Ops.Any(op => op.Kind != DgcOpKind.AddRef))
        {
            // Durable before the batch changes anything (the c-list here, the export owners): see
            // PairState.Applying. Only addRefs change no count, and nothing a repeat could undo.
            State.Applying = WireCodec.Encode(batch);
            await WriteAsync();
        }

        // Refs are scoped to the sessions the batch was written in; ops of an ended session are void.
        var localSessionValid = Sessions.LocalRefsValid(batch.Session);
        var senderSessionValid = Sessions.PeerRefsValid(batch.Session);
        var perExport = new Dictionary<string, (List<DgcOpKind> Ops, List<long> Counts)>(StringComparer.Ordinal);
        var retiring = new HashSet<long>();
        var refused = new List<string>(); // reported once per batch, however many: a flood is one line
        foreach (var op in batch.Ops)
        {
            if (op.Ref.SenderExport)
            {
                ApplyRetireOfImport(batch, op, senderSessionValid, localSessionValid, retiring, refused);
                continue;
            }

            if (!localSessionValid)
            {
                Counters.StaleOps++;
                continue;
            }

            if (!State.Exports.TryGetValue(op.Ref.Id, out var export))
            {
                if (op.Kind != DgcOpKind.Retire || op.Ref.Id >= State.NextExportId)
                {
                    refused.Add($"{op.Ref} names no object this kernel exported to {Remote}.");
                }

                // Otherwise a retire crossed this kernel's own retire (it deleted the object).
                continue;
            }

            if (op.Kind == DgcOpKind.AddRef)
            {
                // The remote confirms the import: the export's counts do not change, so its owner is not asked
                // (and nothing is written: the flag is for operators).
                export.Confirmed = true;
                continue;
            }

            if (!perExport.TryGetValue(export.Kref, out var list))
            {
                perExport[export.Kref] = list = ([], []);
            }

            list.Ops.Add(op.Kind);
            list.Counts.Add(op.Count);
        }

        var stream = State.PeerStream;

        // The pair changes nothing until every export owner took the batch: if one call fails, the batch is
        // applied in part at the owners (each skips it when it comes again) and not at all here.
        var applying = perExport.Select(e => new ExportOps(e.Key, [.. e.Value.Ops], [.. e.Value.Counts])).ToArray();
        var results = applying.Zip(await _env.ApplyToExportsAsync(stream, batch.Seq, applying), (e, r) => (e.Kref, Result: r)).ToArray();
        var importsRetired = new List<string>(retiring.Count);
        foreach (var importId in retiring)
        {
            importsRetired.Add(State.Imports[importId].Kref);
            CList.ForgetImport(importId);
        }

        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var (kref, applied) in results)
        {
            var result = applied;
            refused.AddRange(result.Errors);

            if (CList.TryGetExportId(kref, out var id))
            {
                if (result.RemoteForgotten)
                {
                    CList.ForgetExport(id);
                }
                else if (State.Exports[id].Reachable != result.RemoteCount > 0)
                {
                    State.Exports[id].Reachable = result.RemoteCount > 0;
                    CList.Touched(id);
                }
            }

            Collect(kref, result, dropped, retired);
        }

        if (refused.Count > 0)
        {
            CountRejected(refused.Count, $"batch {batch.Seq}: {refused.Count} operation(s) refused; the first: {refused[0]}");
        }

        Inbound.Applied(batch.Seq);
        State.Applying = null;
        Counters.BatchesApplied++;
        _env.Report(new BatchApplied());
        EnqueueExportEffects(dropped, retired, State.PeerStream, batch.Seq);
        Enqueue(EffectKind.ImportsRetired, importsRetired);

        // The effects are durable with the batch's application; the kernel hears them until it acknowledges.
        await WriteAsync();
        await DeliverEffectsAsync();
    }

    /// <summary>
    /// A batch of the remote applied in part (an export owner's call failed) and not recorded is finished before a kernel
    /// call changes the exports it names: a new hold, or a forgotten export, would make its resend apply wrongly.
    /// </summary>
    private Task FinishPartAppliedAsync() => State.Applying is { } applying ? FinishApplyingAsync(applying) : Task.CompletedTask;

    /// <summary>
    /// Finishes applying the inbound batch a crash interrupted (<see cref="PairState.Applying"/>): the export
    /// owners take it again (each skips what it already applied) and the pair records it, before this
    /// activation does anything else. A batch already recorded, or of a stream left since, is only forgotten.
    /// </summary>
    private async Task FinishApplyingAsync(string applying)
    {
        var batch = WireCodec.Decode(applying) as BatchFrame;
        if (batch is not null && batch.Stream == State.PeerStream && batch.Seq == State.HighestApplied + 1)
        {
            await ApplyBatchAsync(batch);
            return;
        }

        State.Applying = null;
        await WriteAsync();
    }

    /// <summary>A <c>dgc:retire ro+N</c>: the remote deleted an object this kernel imported (and dropped).</summary>
    private void ApplyRetireOfImport(BatchFrame batch, DgcOp op, bool senderSessionValid, bool localSessionValid, HashSet<long> retiring, List<string> refused)
    {
        if (op.Kind != DgcOpKind.Retire)
        {
            refused.Add($"{op.Kind} must name this kernel's export (ro-N), got {op.Ref}.");
        }
        else if (!senderSessionValid)
        {
            Counters.StaleOps++;
        }
        else if (!State.Imports.TryGetValue(op.Ref.Id, out var entry))
        {
            if (op.Ref.Id <= State.HighestImportId)
            {
                // This kernel retired it already: the two retires crossed.
            }
            else if (!localSessionValid)
            {
                // Written before the remote heard of this handle's current session (it cleared since): a
                // retire that crossed one of ours, from before the clear.
                Counters.StaleOps++;
            }
            else
            {
                refused.Add($"retire of {op.Ref}, which is not an import from {Remote}.");
            }
        }
        else if (entry.Reachable)
        {
            refused.Add($"{Remote} retired {op.Ref} ({entry.Kref}) while this kernel still reaches it.");
        }
        else
        {
            // Forgotten with the rest of the batch, once every export owner took it (see ApplyBatchAsync).
            retiring.Add(op.Ref.Id);
        }
    }

    private async Task CheckLeaseCoreAsync(bool forcePing)
    {
        // A session end that stopped part way (an export owner's call failed) is finished at the next check.
        await FinishEndingSessionAsync();
        var now = Now;
        if (State.Imports.Count > 0 && (forcePing || Lease.PingDue(now)))
        {
            await SendPingAsync();
        }

        if (State.Exports.Count > 0 && Lease.Lapsed(now))
        {
            _env.Report(new LeaseLapsed(now - Lease.RenewedAt, State.Exports.Count));
            await EndSessionAsync(SessionEnd.LeaseLapsed);
        }
        else if (State.Exports.Count > 0 && Lease.AgreementDue(now))
        {
            // The remote renews its lease (it talks to us) but its imports have not been seen to agree with
            // our exports for a lease: perhaps it imports nothing and so never pings. Ask for its import list;
            // reconciliation then finds refs lost on the way.
            Lease.Agreed(now);
            await SendFrameAsync(new PongFrame(PongStatus.Mismatch));
        }
    }

    private async Task SendPingAsync()
    {
        if (Outbound.AnyQueued(_ => true))
        {
            await FlushCoreAsync(resend: false);
        }

        var digest = CList.ImportsDigest();
        await SendFrameAsync(new PingFrame(State.Stream, Outbound.LastSealed, State.Imports.Count, digest));
        Lease.Pinged(Now);
        Counters.PingsSent++;
    }

    private async Task SendImportListAsync(FenceFrame? fence = null)
    {
        // The list names this pair's stream: a pair that cleared its state opens a session first.
        await EnsureSessionAsync();
        if (Outbound.AnyQueued(_ => true))
        {
            await FlushCoreAsync(resend: false);
        }

        await SendFrameAsync(new ImportListFrame(
            State.Stream,
            Outbound.LastSealed,
            [.. State.Imports.Select(i => new ImportListEntry(WireRef.ToReceiverExport(i.Key), i.Value.Reachable))],
            fence?.Stream ?? 0,
            fence?.Seq ?? 0,
            State.PeerStream,
            State.HighestApplied));
    }

    /// <summary>
    /// The exporter declared its messages up to the fence lost if not yet here: refuse them from now on
    /// (durably, before answering), then answer with the import list, which now reflects every one of
    /// them that will ever be delivered. Written even when the pair holds nothing (it clears its row again
    /// when it settles, leaving the fence with its manager): otherwise a crash before that left the fence
    /// nowhere, and the fenced message, arriving late, would be taken after the exporter let its refs go.
    /// The write also stops a stale duplicate activation from answering: its write is refused on its ETag.
    /// </summary>
    private async Task AcceptFenceAsync(FenceFrame fence)
    {
        Messages.Fence(fence.Stream, fence.Seq);
        await WriteAsync();
        await SendImportListAsync(fence);
    }

    private async Task ReconcileAsync(ImportListFrame list)
    {
        var decision = Reconciler.Decide(list, Outbound.AnyQueued(op => op.Ref.SenderExport), Now, Lease.ActivatedAt);
        switch (decision.Action)
        {
            case ReconcileAction.Refuse:
                CountRejected(1, decision.Detail);
                break;
            case ReconcileAction.Agreed:
                Lease.Agreed(Now);
                break;
            case ReconcileAction.EndSession:
                Counters.Reconciliations++;
                _env.Report(new ReconcileFailed(decision.Count, decision.Detail));
                await EndSessionAsync(SessionEnd.Reconciled);
                break;
            case ReconcileAction.Fence:
                await SendFrameAsync(new FenceFrame(decision.FenceStream, decision.FenceSeq));
                break;
            case ReconcileAction.ReleaseLost:
                await ReleaseLostSendsAsync(decision.Lost!, decision.Theirs!);
                break;
        }
    }

    /// <summary>
    /// After a fence: every send of these refs that the remote has not received never will be, so the
    /// rest of each count goes; a ref the remote does not even recognize leaves the c-list.
    /// </summary>
    private async Task ReleaseLostSendsAsync(IReadOnlyList<long> lost, IReadOnlyDictionary<long, bool> theirs)
    {
        Counters.Reconciliations++;
        _env.Report(new LostSendsReleased(lost.Count));
        var releasing = lost.Select(id => (Id: id, State.Exports[id].Kref, Forget: !theirs.ContainsKey(id), State.Exports[id].Reachable)).ToArray();
        var released = await _env.ReleaseLostSendsAsync([.. releasing.Select(r => r.Kref)], [.. releasing.Select(r => r.Forget)]);
        var results = releasing.Zip(released, (r, result) => (r.Id, r.Kref, r.Forget, Result: Unrepeated(result, r.Reachable)));
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var (id, kref, forget, result) in results)
        {
            if (forget)
            {
                CList.ForgetExport(id);
            }
            else if (State.Exports.TryGetValue(id, out var entry))
            {
                entry.Reachable = false;
                CList.Touched(id);
            }

            Collect(kref, result, dropped, retired);
        }

        Lease.Agreed(Now);
        EnqueueExportEffects(dropped, retired, ExportLedger.LostMark, 0);
        await WriteAsync();
        await DeliverEffectsAsync();
    }

    /// <summary>
    /// Ends this kernel's export session towards the remote: every hold the remote had is released, and a
    /// new epoch begins, so the remote revokes its imports of the old one at its next contact and no
    /// late message of the old session can name anything.
    /// </summary>
    private async Task EndSessionAsync(SessionEnd why)
    {
        if (State.EndingSession.Count == 0)
        {
            // Durable before any hold is let go: a crash in the middle is finished by the next activation.
            State.EndingSession = [.. State.Exports.Values.Select(e => e.Kref)];
            State.EndingWhy = why;
            await WriteAsync();
        }
        else
        {
            // An earlier end of this session stopped part way (an export owner's call failed) and is finished now.
            // The session's exports are cleared below, so every export made since goes with it: its hold is let go too.
            var ending = State.EndingSession.ToHashSet(StringComparer.Ordinal);
            var since = State.Exports.Values.Select(e => e.Kref).Where(k => !ending.Contains(k)).Distinct(StringComparer.Ordinal).ToList();
            if (since.Count > 0)
            {
                State.EndingSession.AddRange(since);
                await WriteAsync();
            }
        }

        var krefs = State.EndingSession.ToArray();
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var chunk in krefs.Chunk(ExpireChunk))
        {
            var reachable = chunk.Select(k => !CList.TryGetExportId(k, out var id) || State.Exports[id].Reachable).ToArray();
            var expired = await _env.ExpireExportsAsync(chunk);
            var results = chunk.Select((k, i) => (Kref: k, Result: Unrepeated(expired[i], reachable[i])));
            foreach (var (kref, result) in results)
            {
                Collect(kref, result, dropped, retired);
            }
        }

        // The new epoch is drawn before anything changes: the exports are cleared and the epoch moves on together,
        // so no frame can find the session's exports gone while its epoch still names them valid.
        var newEpoch = await _env.NextEpochAsync();
        State.EndingSession = [];

        var oldEpoch = State.Epoch;
        CList.ClearExports();
        Outbound.Purge(op => op.Ref.SenderExport);
        Sessions.NewEpoch(newEpoch);
        RenewLease();
        if (why == SessionEnd.LeaseLapsed)
        {
            Counters.LeaseExpiries++;
        }

        if (why != SessionEnd.LocalRestart)
        {
            // The kernel hears why first, then what that did to each export across all its remotes.
            Enqueue(EffectKind.SessionEnded, [.. krefs], why);
            EnqueueExportEffects(dropped, retired, ExportLedger.ExpiredMark, 0);
        }

        await WriteAsync();
        _env.Report(new SessionEnded(why, krefs.Length, oldEpoch, State.Epoch));
        await DeliverEffectsAsync();
    }

    /// <summary>Finishes a session end that is under way (recorded in <see cref="PairState.EndingSession"/>), if any.</summary>
    private Task FinishEndingSessionAsync() => State.EndingSession.Count > 0 ? EndSessionAsync(State.EndingWhy) : Task.CompletedTask;

    private async Task RevokeImportsAsync(bool notify)
    {
        var krefs = State.Imports.Values.Select(i => i.Kref).ToArray();
        if (notify)
        {
            foreach (var kref in krefs)
            {
                State.Revoked.Add(kref);
                State.Changes.Revoked(kref);
            }
        }

        CList.ClearImports();

        // Queued operations name the remote's exports of the ended session; they mean nothing now.
        Outbound.Purge(op => !op.Ref.SenderExport);
        if (krefs.Length == 0)
        {
            // Nothing revoked: the caller's final write carries the purge.
            _dirty = true;
            return;
        }

        if (notify)
        {
            Enqueue(EffectKind.ImportsRevoked, [.. krefs]);
        }

        await WriteAsync();
        await DeliverEffectsAsync();
    }

    /// <summary>The part of a late export effect that still holds: exports no remote reaches (dropped), or recognizes (retired), now.</summary>
    private async Task<PendingEffect> StillTrueAsync(PendingEffect effect)
    {
        var now = await _env.GetExportsAsync(effect.Krefs);

        // Still dropped, and by what this effect reports: if another remote's release made it unreachable
        // later (after it was sent again), that one reports it, and this one is stale. An export nobody
        // recognizes any more keeps no such record, so whether this "dropped" is stale cannot be told; it is
        // withheld, and the "retired" that its being forgotten by all caused says it instead (retired says
        // dropped too). Delivered, it could repeat what a later release already reported through another pair.
        var holds = effect.Kind == EffectKind.ExportsDropped
            ? now.Where(x => !x.Reachable && x.DroppedBy == Remote && x.DroppedByStream == effect.CauseStream && x.DroppedBySeq == effect.CauseSeq)
            : now.Where(x => !x.Recognizable);
        return effect with { Krefs = [.. holds.Select(x => x.Kref)] };
    }

    private void EnqueueExportEffects(List<string> dropped, List<string> retired, long causeStream, long causeSeq)
    {
        Enqueue(EffectKind.ExportsDropped, dropped, causeStream: causeStream, causeSeq: causeSeq);
        Enqueue(EffectKind.ExportsRetired, retired);
    }

    /// <summary>Records an effect in the pair's state (written with the change that caused it), under an id no other effect of this kernel has.</summary>
    private void Enqueue(EffectKind kind, List<string> krefs, SessionEnd why = SessionEnd.LeaseLapsed, long causeStream = 0, long causeSeq = 0)
    {
        if (krefs.Count > 0 || kind == EffectKind.SessionEnded)
        {
            Record(new PendingEffect(NextEffectId(), kind, [.. krefs], why, causeStream, causeSeq));
        }
    }

    /// <summary>Records the delivery of an application message as an effect (see <see cref="Enqueue"/>): its id names the message on every delivery; <paramref name="returned"/> are the krefs of this kernel's own objects it sends back.</summary>
    private void EnqueueMessage(AppFrame message, string[] krefs, HashSet<string>? returned) =>
        Record(new PendingEffect(NextEffectId(), EffectKind.MessageDelivered, krefs, Method: message.Method, Body: message.Body, Returned: returned?.ToArray()));

    private string NextEffectId() => $"{Remote}/{State.Stream}/{State.NextEffect++}";

    private void Record(PendingEffect effect)
    {
        State.Outbox.Add(effect);
        _fresh.Add(effect.Id);
        _env.Report(new EffectRecorded(effect));
    }

    /// <summary>
    /// Tells the kernel the effects it has not acknowledged, in order, each until its callback returns;
    /// stops at the first that fails (delivered again on the next tick, activation or lease check).
    /// Removing a delivered effect is not written by itself: a crash before the next write repeats it,
    /// under the same id, which the kernel ignores. A late "dropped" or "retired" (not delivered when it
    /// happened) may have gone stale: the kernel may have sent the export again since, so it is checked
    /// against the export's owner and says only what still holds. A late message that sends one of the kernel's
    /// own objects back is refused if the kernel may have let that object go meanwhile (see <see cref="ReturnedGoneAsync"/>).
    /// </summary>
    private async Task DeliverEffectsAsync()
    {
        if (_delivering)
        {
            return; // a callback re-entered the pair; the outer loop delivers what it added
        }

        _delivering = true;
        var refusedAny = false;
        var current = false;
        try
        {
            while (State.Outbox.Count > 0)
            {
                var effect = State.Outbox[0];
                var waited = !_fresh.Contains(effect.Id);
                if (waited && !current)
                {
                    // An effect that waited from earlier (its callback failed, or an earlier activation wrote it): a
                    // second activation of this pair may have delivered it since, and what followed it, so this one
                    // makes sure it still owns the state before telling the kernel anything from it.
                    await _env.EnsureCurrentAsync();
                    current = true;
                }

                if (effect is { Kind: EffectKind.MessageDelivered, Returned.Length: > 0 } && waited
                    && await ReturnedGoneAsync(effect.Returned) is { } gone)
                {
                    RefuseWaitingMessage(effect, gone);
                    refusedAny = true;
                    continue;
                }

                if (effect.Kind is EffectKind.ExportsDropped or EffectKind.ExportsRetired)
                {
                    // A later effect of the same kind says it for these exports again (they were sent and
                    // released once more while this one waited): the kernel hears it once, from the later one.
                    var later = State.Outbox.Skip(1).Where(e => e.Kind == effect.Kind).SelectMany(e => e.Krefs).ToHashSet(StringComparer.Ordinal);
                    effect = effect with { Krefs = [.. effect.Krefs.Where(k => !later.Contains(k))] };
                    if (waited)
                    {
                        effect = await StillTrueAsync(effect);
                    }
                }
                else if (effect.Kind == EffectKind.ImportsRevoked && waited)
                {
                    // A revocation that waited names only the imports still revoked: one the kernel retired meanwhile
                    // (its retire crossed the revocation) is forgotten here, and retiring it again would be refused.
                    effect = effect with { Krefs = [.. effect.Krefs.Where(State.Revoked.Contains)] };
                }

                if ((effect.Krefs.Length > 0 || effect.Kind == EffectKind.MessageDelivered) && !await NotifyKernelAsync(effect.ToNotice()))
                {
                    break;
                }

                _env.Report(new EffectTold(effect.Id, effect.Kind, effect.Krefs));
                State.Outbox.RemoveAll(e => e.Id == effect.Id);
            }

            if (refusedAny)
            {
                // The released receipts are queued for the remote: durable before they can be sent.
                await WriteAsync();
            }
        }
        finally
        {
            _delivering = false;
            _fresh.Clear();
        }
    }

    /// <summary>
    /// The first of <paramref name="returned"/> (this kernel's own objects, sent back in a message that waited) that the
    /// kernel may have let go since the message arrived, or null. When it arrived the remote held each of them (it is
    /// refused otherwise), so each was alive. One is alive still if some remote reaches it now (a freed object is never
    /// sent again), or if the remote's own release is what made it unreachable: that release came after the message,
    /// so the kernel hears it from this pair's outbox, after the message. Otherwise another remote's release (or the
    /// export being forgotten by all) may have told the kernel it was dropped, and the kernel may have freed it.
    /// </summary>
    private async Task<string?> ReturnedGoneAsync(string[] returned)
    {
        foreach (var now in await _env.GetExportsAsync(returned))
        {
            if (!now.Reachable && !(now.Recognizable && now.DroppedBy == Remote))
            {
                return now.Kref;
            }
        }

        return null;
    }

    /// <summary>
    /// Refuses a message that waited to be delivered and sends back an object the kernel may have let go
    /// (<paramref name="gone"/>), as it would have been refused had it arrived after that release. Its imports' receipts
    /// are released at the exporter (dropRef); an import left with none is retired there and forgotten here, and the
    /// kernel, which may never have heard of it, is told it names nothing any more (imports retired). A revoked import
    /// kept only for this message is forgotten in the same way.
    /// </summary>
    private void RefuseWaitingMessage(PendingEffect message, string gone)
    {
        State.Outbox.RemoveAll(e => e.Id == message.Id);
        var returned = message.Returned!.ToHashSet(StringComparer.Ordinal);
        var pending = PendingDeliveries();
        var forgotten = new List<string>();
        foreach (var group in message.Krefs.Where(k => !returned.Contains(k)).GroupBy(k => k, StringComparer.Ordinal))
        {
            if (CList.TryGetImportId(group.Key, out var id))
            {
                var entry = State.Imports[id];
                var release = Math.Min(group.Count(), entry.Receipts);
                if (release > 0)
                {
                    Outbound.Enqueue(new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(id), release));
                    entry.Receipts -= release;
                }

                if (entry.Receipts == 0)
                {
                    Outbound.Enqueue(new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(id)));
                    CList.ForgetImport(id);
                    forgotten.Add(group.Key);
                }
                else
                {
                    CList.TouchedImport(id);
                }
            }
            else if (State.Revoked.Contains(group.Key) && !pending.ContainsKey(group.Key))
            {
                State.Revoked.Remove(group.Key);
                State.Changes.Unrevoked(group.Key);
                forgotten.Add(group.Key);
            }
        }

        Enqueue(EffectKind.ImportsRetired, forgotten);
        Counters.LateMessagesRefused++;
        _env.Report(new LateMessageRefused(message.Id, gone, $"{Remote} released it after the message arrived and no remote reaches it now, so the kernel may have let it go; refused as if it had arrived after that release. The receipts of its imports were released; {forgotten.Count} import(s) only it carried were retired"));
    }

    private async Task EnsureSessionAsync()
    {
        if (Sessions.Open)
        {
            return;
        }

        Sessions.Start(await _env.OpenSessionAsync());
        RenewLease();
    }

    /// <summary>
    /// The remote renewed its lease now. Written (with the next write) once it has moved on by
    /// <see cref="LeaseWriteStep"/> since last written, so a reactivated handle does not give the remote a new lease.
    /// </summary>
    private void RenewLease(bool write = false)
    {
        var now = Now;
        Lease.Renew(now);
        if (write || (State.Exports.Count > 0 && now - State.LeaseRenewedAt >= LeaseWriteStep))
        {
            State.LeaseRenewedAt = now;
            _dirty = true;
        }
    }

    /// <summary>On once per activation when the pair comes to hold something; off always asks the host (a reminder may be left from an earlier activation).</summary>
    private async Task SyncReminderAsync(bool on)
    {
        if (!on || !_reminderOn)
        {
            await _env.SetLeaseReminderAsync(on);
            _reminderOn = on;
        }
    }

    private async Task SaveAndMaybeFlushAsync()
    {
        if (Outbound.IsFull)
        {
            await FlushCoreAsync(resend: false);
        }

        await SaveAsync();
    }

    /// <summary>Like <see cref="SaveAsync"/>, but writes only if something changed that is not yet written (a ping costs no write).</summary>
    private Task SettleAsync() => _dirty || State.IsEmpty ? SaveAsync() : Task.CompletedTask;

    /// <summary>
    /// Writes the state, or, once the pair holds nothing and has nothing in flight, clears it: no row
    /// is left behind, the reminder goes, and the manager forgets this remote. A later use starts a new
    /// session and stream, which the remote tells apart from anything of this one.
    /// </summary>
    private async Task SaveAsync()
    {
        // A kernel callback may re-enter (retire revoked imports, say); the outer call clears, not the nested one.
        if (!State.IsEmpty || _inCallback > 0)
        {
            await WriteAsync();
            return;
        }

        if (!Sessions.Open)
        {
            return;
        }

        // What the pair knew of the remote stays with the manager, so nothing old is taken for new. It is left
        // there before the row goes: a crash between the two must not make the next activation recall an older
        // memory (it would count batches the remote already had acknowledged as not applied).
        var memory = PeerMemory.Of(State);
        await _env.RememberRemoteAsync(memory);
        await _env.ClearStateAsync();
        _dirty = false;

        // Out-of-order batches waiting for a gap go too: their sender resends, saying how far acks got.
        Attach(new PairState());
        memory.RestoreInto(State);
        await SyncReminderAsync(false);
        await _env.ForgetRemoteAsync(memory);
    }

    /// <summary>Writes the state; a pair that writes has a session, so its row is always one its manager lists.</summary>
    private async Task WriteAsync()
    {
        await EnsureSessionAsync();
        await _env.WriteStateAsync(State);
        _dirty = false;
    }

    private async Task FlushCoreAsync(bool resend)
    {
        var sealedCount = 0;
        if (Outbound.AnyQueued(_ => true))
        {
            await EnsureSessionAsync();
            var (afterStream, afterSeq) = await BarrierAsync();
            sealedCount = Outbound.Seal(Sessions.Header, afterStream, afterSeq);

            // Durable before it leaves: a crash now resends the batch with the same sequence number.
            await WriteAsync();
        }

        foreach (var json in Outbound.FramesToSend(sealedCount, resend))
        {
            Counters.BatchesSent++;
            _env.Report(new BatchSent());
            await SendRawAsync(json);
        }
    }

    /// <summary>
    /// The barrier for the queued operations: a drop or retire of an import this kernel sent back to its
    /// exporter must not overtake the message that carried it (the two travel apart), so the batch names
    /// this activation's message stream and the last message that sent one of them back. Naming the stream
    /// also makes the receiver refuse messages of older streams (an earlier activation's) from then on.
    /// </summary>
    private async Task<(long Stream, long Seq)> BarrierAsync()
    {
        var releases = State.Queue.Where(op => !op.Ref.SenderExport && op.Kind != DgcOpKind.AddRef).Select(op => op.Ref.Id).ToList();
        if (releases.Count == 0)
        {
            return (0, 0);
        }

        if (_messageStream == 0)
        {
            _messageStream = await _env.NextEpochAsync();
        }

        var seq = 0L;
        foreach (var id in releases)
        {
            if (_sentBack.Remove(id, out var carried))
            {
                seq = Math.Max(seq, carried);
            }
        }

        return (_messageStream, seq);
    }

    private async Task SendFrameAsync(WireFrame frame)
    {
        await EnsureSessionAsync();
        await SendRawAsync(WireCodec.Encode(frame with { Session = Sessions.Header }));
    }

    private Task SendRawAsync(string json)
    {
        Counters.FramesSent++;
        _lastSend = Now;
        return _env.SendFrameAsync(json);
    }

    private async Task<bool> NotifyKernelAsync(KernelNotice notice)
    {
        _inCallback++;
        try
        {
            return await _env.NotifyKernelAsync(notice);
        }
        finally
        {
            _inCallback--;
        }
    }

    /// <summary>
    /// A release the export owner had already made for this remote (a session end or release of lost sends, which
    /// record a constant cause) is said again as "dropped", for a pair that crashed before recording it. If this pair
    /// had recorded it (the export was already unreachable from the remote here), its "dropped" was recorded then,
    /// and saying it again would tell the kernel twice.
    /// </summary>
    private static ExportApplyResult Unrepeated(ExportApplyResult result, bool reachableHere) =>
        result is { Replay: true, Dropped: true } && !reachableHere ? result with { Dropped = false } : result;

    private static void Collect(string kref, ExportApplyResult result, List<string> dropped, List<string> retired)
    {
        if (result.Dropped)
        {
            dropped.Add(kref);
        }

        if (result.Retired)
        {
            retired.Add(kref);
        }
    }

    private void RequireKref(string kref)
    {
        if (!DgcIds.TryParseKref(kref, out _))
        {
            throw Refuse(DgcError.InvalidInput, $"'{kref}' is not an object kref (ko<number>).");
        }
    }

    private DgcException Refuse(DgcError code, string message)
    {
        Counters.Rejected++;
        _env.Report(new CallRefused(code, message));
        return new DgcException(code, message);
    }

    private DgcException RefuseStale(string message)
    {
        Counters.StaleOps++;
        _env.Report(new StaleIgnored(1, message));
        return new DgcException(DgcError.Revoked, message);
    }

    private void CountRejected(int count, string reason)
    {
        Counters.Rejected += count;
        _env.Report(new InboundRefused(count, reason));
    }
}
