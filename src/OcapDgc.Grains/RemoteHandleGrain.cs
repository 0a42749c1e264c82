using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IRemoteHandleGrain" />
public sealed partial class RemoteHandleGrain(
    [PersistentState("remote", DgcStorage.Name)] IPersistentState<RemoteHandleState> state,
    IDgcTransport transport,
    IOptions<BatchingOptions> batching,
    IOptions<LeaseOptions> leases,
    [FromKeyedServices(DgcClock.Key)] TimeProvider clock,
    ILogger<RemoteHandleGrain> logger) : Grain, IRemoteHandleGrain, IRemindable
{
    /// <summary>Name of the per-handle lease reminder.</summary>
    public const string LeaseReminder = "dgc-lease";

    private const int ExpireChunk = 4096;
    private readonly BatchingOptions _options = batching.Value;
    private readonly LeaseOptions _lease = leases.Value;
    private readonly Dictionary<string, long> _exportIdByKref = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _importIdByKref = new(StringComparer.Ordinal);
    private readonly Dictionary<long, LastSend> _lastSends = [];
    private readonly SortedDictionary<long, BatchFrame> _inboundBuffer = [];
    private string _local = "";
    private string _remote = "";
    private IRemoteManagerGrain _manager = null!;
    private IDgcKernel? _kernel;
    private IGrainReminder? _reminder;
    private IGrainTimer? _flushTimer;
    private DateTimeOffset _activatedAt;
    private DateTimeOffset _leaseRenewedAt;
    private DateTimeOffset _lastPing = DateTimeOffset.MinValue;
    private DateTimeOffset _lastSend;
    private bool _dirty;
    private int _inCallback;
    private long _messageStream;
    private long _lastMessageSeq;
    private long _duplicateMessages;
    private long _batchesSent;
    private long _batchesApplied;
    private long _duplicates;
    private long _rejected;
    private long _framesSent;
    private long _framesReceived;
    private long _leaseExpiries;
    private long _pingsSent;
    private long _reconciliations;
    private long _staleOps;

    private enum SessionEnd
    {
        LeaseLapsed,
        PeerRestarted,
        Reconciled,
        LocalRestart,
    }

    private RemoteHandleState S => state.State;

    private DateTimeOffset Now => clock.GetUtcNow();

    private SessionHeader Header => new(S.Incarnation, S.Epoch, S.PeerEpoch);

    private bool HoldsAnything => S.Exports.Count > 0 || S.Imports.Count > 0;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_local, _remote) = DgcIds.SplitKey(this.GetPrimaryKeyString());
        DgcIds.ValidateKernelId(_local, "local kernel");
        DgcIds.ValidateKernelId(_remote, "remote kernel");
        Reindex();
        _manager = GrainFactory.GetGrain<IRemoteManagerGrain>(_local);
        _kernel = await _manager.GetKernelAsync();

        // A remote gets a full lease from each activation: an exporter that was down cannot hold that against it.
        _activatedAt = _leaseRenewedAt = Now;
        // Pings need a tick per ping interval; the flush timer runs only while there is something to send.
        this.RegisterGrainTimer(OnPingTimerAsync, new GrainTimerCreationOptions(_lease.PingInterval, _lease.PingInterval) { KeepAlive = false });
        ArmFlushTimer();
        if (HoldsAnything)
        {
            await EnsureReminderAsync();
        }
    }

    /// <inheritdoc />
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Final flush, so queued drops are not left waiting for the next activation.
        if (S.Queue.Count > 0)
        {
            await FlushCoreAsync(resendUnacked: false);
        }
    }

    /// <inheritdoc />
    public Task<string[]> ExportRefsAsync(string[] krefs) => ExportCoreAsync(krefs);

    /// <inheritdoc />
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

        return ImportCoreAsync(parsed, senderSessionValid: true, localSessionValid: true);
    }

    /// <inheritdoc />
    public async Task<string[]> SendAsync(string method, string body, string[] krefs)
    {
        if (string.IsNullOrEmpty(method) || method.StartsWith("dgc:", StringComparison.Ordinal))
        {
            throw Refuse(DgcError.InvalidInput, $"'{method}' cannot be an application method (empty, or reserved dgc: prefix).");
        }

        var wire = await ExportCoreAsync(krefs);
        if (_messageStream == 0)
        {
            _messageStream = await _manager.NextEpochAsync();
        }

        var message = new AppFrame(_messageStream, ++_lastMessageSeq, method, body ?? "", [.. wire.Select(WireRef.Parse)]);
        foreach (var r in message.Refs.Where(r => r.SenderExport))
        {
            // Remembered so reconciliation can fence this message off if it is lost (see ReconcileAsync).
            _lastSends[r.Id] = _lastSends[r.Id] with { CarriedBy = message.Seq };
        }

        await SendFrameAsync(message);
        return wire;
    }

    /// <inheritdoc />
    public async Task DropImportsAsync(string[] krefs)
    {
        var ids = ResolveImports(krefs, out _);
        foreach (var id in ids)
        {
            var entry = S.Imports[id];
            if (!entry.Reachable)
            {
                throw Refuse(DgcError.OverRelease, $"{entry.Kref} (from {_remote}) was already dropped.");
            }
        }

        foreach (var id in ids)
        {
            var entry = S.Imports[id];
            S.Queue.Add(new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(id), entry.Receipts));
            entry.Receipts = 0;
            entry.Reachable = false;
        }

        await SaveAndMaybeFlushAsync();
    }

    /// <inheritdoc />
    public async Task RetireImportsAsync(string[] krefs)
    {
        var ids = ResolveImports(krefs, out var revoked);
        foreach (var id in ids)
        {
            var entry = S.Imports[id];
            if (entry.Reachable)
            {
                throw Refuse(DgcError.RetireBeforeDrop, $"{entry.Kref} (from {_remote}) is still reachable; drop it before retiring it.");
            }
        }

        foreach (var id in ids)
        {
            S.Queue.Add(new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(id)));
            _importIdByKref.Remove(S.Imports[id].Kref);
            S.Imports.Remove(id);
        }

        // A revoked import names nothing at the exporter any more, so forgetting it is local.
        S.Revoked.ExceptWith(revoked);
        await SaveAndMaybeFlushAsync();
    }

    /// <inheritdoc />
    public async Task FlushAsync()
    {
        await FlushCoreAsync(resendUnacked: true);
        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task DeliverBringOutYourDeadAsync(bool askRemote)
    {
        await FlushCoreAsync(resendUnacked: true);
        await CheckLeaseCoreAsync(forcePing: true);
        if (askRemote && S.Incarnation != 0)
        {
            await SendFrameAsync(new BringOutYourDeadFrame());
        }

        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task CheckLeaseAsync()
    {
        await CheckLeaseCoreAsync(forcePing: false);
        await SettleAsync();
        if (!HoldsAnything)
        {
            await UnregisterReminderAsync();
        }
    }

    /// <inheritdoc />
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == LeaseReminder ? CheckLeaseAsync() : Task.CompletedTask;

    /// <inheritdoc />
    public async Task ResetAsync(long incarnation)
    {
        if (S.Incarnation == 0 || incarnation <= S.Incarnation)
        {
            return;
        }

        await EndSessionAsync(SessionEnd.LocalRestart);
        await RevokeImportsAsync(notify: false);
        S.Revoked.Clear();
        S.Queue.Clear();
        S.Unacked.Clear();
        S.Incarnation = incarnation;
        S.Stream = S.Epoch;
        S.NextSeq = 1;
        await WriteAsync();

        // Greet the remote, so it releases the old incarnation's holds now rather than when the lease lapses.
        await SendFrameAsync(new PongFrame(PongStatus.NewSession));
        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task RetireExportsAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            if (_exportIdByKref.TryGetValue(kref, out var id))
            {
                ForgetExport(id, kref);
                S.Queue.Add(new DgcOp(DgcOpKind.Retire, WireRef.ToSenderExport(id)));
            }
        }

        await SaveAndMaybeFlushAsync();
    }

    /// <inheritdoc />
    public async Task ReceiveFrameAsync(string frameJson)
    {
        _framesReceived++;
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

        if (!await AcceptSessionAsync(frame.Session))
        {
            return;
        }

        switch (frame)
        {
            case BatchFrame batch:
                await ReceiveBatchAsync(batch);
                break;
            case AckFrame ack:
                // Not written by itself: after a crash the batch would only be resent and ignored as a
                // duplicate, so the next write (or the clear, once the pair is empty) carries it.
                if (ack.Stream == S.Stream)
                {
                    S.Unacked.RemoveAll(b => b.Seq <= ack.Seq);
                }

                break;
            case BringOutYourDeadFrame:
                // Collect, flush and renew, but never send a BOYD back: that would ping-pong forever.
                await NotifyKernelAsync(k => k.OnBringOutYourDeadAsync(_remote));
                await FlushCoreAsync(resendUnacked: true);
                await CheckLeaseCoreAsync(forcePing: true);
                break;
            case PingFrame ping:
                await SendFrameAsync(new PongFrame(CompareWithPing(ping)));
                break;
            case PongFrame pong when pong.Status == PongStatus.Behind:
                await FlushCoreAsync(resendUnacked: true);
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
            case AppFrame app:
                await ReceiveAppFrameAsync(app);
                break;
        }

        await SettleAsync();
    }

    /// <inheritdoc />
    public Task<RemoteFigures> GetFiguresAsync() => Task.FromResult(new RemoteFigures(
        _local,
        _remote,
        S.Exports.Count,
        S.Imports.Count,
        S.Imports.Values.Count(i => i.Reachable),
        S.Queue.Count,
        S.Unacked.Count,
        S.NextSeq,
        S.HighestApplied,
        _batchesSent,
        _batchesApplied,
        _duplicates,
        _rejected,
        _framesSent,
        _framesReceived,
        S.Incarnation,
        S.Epoch,
        S.PeerEpoch,
        S.Revoked.Count,
        _leaseExpiries,
        _pingsSent,
        _reconciliations,
        _staleOps,
        S.Stream,
        S.PeerStream,
        _duplicateMessages));

    private async Task<string[]> ExportCoreAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            RequireKref(kref);
            if (S.Revoked.Contains(kref))
            {
                throw Refuse(DgcError.Revoked, $"{kref} was an import from {_remote} that was revoked (its lease lapsed or {_remote} restarted); it names nothing any more.");
            }

            if (_importIdByKref.TryGetValue(kref, out var importId) && !S.Imports[importId].Reachable)
            {
                throw Refuse(DgcError.UnknownRef, $"{kref} is an import from {_remote} that this kernel dropped; it cannot be sent.");
            }
        }

        await EnsureSessionAsync();
        var wire = new string[krefs.Length];
        var sends = new Dictionary<string, long>(StringComparer.Ordinal);
        var changed = false;
        var grew = false;
        var now = Now;
        for (var i = 0; i < krefs.Length; i++)
        {
            var kref = krefs[i];
            if (_importIdByKref.TryGetValue(kref, out var importId))
            {
                // Sending an object back to the kernel that exported it: it reads ro-N, its own export.
                wire[i] = WireRef.ToReceiverExport(importId).ToString();
                continue;
            }

            if (!_exportIdByKref.TryGetValue(kref, out var id))
            {
                id = S.NextExportId++;
                S.Exports[id] = new ExportEntry { Kref = kref };
                _exportIdByKref[kref] = id;
                grew = true;
            }

            var entry = S.Exports[id];
            changed |= !entry.Reachable;
            entry.Reachable = true;
            // Until SendAsync names the message that carries it, the carrier is unknown (a kernel-carried message).
            _lastSends[id] = new LastSend(now, CarriedBy: 0);
            wire[i] = WireRef.ToSenderExport(id).ToString();
            sends[kref] = sends.GetValueOrDefault(kref) + 1;
        }

        if (changed || grew)
        {
            // The c-list entry is durable before the count, so a counted export always has a wire id.
            await WriteAsync();
        }

        await Task.WhenAll(sends.Select(s => Export(s.Key).RecordSentAsync(_remote, s.Value)));
        DgcMetrics.RefsExported.Add(krefs.Length);
        if (grew)
        {
            await EnsureReminderAsync();
        }

        return wire;
    }

    private async Task<string[]> ImportCoreAsync(WireRef[] refs, bool senderSessionValid, bool localSessionValid)
    {
        var fresh = new HashSet<long>();
        foreach (var r in refs)
        {
            if (!r.SenderExport)
            {
                if (!localSessionValid)
                {
                    throw RefuseStale($"{r} names an object of an earlier session of {_local} towards {_remote}; that session ended.");
                }

                if (!S.Exports.ContainsKey(r.Id))
                {
                    throw Refuse(DgcError.UnknownRef, $"{r} names no object this kernel ({_local}) exported to {_remote}.");
                }
            }
            else if (!senderSessionValid)
            {
                throw RefuseStale($"{r} is from an earlier session of {_remote}; that session ended.");
            }
            else if (!S.Imports.ContainsKey(r.Id))
            {
                fresh.Add(r.Id);
            }
        }

        await EnsureSessionAsync();
        var newKrefs = fresh.Count > 0 ? await _manager.AllocateKrefsAsync(fresh.Count) : [];
        var next = 0;
        var krefs = new string[refs.Length];
        for (var i = 0; i < refs.Length; i++)
        {
            var r = refs[i];
            if (!r.SenderExport)
            {
                krefs[i] = S.Exports[r.Id].Kref;
                continue;
            }

            if (!S.Imports.TryGetValue(r.Id, out var entry))
            {
                entry = new ImportEntry { Kref = newKrefs[next++] };
                S.Imports[r.Id] = entry;
                _importIdByKref[entry.Kref] = r.Id;
                S.HighestImportId = Math.Max(S.HighestImportId, r.Id);
                S.Queue.Add(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(r.Id)));
            }

            entry.Receipts++;
            entry.Reachable = true;
            krefs[i] = entry.Kref;
        }

        DgcMetrics.RefsImported.Add(refs.Length);
        await SaveAndMaybeFlushAsync();
        if (fresh.Count > 0)
        {
            await EnsureReminderAsync();
        }

        return krefs;
    }

    private async Task ReceiveAppFrameAsync(AppFrame app)
    {
        if (!FirstDelivery(app))
        {
            _duplicateMessages++;
            return;
        }

        string[] krefs;
        try
        {
            krefs = await ImportCoreAsync(
                [.. app.Refs],
                senderSessionValid: app.Session.Epoch == S.PeerEpoch,
                localSessionValid: app.Session.Peer == S.Epoch);
        }
        catch (DgcException)
        {
            // Already counted and logged; a forged or stale ref never reaches the kernel.
            return;
        }

        await NotifyKernelAsync(k => k.DeliverAsync(_remote, app.Method, app.Body, krefs));
    }

    /// <summary>
    /// Whether this application message is new: numbers already delivered, and messages of an older
    /// stream, are refused, so a duplicated message never counts a receipt twice. Gaps (lost messages)
    /// are remembered up to a bound, then given up: a message that late is treated as lost.
    /// </summary>
    private bool FirstDelivery(AppFrame app)
    {
        if (app.Stream < S.PeerMessageStream)
        {
            return false;
        }

        if (app.Stream > S.PeerMessageStream)
        {
            S.PeerMessageStream = app.Stream;
            S.MessageFloor = 0;
            S.MessagesSeen.Clear();
        }

        if (app.Seq <= S.MessageFloor || !S.MessagesSeen.Add(app.Seq))
        {
            return false;
        }

        while (S.MessagesSeen.Remove(S.MessageFloor + 1))
        {
            S.MessageFloor++;
        }

        var window = _options.ReceiveWindow * 16;
        if (S.MessagesSeen.Count > window)
        {
            var floor = S.MessagesSeen.Order().ElementAt(S.MessagesSeen.Count - window) - 1;
            S.MessagesSeen.RemoveWhere(n => n <= floor);
            S.MessageFloor = floor;
        }

        _dirty = true;
        return true;
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
            if (S.Revoked.Contains(kref))
            {
                revoked.Add(kref);
                continue;
            }

            if (!_importIdByKref.TryGetValue(kref, out var id))
            {
                throw Refuse(DgcError.UnknownRef, $"{kref} is not an import from {_remote}.");
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
        if (h.Incarnation < S.PeerIncarnation)
        {
            _staleOps++;
            LogStaleIncarnation(logger, _local, _remote, h.Incarnation, S.PeerIncarnation);
            return false;
        }

        if (h.Incarnation > S.PeerIncarnation)
        {
            if (S.PeerIncarnation != 0)
            {
                LogPeerRestarted(logger, _local, _remote, S.PeerIncarnation, h.Incarnation);
                if (S.Exports.Count > 0)
                {
                    await EndSessionAsync(SessionEnd.PeerRestarted);
                }

                await RevokeImportsAsync(notify: true);
            }

            S.PeerIncarnation = h.Incarnation;
            _dirty = true;
        }

        if (h.Epoch > S.PeerEpoch)
        {
            // On the first word from the remote (PeerEpoch 0) nothing ended: imports made before it (a kernel
            // that carries its own messages, with ImportRefsAsync) belong to the session it names.
            if (S.PeerEpoch != 0)
            {
                // Revoking also drops the queued operations naming the ended session's wire ids: in the
                // new session the same ids name other objects, so they must never go under its header.
                await RevokeImportsAsync(notify: true);
            }

            S.PeerEpoch = h.Epoch;
            S.HighestImportId = 0;
            _dirty = true;
        }

        if (S.Epoch != 0 && h.Peer == S.Epoch)
        {
            _leaseRenewedAt = Now;
        }

        return true;
    }

    private async Task ReceiveBatchAsync(BatchFrame batch)
    {
        if (batch.Stream < S.PeerStream)
        {
            // A late copy from a stream the remote has left. Acknowledge it, so a sender somehow still on
            // that stream stops resending; its operations belong to a session that is over.
            _staleOps += batch.Ops.Count;
            LogStaleStream(logger, _local, _remote, batch.Seq, batch.Stream, S.PeerStream);
            await SendFrameAsync(new AckFrame(batch.Stream, batch.Seq));
            return;
        }

        if (batch.Stream > S.PeerStream)
        {
            // A new stream (the remote's state was created afresh), or one this handle lost track of when
            // it cleared: everything up to Acked was acknowledged, so it was applied here before.
            S.PeerStream = batch.Stream;
            S.HighestApplied = batch.Acked;
            _inboundBuffer.Clear();
            _dirty = true;
        }
        else if (batch.Acked > S.HighestApplied)
        {
            // Only after this handle lost its record (it cleared while a late, older copy was on the way):
            // this kernel acknowledged everything up to Acked, so it applied it before.
            S.HighestApplied = batch.Acked;
            foreach (var old in _inboundBuffer.Keys.Where(k => k <= batch.Acked).ToList())
            {
                _inboundBuffer.Remove(old);
            }

            _dirty = true;
        }

        if (batch.Seq <= S.HighestApplied)
        {
            _duplicates++;
            await SendFrameAsync(new AckFrame(S.PeerStream, S.HighestApplied));
            return;
        }

        if (batch.Seq > S.HighestApplied + 1)
        {
            // Out of order: keep it (within the window) until the gap is filled; the sender resends the rest.
            if (batch.Seq - S.HighestApplied <= _options.ReceiveWindow)
            {
                _inboundBuffer.TryAdd(batch.Seq, batch);
            }

            return;
        }

        await ApplyBatchAsync(batch);
        while (_inboundBuffer.Remove(S.HighestApplied + 1, out var next))
        {
            await ApplyBatchAsync(next);
        }

        foreach (var stale in _inboundBuffer.Keys.Where(k => k <= S.HighestApplied).ToList())
        {
            _inboundBuffer.Remove(stale);
        }

        await SendFrameAsync(new AckFrame(S.PeerStream, S.HighestApplied));
    }

    private async Task ApplyBatchAsync(BatchFrame batch)
    {
        // Refs are scoped to the sessions the batch was written in; ops of an ended session are void.
        var localSessionValid = batch.Session.Peer == S.Epoch;
        var senderSessionValid = batch.Session.Epoch == S.PeerEpoch;
        var perExport = new Dictionary<string, (List<DgcOpKind> Ops, List<long> Counts)>(StringComparer.Ordinal);
        var importsRetired = new List<string>();
        foreach (var op in batch.Ops)
        {
            if (op.Ref.SenderExport)
            {
                if (op.Kind != DgcOpKind.Retire)
                {
                    CountRejected(1, $"batch {batch.Seq}: {op.Kind} must name this kernel's export (ro-N), got {op.Ref}.");
                }
                else if (!senderSessionValid)
                {
                    _staleOps++;
                }
                else if (!S.Imports.TryGetValue(op.Ref.Id, out var entry))
                {
                    if (op.Ref.Id <= S.HighestImportId)
                    {
                        // This kernel retired it already: the two retires crossed.
                    }
                    else if (!localSessionValid)
                    {
                        // Written before the remote heard of this handle's current session (it cleared
                        // since): a retire that crossed one of ours, from before the clear.
                        _staleOps++;
                    }
                    else
                    {
                        CountRejected(1, $"batch {batch.Seq}: retire of {op.Ref}, which is not an import from {_remote}.");
                    }
                }
                else if (entry.Reachable)
                {
                    CountRejected(1, $"batch {batch.Seq}: {_remote} retired {op.Ref} ({entry.Kref}) while this kernel still reaches it.");
                }
                else
                {
                    S.Imports.Remove(op.Ref.Id);
                    _importIdByKref.Remove(entry.Kref);
                    importsRetired.Add(entry.Kref);
                }

                continue;
            }

            if (!localSessionValid)
            {
                _staleOps++;
                continue;
            }

            if (!S.Exports.TryGetValue(op.Ref.Id, out var export))
            {
                if (op.Kind != DgcOpKind.Retire || op.Ref.Id >= S.NextExportId)
                {
                    CountRejected(1, $"batch {batch.Seq}: {op.Ref} names no object this kernel exported to {_remote}.");
                }

                // Otherwise a retire crossed this kernel's own retire (it deleted the object).
                continue;
            }

            if (!perExport.TryGetValue(export.Kref, out var list))
            {
                perExport[export.Kref] = list = ([], []);
            }

            list.Ops.Add(op.Kind);
            list.Counts.Add(op.Count);
        }

        var results = await Task.WhenAll(perExport.Select(async e =>
            (Kref: e.Key, Result: await Export(e.Key).ApplyAsync(_remote, S.PeerStream, batch.Seq, [.. e.Value.Ops], [.. e.Value.Counts]))));
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var (kref, result) in results)
        {
            foreach (var error in result.Errors)
            {
                CountRejected(1, error);
            }

            if (_exportIdByKref.TryGetValue(kref, out var id))
            {
                if (result.RemoteForgotten)
                {
                    ForgetExport(id, kref);
                }
                else
                {
                    S.Exports[id].Reachable = result.RemoteCount > 0;
                }
            }

            if (result.Dropped)
            {
                dropped.Add(kref);
            }

            if (result.Retired)
            {
                retired.Add(kref);
            }
        }

        S.HighestApplied = batch.Seq;
        _batchesApplied++;
        DgcMetrics.BatchesApplied.Add(1);
        await WriteAsync();
        await NotifyExportsAsync(dropped, retired);
        if (importsRetired.Count > 0)
        {
            await NotifyKernelAsync(k => k.OnImportsRetiredAsync(_remote, [.. importsRetired]));
        }
    }

    private async Task CheckLeaseCoreAsync(bool forcePing)
    {
        var now = Now;
        if (S.Imports.Count > 0 && (forcePing || now - _lastPing >= _lease.PingInterval))
        {
            await SendPingAsync();
        }

        if (S.Exports.Count > 0 && now - _leaseRenewedAt > _lease.Lease)
        {
            LogLeaseLapsed(logger, _local, _remote, now - _leaseRenewedAt, S.Exports.Count);
            await EndSessionAsync(SessionEnd.LeaseLapsed);
        }
    }

    private async Task SendPingAsync()
    {
        if (S.Queue.Count > 0)
        {
            await FlushCoreAsync(resendUnacked: false);
        }

        var digest = ImportDigest.Compute(S.Imports.Select(i => (i.Key, i.Value.Reachable)));
        await SendFrameAsync(new PingFrame(S.Stream, S.NextSeq - 1, S.Imports.Count, digest));
        _lastPing = Now;
        _pingsSent++;
    }

    private PongStatus CompareWithPing(PingFrame ping)
    {
        if (S.Epoch == 0 || ping.Session.Peer != S.Epoch)
        {
            return PongStatus.NewSession;
        }

        if (ping.Stream != S.PeerStream || S.HighestApplied < ping.AsOf)
        {
            return PongStatus.Behind;
        }

        var mine = ImportDigest.Compute(S.Exports.Select(e => (e.Key, e.Value.Reachable)));
        return ping.Imports == S.Exports.Count && string.Equals(ping.Digest, mine, StringComparison.Ordinal)
            ? PongStatus.Match
            : PongStatus.Mismatch;
    }

    private async Task SendImportListAsync(FenceFrame? fence = null)
    {
        if (S.Queue.Count > 0)
        {
            await FlushCoreAsync(resendUnacked: false);
        }

        await SendFrameAsync(new ImportListFrame(
            S.Stream,
            S.NextSeq - 1,
            [.. S.Imports.Select(i => new ImportListEntry(WireRef.ToReceiverExport(i.Key), i.Value.Reachable))],
            fence?.Stream ?? 0,
            fence?.Seq ?? 0));
    }

    /// <summary>
    /// The exporter declared its messages up to the fence lost if not yet here: refuse them from now on
    /// (durably, before answering), then answer with the import list, which now reflects every one of
    /// them that will ever be delivered.
    /// </summary>
    private async Task AcceptFenceAsync(FenceFrame fence)
    {
        if (fence.Stream > S.PeerMessageStream)
        {
            S.PeerMessageStream = fence.Stream;
            S.MessagesSeen.Clear();
            S.MessageFloor = fence.Seq;
        }
        else if (fence.Stream == S.PeerMessageStream && fence.Seq > S.MessageFloor)
        {
            S.MessageFloor = fence.Seq;
            S.MessagesSeen.RemoveWhere(n => n <= fence.Seq);
            while (S.MessagesSeen.Remove(S.MessageFloor + 1))
            {
                S.MessageFloor++;
            }
        }

        if (!S.IsEmpty)
        {
            await WriteAsync();
        }

        await SendImportListAsync(fence);
    }

    /// <summary>
    /// Compares the remote's full import list with this kernel's export table. A difference that a
    /// message still in flight can explain waits. One that has lasted a whole lease means the carrying
    /// message was lost: if this handle knows which of its messages carried the refs last, it fences
    /// those messages off (the remote refuses them from then on) and, once the remote's list reflects the
    /// fence, releases just the lost sends. Otherwise, and for a ref the remote holds but this side does
    /// not count, the session ends: holds released, imports revoked.
    /// </summary>
    private async Task ReconcileAsync(ImportListFrame list)
    {
        if (list.Session.Peer != S.Epoch || list.Stream != S.PeerStream || S.HighestApplied < list.AsOf
            || S.Unacked.Count > 0 || S.Queue.Exists(op => op.Ref.SenderExport))
        {
            // Not comparable yet: batches in flight either way. The next ping tries again.
            return;
        }

        var theirs = new Dictionary<long, bool>();
        foreach (var e in list.Entries)
        {
            if (e.Ref.SenderExport)
            {
                CountRejected(1, $"dgc:imports must list this kernel's exports (ro-N), got {e.Ref}.");
                return;
            }

            theirs[e.Ref.Id] = e.Reachable;
        }

        var unexplained = theirs.Where(t => !S.Exports.TryGetValue(t.Key, out var entry) || (t.Value && !entry.Reachable)).ToList();
        if (unexplained.Count > 0)
        {
            _reconciliations++;
            LogReconciled(logger, _local, _remote, unexplained.Count, $"{WireRef.ToReceiverExport(unexplained[0].Key)} held there but not counted here");
            await EndSessionAsync(SessionEnd.Reconciled);
            return;
        }

        var now = Now;
        var lost = S.Exports
            .Where(e => (!theirs.TryGetValue(e.Key, out var reachable) || (e.Value.Reachable && !reachable))
                && now - (_lastSends.TryGetValue(e.Key, out var last) ? last.At : _activatedAt) >= _lease.Lease)
            .Select(e => e.Key)
            .ToList();
        if (lost.Count == 0)
        {
            return;
        }

        var carriedBy = lost.Select(id => _lastSends.TryGetValue(id, out var last) ? last.CarriedBy : 0).ToList();
        if (_messageStream == 0 || carriedBy.Contains(0))
        {
            // Which message carried a ref last is not known (a reactivated handle, or a kernel that carries
            // its own messages): it cannot be fenced off, so only a new session makes the release safe.
            _reconciliations++;
            LogReconciled(logger, _local, _remote, lost.Count, $"{WireRef.ToReceiverExport(lost[0])} sent but never received; no fence possible");
            await EndSessionAsync(SessionEnd.Reconciled);
        }
        else if (list.FenceStream == _messageStream && carriedBy.Max() <= list.FenceSeq)
        {
            await ReleaseLostSendsAsync(lost, theirs);
        }
        else
        {
            await SendFrameAsync(new FenceFrame(_messageStream, carriedBy.Max()));
        }
    }

    /// <summary>
    /// After a fence: every send of these refs that the remote has not received never will be, so the
    /// rest of each count goes; a ref the remote does not even recognize leaves the c-list.
    /// </summary>
    private async Task ReleaseLostSendsAsync(List<long> lost, Dictionary<long, bool> theirs)
    {
        _reconciliations++;
        LogLostSendsReleased(logger, _local, _remote, lost.Count);
        var results = await Task.WhenAll(lost.Select(async id =>
        {
            var forget = !theirs.ContainsKey(id);
            var kref = S.Exports[id].Kref;
            return (Id: id, Kref: kref, Forget: forget, Result: await Export(kref).ReleaseLostSendsAsync(_remote, forget));
        }));
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var (id, kref, forget, result) in results)
        {
            if (forget)
            {
                ForgetExport(id, kref);
            }
            else
            {
                S.Exports[id].Reachable = false;
            }

            if (result.Dropped)
            {
                dropped.Add(kref);
            }

            if (result.Retired)
            {
                retired.Add(kref);
            }
        }

        await WriteAsync();
        await NotifyExportsAsync(dropped, retired);
    }

    /// <summary>
    /// Ends this kernel's export session towards the remote: every hold the remote had is released, and a
    /// new epoch begins, so the remote revokes its imports of the old one at its next contact and no
    /// late message of the old session can name anything.
    /// </summary>
    private async Task EndSessionAsync(SessionEnd why)
    {
        var krefs = S.Exports.Values.Select(e => e.Kref).ToArray();
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var chunk in krefs.Chunk(ExpireChunk))
        {
            var results = await Task.WhenAll(chunk.Select(async k => (Kref: k, Result: await Export(k).ExpireRemoteAsync(_remote))));
            foreach (var (kref, result) in results)
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
        }

        S.Exports.Clear();
        _exportIdByKref.Clear();
        _lastSends.Clear();
        S.Queue.RemoveAll(op => op.Ref.SenderExport);
        S.Epoch = await _manager.NextEpochAsync();
        _leaseRenewedAt = Now;
        if (why == SessionEnd.LeaseLapsed)
        {
            _leaseExpiries++;
            DgcMetrics.LeasesExpired.Add(1);
        }

        await WriteAsync();
        LogSessionEnded(logger, _local, _remote, why, krefs.Length, S.Epoch);
        if (why != SessionEnd.LocalRestart)
        {
            await NotifyExportsAsync(dropped, retired);
        }
    }

    private async Task RevokeImportsAsync(bool notify)
    {
        var krefs = S.Imports.Values.Select(i => i.Kref).ToArray();
        if (notify)
        {
            S.Revoked.UnionWith(krefs);
        }

        S.Imports.Clear();
        _importIdByKref.Clear();
        S.HighestImportId = 0;

        // Queued operations name the remote's exports of the ended session; they mean nothing now.
        S.Queue.RemoveAll(op => !op.Ref.SenderExport);
        if (krefs.Length == 0)
        {
            // Nothing revoked: the caller's final write carries the purge.
            _dirty = true;
            return;
        }

        await WriteAsync();
        if (notify)
        {
            DgcMetrics.ImportsRevoked.Add(krefs.Length);
            await NotifyKernelAsync(k => k.OnImportsRevokedAsync(_remote, krefs));
        }
    }

    private async Task NotifyExportsAsync(List<string> dropped, List<string> retired)
    {
        if (dropped.Count > 0)
        {
            DgcMetrics.ExportsDropped.Add(dropped.Count);
            await NotifyKernelAsync(k => k.OnExportsDroppedAsync([.. dropped]));
        }

        if (retired.Count > 0)
        {
            DgcMetrics.ExportsRetired.Add(retired.Count);
            await NotifyKernelAsync(k => k.OnExportsRetiredAsync([.. retired]));
        }
    }

    private async Task EnsureSessionAsync()
    {
        if (S.Incarnation != 0)
        {
            return;
        }

        var start = await _manager.RegisterRemoteAsync(_remote);
        S.Incarnation = start.Incarnation;
        S.Epoch = start.Epoch;
        S.Stream = start.Epoch;
        S.NextSeq = 1;
        _leaseRenewedAt = Now;
    }

    private async Task EnsureReminderAsync()
    {
        _reminder ??= await this.RegisterOrUpdateReminder(LeaseReminder, _lease.CheckPeriod, _lease.CheckPeriod);
    }

    private async Task UnregisterReminderAsync()
    {
        _reminder ??= await this.GetReminder(LeaseReminder);
        if (_reminder is not null)
        {
            await this.UnregisterReminder(_reminder);
            _reminder = null;
        }
    }

    private async Task SaveAndMaybeFlushAsync()
    {
        if (S.Queue.Count >= _options.MaxBatchSize)
        {
            await FlushCoreAsync(resendUnacked: false);
        }

        await SaveAsync();
    }

    /// <summary>Like <see cref="SaveAsync"/>, but writes only if something changed that is not yet written (a ping costs no write).</summary>
    private Task SettleAsync() => _dirty || S.IsEmpty ? SaveAsync() : Task.CompletedTask;

    /// <summary>
    /// Writes the state, or, once the pair holds nothing and has nothing in flight, clears it: no row
    /// is left behind, the reminder goes, and the manager forgets this remote. A later use starts a new
    /// session and stream, which the remote tells apart from anything of this one.
    /// </summary>
    private async Task SaveAsync()
    {
        // A kernel callback may re-enter (retire revoked imports, say); the outer call clears, not the nested one.
        if (!S.IsEmpty || _inCallback > 0)
        {
            await WriteAsync();
            return;
        }

        if (S.Incarnation == 0)
        {
            return;
        }

        if (state.RecordExists)
        {
            await state.ClearStateAsync();
        }

        state.State = new RemoteHandleState();
        _dirty = false;

        // Out-of-order batches waiting for a gap go too: their sender resends, saying how far acks got.
        _inboundBuffer.Clear();
        _lastSends.Clear();
        Reindex();
        await UnregisterReminderAsync();
        await _manager.ForgetRemoteAsync(_remote);
    }

    /// <summary>Writes the state; a handle that writes has a session, so its row is always one its manager lists.</summary>
    private async Task WriteAsync()
    {
        await EnsureSessionAsync();
        await state.WriteStateAsync();
        _dirty = false;
        ArmFlushTimer();
    }

    private async Task FlushCoreAsync(bool resendUnacked)
    {
        var fresh = 0;
        if (S.Queue.Count > 0)
        {
            await EnsureSessionAsync();
            var acked = (S.Unacked.Count > 0 ? S.Unacked[0].Seq : S.NextSeq) - 1;
            foreach (var chunk in S.Queue.Chunk(_options.MaxBatchSize))
            {
                var seq = S.NextSeq++;
                S.Unacked.Add(new SentBatch(seq, WireCodec.Encode(new BatchFrame(S.Stream, seq, acked, chunk) { Session = Header })));
                fresh++;
            }

            S.Queue.Clear();

            // Durable before it leaves: a crash now resends the batch with the same sequence number.
            await WriteAsync();
        }

        var firstFresh = S.Unacked.Count - fresh;
        var ackedNow = S.Unacked.Count > 0 ? S.Unacked[0].Seq - 1 : 0;
        var unacked = S.Unacked.ToList();
        for (var i = resendUnacked ? 0 : firstFresh; i < unacked.Count; i++)
        {
            _batchesSent++;
            DgcMetrics.BatchesSent.Add(1);
            await SendRawAsync(i < firstFresh ? Refresh(unacked[i], ackedNow) : unacked[i].Json);
        }
    }

    /// <summary>
    /// A resent batch keeps its session (its refs are scoped to it) but states how far acknowledgements
    /// have got since, so a receiver that cleared its state in between starts after them, not before.
    /// </summary>
    private static string Refresh(SentBatch batch, long acked)
    {
        var frame = (BatchFrame)WireCodec.Decode(batch.Json);
        return frame.Acked >= acked ? batch.Json : WireCodec.Encode(frame with { Acked = acked });
    }

    /// <summary>Starts the flush timer when operations are queued or batches await acknowledgement; an idle handle has none.</summary>
    private void ArmFlushTimer()
    {
        if (_flushTimer is null && (S.Queue.Count > 0 || S.Unacked.Count > 0))
        {
            _flushTimer = this.RegisterGrainTimer(OnFlushTimerAsync, new GrainTimerCreationOptions(_options.FlushInterval, _options.FlushInterval) { KeepAlive = false });
        }
    }

    private async Task OnFlushTimerAsync(CancellationToken cancellationToken)
    {
        if (S.Queue.Count > 0)
        {
            await FlushCoreAsync(resendUnacked: false);
        }
        else if (S.Unacked.Count > 0 && Now - _lastSend >= _options.RetransmitAfter)
        {
            await FlushCoreAsync(resendUnacked: true);
        }

        if (S.Queue.Count == 0 && S.Unacked.Count == 0 && _flushTimer is not null)
        {
            _flushTimer.Dispose();
            _flushTimer = null;
        }
    }

    private async Task OnPingTimerAsync(CancellationToken cancellationToken)
    {
        // The timer sets the cadence; comparing with the last ping here would skip every other tick by a hair.
        if (S.Imports.Count > 0)
        {
            await SendPingAsync();
        }
    }

    private async Task SendFrameAsync(WireFrame frame)
    {
        await EnsureSessionAsync();
        await SendRawAsync(WireCodec.Encode(frame with { Session = Header }));
    }

    private Task SendRawAsync(string json)
    {
        _framesSent++;
        _lastSend = Now;
        return transport.SendAsync(_local, _remote, json);
    }

    private async Task NotifyKernelAsync(Func<IDgcKernel, Task> call)
    {
        _kernel ??= await _manager.GetKernelAsync();
        if (_kernel is null)
        {
            LogNoKernel(logger, _local);
            return;
        }

        try
        {
            // The kernel may call back into this handle (e.g. send a reply) from within the callback.
            using var reentrant = RequestContext.AllowCallChainReentrancy();
            _inCallback++;
            await call(_kernel);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogKernelCallbackFailed(logger, _local, _remote, e);
        }
        finally
        {
            _inCallback--;
        }
    }

    private void Reindex()
    {
        _exportIdByKref.Clear();
        _importIdByKref.Clear();
        foreach (var (id, entry) in S.Exports)
        {
            _exportIdByKref[entry.Kref] = id;
        }

        foreach (var (id, entry) in S.Imports)
        {
            _importIdByKref[entry.Kref] = id;
        }
    }

    /// <summary>The remote no longer recognizes this export: it leaves the c-list.</summary>
    private void ForgetExport(long id, string kref)
    {
        S.Exports.Remove(id);
        _exportIdByKref.Remove(kref);
        _lastSends.Remove(id);
    }

    private IExportGrain Export(string kref) => GrainFactory.GetGrain<IExportGrain>(DgcIds.ExportKey(_local, kref));

    private void RequireKref(string kref)
    {
        if (!DgcIds.TryParseKref(kref, out _))
        {
            throw Refuse(DgcError.InvalidInput, $"'{kref}' is not an object kref (ko<number>).");
        }
    }

    private DgcException Refuse(DgcError code, string message)
    {
        _rejected++;
        DgcMetrics.OpsRejected.Add(1);
        LogRefused(logger, _local, _remote, code, message);
        return new DgcException(code, message);
    }

    private DgcException RefuseStale(string message)
    {
        _staleOps++;
        LogStale(logger, _local, _remote, message);
        return new DgcException(DgcError.Revoked, message);
    }

    private void CountRejected(int count, string reason)
    {
        _rejected += count;
        DgcMetrics.OpsRejected.Add(count);
        LogInboundRejected(logger, _local, _remote, reason);
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "{Local}->{Remote}: refused kernel call ({Code}): {Reason}")]
    private static partial void LogRefused(ILogger logger, string local, string remote, DgcError code, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "{Local}<-{Remote}: refused inbound operation: {Reason}")]
    private static partial void LogInboundRejected(ILogger logger, string local, string remote, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Kernel {Local} has not registered with its RemoteManager; callback skipped")]
    private static partial void LogNoKernel(ILogger logger, string local);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "Kernel {Local} callback for remote {Remote} failed")]
    private static partial void LogKernelCallbackFailed(ILogger logger, string local, string remote, Exception error);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "{Local}<-{Remote}: ignored stale session: {Reason}")]
    private static partial void LogStale(ILogger logger, string local, string remote, string reason);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "{Local}: lease of {Remote} lapsed ({Silent} without a word); releasing its holds on {Exports} exports")]
    private static partial void LogLeaseLapsed(ILogger logger, string local, string remote, TimeSpan silent, int exports);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "{Local}: {Remote} restarted (incarnation {Old} -> {New}); its session ends")]
    private static partial void LogPeerRestarted(ILogger logger, string local, string remote, long old, long @new);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Information, Message = "{Local}->{Remote}: session ended ({Why}); {Exports} holds released, new epoch {Epoch}")]
    private static partial void LogSessionEnded(ILogger logger, string local, string remote, SessionEnd why, int exports, long epoch);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "{Local}<-{Remote}: reconciliation fenced off lost messages and released the lost sends of {Count} exports")]
    private static partial void LogLostSendsReleased(ILogger logger, string local, string remote, int count);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "{Local}<-{Remote}: ignored a frame of incarnation {Incarnation}, succeeded by {Current}")]
    private static partial void LogStaleIncarnation(ILogger logger, string local, string remote, long incarnation, long current);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "{Local}<-{Remote}: ignored batch {Seq} of stream {Stream}, succeeded by stream {Current}")]
    private static partial void LogStaleStream(ILogger logger, string local, string remote, long seq, long stream, long current);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "{Local}<-{Remote}: reconciliation found {Count} lasting differences (first: {First}); ending the session")]
    private static partial void LogReconciled(ILogger logger, string local, string remote, int count, string first);

    /// <summary>When an export was last sent to the remote, and which application message carried it (0: not known, e.g. kernel-carried).</summary>
    private readonly record struct LastSend(DateTimeOffset At, long CarriedBy);
}
