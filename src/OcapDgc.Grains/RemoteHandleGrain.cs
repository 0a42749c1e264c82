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
    TimeProvider clock,
    ILogger<RemoteHandleGrain> logger) : Grain, IRemoteHandleGrain
{
    private readonly BatchingOptions _options = batching.Value;
    private readonly Dictionary<string, long> _exportIdByKref = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _importIdByKref = new(StringComparer.Ordinal);
    private readonly SortedDictionary<long, BatchFrame> _inboundBuffer = [];
    private string _local = "";
    private string _remote = "";
    private IRemoteManagerGrain _manager = null!;
    private IDgcKernel? _kernel;
    private DateTimeOffset _lastSend;
    private long _batchesSent;
    private long _batchesApplied;
    private long _duplicates;
    private long _rejected;
    private long _framesSent;
    private long _framesReceived;

    private RemoteHandleState S => state.State;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_local, _remote) = DgcIds.SplitKey(this.GetPrimaryKeyString());
        DgcIds.ValidateKernelId(_local, "local kernel");
        DgcIds.ValidateKernelId(_remote, "remote kernel");
        foreach (var (id, kref) in S.Exports)
        {
            _exportIdByKref[kref] = id;
        }

        foreach (var (id, entry) in S.Imports)
        {
            _importIdByKref[entry.Kref] = id;
        }

        _manager = GrainFactory.GetGrain<IRemoteManagerGrain>(_local);
        if (!S.Registered)
        {
            await _manager.RegisterRemoteAsync(_remote);
            S.Registered = true;
            await state.WriteStateAsync(cancellationToken);
        }

        _kernel = await _manager.GetKernelAsync();
        this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(_options.FlushInterval, _options.FlushInterval) { KeepAlive = false });
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

        return ImportCoreAsync(parsed);
    }

    /// <inheritdoc />
    public async Task<string[]> SendAsync(string method, string body, string[] krefs)
    {
        if (string.IsNullOrEmpty(method) || method.StartsWith("dgc:", StringComparison.Ordinal))
        {
            throw Refuse(DgcError.InvalidInput, $"'{method}' cannot be an application method (empty, or reserved dgc: prefix).");
        }

        var wire = await ExportCoreAsync(krefs);
        await SendFrameAsync(WireCodec.Encode(new AppFrame(method, body ?? "", [.. wire.Select(WireRef.Parse)])));
        return wire;
    }

    /// <inheritdoc />
    public async Task DropImportsAsync(string[] krefs)
    {
        var ids = ResolveImports(krefs);
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
        var ids = ResolveImports(krefs);
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

        await SaveAndMaybeFlushAsync();
    }

    /// <inheritdoc />
    public Task FlushAsync() => FlushCoreAsync(resendUnacked: true);

    /// <inheritdoc />
    public async Task DeliverBringOutYourDeadAsync(bool askRemote)
    {
        await FlushCoreAsync(resendUnacked: true);
        if (askRemote)
        {
            await SendFrameAsync(WireCodec.Encode(new BringOutYourDeadFrame()));
        }
    }

    /// <inheritdoc />
    public async Task RetireExportsAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            if (_exportIdByKref.Remove(kref, out var id))
            {
                S.Exports.Remove(id);
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

        switch (frame)
        {
            case BatchFrame batch:
                await ReceiveBatchAsync(batch);
                break;
            case AckFrame ack:
                if (S.Unacked.RemoveAll(b => b.Seq <= ack.Seq) > 0)
                {
                    await state.WriteStateAsync();
                }

                break;
            case BringOutYourDeadFrame:
                // Collect and flush, but never send a BOYD back: that would ping-pong forever.
                await NotifyKernelAsync(k => k.OnBringOutYourDeadAsync(_remote));
                await FlushCoreAsync(resendUnacked: true);
                break;
            case AppFrame app:
                string[] krefs;
                try
                {
                    krefs = await ImportCoreAsync([.. app.Refs]);
                }
                catch (DgcException)
                {
                    // Already counted and logged by Refuse; a forged ref never reaches the kernel.
                    return;
                }

                await NotifyKernelAsync(k => k.DeliverAsync(_remote, app.Method, app.Body, krefs));
                break;
        }
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
        _framesReceived));

    private async Task<string[]> ExportCoreAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            RequireKref(kref);

            if (_importIdByKref.TryGetValue(kref, out var importId) && !S.Imports[importId].Reachable)
            {
                throw Refuse(DgcError.UnknownRef, $"{kref} is an import from {_remote} that this kernel dropped; it cannot be sent.");
            }
        }

        var wire = new string[krefs.Length];
        var sends = new Dictionary<string, long>(StringComparer.Ordinal);
        var grew = false;
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
                S.Exports[id] = kref;
                _exportIdByKref[kref] = id;
                grew = true;
            }

            wire[i] = WireRef.ToSenderExport(id).ToString();
            sends[kref] = sends.GetValueOrDefault(kref) + 1;
        }

        if (grew)
        {
            // The c-list entry is durable before the count, so a counted export always has a wire id.
            await state.WriteStateAsync();
        }

        await Task.WhenAll(sends.Select(s => Export(s.Key).RecordSentAsync(_remote, s.Value)));
        DgcMetrics.RefsExported.Add(krefs.Length);
        return wire;
    }

    private async Task<string[]> ImportCoreAsync(WireRef[] refs)
    {
        var fresh = new HashSet<long>();
        foreach (var r in refs)
        {
            if (!r.SenderExport && !S.Exports.ContainsKey(r.Id))
            {
                throw Refuse(DgcError.UnknownRef, $"{r} names no object this kernel ({_local}) exported to {_remote}.");
            }

            if (r.SenderExport && !S.Imports.ContainsKey(r.Id))
            {
                fresh.Add(r.Id);
            }
        }

        var newKrefs = fresh.Count > 0 ? await _manager.AllocateKrefsAsync(fresh.Count) : [];
        var next = 0;
        var krefs = new string[refs.Length];
        for (var i = 0; i < refs.Length; i++)
        {
            var r = refs[i];
            if (!r.SenderExport)
            {
                krefs[i] = S.Exports[r.Id];
                continue;
            }

            if (!S.Imports.TryGetValue(r.Id, out var entry))
            {
                entry = new ImportEntry { Kref = newKrefs[next++] };
                S.Imports[r.Id] = entry;
                _importIdByKref[entry.Kref] = r.Id;
                S.Queue.Add(new DgcOp(DgcOpKind.AddRef, WireRef.ToReceiverExport(r.Id)));
            }

            entry.Receipts++;
            entry.Reachable = true;
            krefs[i] = entry.Kref;
        }

        DgcMetrics.RefsImported.Add(refs.Length);
        await SaveAndMaybeFlushAsync();
        return krefs;
    }

    private List<long> ResolveImports(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        var ids = new List<long>(krefs.Length);
        var seen = new HashSet<long>();
        foreach (var kref in krefs)
        {
            RequireKref(kref);

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

    private async Task ReceiveBatchAsync(BatchFrame batch)
    {
        if (batch.Seq <= S.HighestApplied)
        {
            _duplicates++;
            await SendFrameAsync(WireCodec.Encode(new AckFrame(S.HighestApplied)));
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

        await SendFrameAsync(WireCodec.Encode(new AckFrame(S.HighestApplied)));
    }

    private async Task ApplyBatchAsync(BatchFrame batch)
    {
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
                else if (!S.Imports.TryGetValue(op.Ref.Id, out var entry))
                {
                    CountRejected(1, $"batch {batch.Seq}: retire of {op.Ref}, which is not an import from {_remote}.");
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

            if (!S.Exports.TryGetValue(op.Ref.Id, out var kref))
            {
                CountRejected(1, $"batch {batch.Seq}: {op.Ref} names no object this kernel exported to {_remote}.");
                continue;
            }

            if (!perExport.TryGetValue(kref, out var list))
            {
                perExport[kref] = list = ([], []);
            }

            list.Ops.Add(op.Kind);
            list.Counts.Add(op.Count);
        }

        var results = await Task.WhenAll(perExport.Select(async e =>
            (Kref: e.Key, Result: await Export(e.Key).ApplyAsync(_remote, batch.Seq, [.. e.Value.Ops], [.. e.Value.Counts]))));
        var dropped = new List<string>();
        var retired = new List<string>();
        foreach (var (kref, result) in results)
        {
            foreach (var error in result.Errors)
            {
                CountRejected(1, error);
            }

            if (result.RemoteForgotten && _exportIdByKref.Remove(kref, out var id))
            {
                S.Exports.Remove(id);
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
        await state.WriteStateAsync();

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

        if (importsRetired.Count > 0)
        {
            await NotifyKernelAsync(k => k.OnImportsRetiredAsync(_remote, [.. importsRetired]));
        }
    }

    private async Task SaveAndMaybeFlushAsync()
    {
        if (S.Queue.Count >= _options.MaxBatchSize)
        {
            await FlushCoreAsync(resendUnacked: false);
        }
        else
        {
            await state.WriteStateAsync();
        }
    }

    private async Task FlushCoreAsync(bool resendUnacked)
    {
        var fresh = 0;
        if (S.Queue.Count > 0)
        {
            foreach (var chunk in S.Queue.Chunk(_options.MaxBatchSize))
            {
                var seq = S.NextSeq++;
                S.Unacked.Add(new SentBatch(seq, WireCodec.Encode(new BatchFrame(seq, chunk))));
                fresh++;
            }

            S.Queue.Clear();

            // Durable before it leaves: a crash now resends the batch with the same sequence number.
            await state.WriteStateAsync();
        }

        var toSend = resendUnacked ? S.Unacked : S.Unacked.GetRange(S.Unacked.Count - fresh, fresh);
        foreach (var batch in toSend.ToList())
        {
            _batchesSent++;
            DgcMetrics.BatchesSent.Add(1);
            await SendFrameAsync(batch.Json);
        }
    }

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (S.Queue.Count > 0)
        {
            await FlushCoreAsync(resendUnacked: false);
        }
        else if (S.Unacked.Count > 0 && clock.GetUtcNow() - _lastSend >= _options.RetransmitAfter)
        {
            await FlushCoreAsync(resendUnacked: true);
        }
    }

    private Task SendFrameAsync(string json)
    {
        _framesSent++;
        _lastSend = clock.GetUtcNow();
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
            await call(_kernel);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogKernelCallbackFailed(logger, _local, _remote, e);
        }
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
}
