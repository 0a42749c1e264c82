using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Observability;
using OcapDgc.Storage;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IRemoteHandleGrain" />
/// <remarks>
/// A shell over <see cref="RemotePair"/>, which holds the protocol: this grain activates the pair over its
/// persisted <see cref="PairState"/> (a snapshot and a journal of what changed since, see
/// <see cref="PairJournal"/>), runs the flush, ping and lease timers and the lease reminder, and carries out
/// what the pair asks of its environment with grain calls (the kernel's manager, the export grains, the
/// kernel), storage and the transport. Kernels call it as <see cref="IRemoteHandleGrain"/>; the transport,
/// the lease reminder and the manager as <see cref="IRemoteHandleInternal"/>.
/// </remarks>
public sealed partial class RemoteHandleGrain(
    [FromKeyedServices(DgcStorage.Name)] IGrainStorage storage,
    IDgcTransport transport,
    IOptions<BatchingOptions> batching,
    IOptions<LeaseOptions> leases,
    IOptions<LimitOptions> limits,
    [FromKeyedServices(DgcClock.Key)] TimeProvider clock,
    DgcSiloStats stats,
    ILogger<RemoteHandleGrain> logger) : Grain, IRemoteHandleGrain, IRemoteHandleInternal, IRemindable, IPairEnvironment
{
    /// <summary>Name of the per-handle lease reminder.</summary>
    public const string LeaseReminder = "dgc-lease";

    // Not persisted: per activation.
    private RemotePair _pair = null!;
    private IRemoteManagerGrain _manager = null!;
    private IRemoteManagerInternal _managerInternal = null!;
    private IDgcKernel? _kernel;
    private IGrainReminder? _reminder;
    private IGrainTimer? _flushTimer;
    private IGrainTimer? _lapseTimer;
    private DateTimeOffset? _lapseTimerAt;
    private PairJournal _journal = null!;
    private ExportShards _exports = null!;
    private bool _stopped;        // a write was refused on its ETag, or an operation failed part way: see Stop
    private bool _deliverWaiting; // effects an earlier activation left wait for this one's first call (see OnActivateAsync)

    // Observability, per activation: what this handle publishes to the silo's registry, and what the
    // histograms need to tell a new batch or renewal from one already recorded.
    private HandleGauge? _gauge;
    private DateTimeOffset? _lastFrameAt;
    private DateTimeOffset _lastRenewedAt;
    private long _sealedStream;
    private long _sealedUpTo;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (local, remote) = DgcIds.SplitKey(this.GetPrimaryKeyString());
        DgcIds.ValidateKernelId(local, "local kernel");
        DgcIds.ValidateKernelId(remote, "remote kernel");
        _manager = GrainFactory.GetGrain<IRemoteManagerGrain>(local);
        _managerInternal = GrainFactory.GetGrain<IRemoteManagerInternal>(local);
        _exports = new ExportShards(GrainFactory, local);
        _kernel = await _managerInternal.GetKernelAsync();
        var (b, l) = (batching.Value, leases.Value);
        var settings = new PairSettings(b.MaxBatchSize, b.ReceiveWindow, b.RetransmitAfter, l.Duration, l.PingInterval) { Limits = limits.Value.ToPairLimits() };
        _journal = new PairJournal(new GrainPairRows(storage, this.GetGrainId()));
        _pair = new RemotePair(local, remote, await _journal.LoadAsync(), settings, clock, this);

        // Pings need a tick per ping interval; the flush timer runs only while there is something to send.
        this.RegisterGrainTimer(_ => Run(() => _pair.OnPingTickAsync()), new GrainTimerCreationOptions(l.PingInterval, l.PingInterval) { KeepAlive = false });
        ArmFlushTimer();
        _lastRenewedAt = _pair.Lease.RenewedAt;
        (_sealedStream, _sealedUpTo) = (_pair.State.Stream, _pair.State.NextSeq - 1);
        _gauge = stats.Register();
        try
        {
            await _pair.ActivateAsync(deliverNow: false);
        }
        catch
        {
            // A failed activation is never deactivated: take its slot out of the silo's registry now.
            stats.Unregister(_gauge);
            _gauge = null;
            throw;
        }

        ArmLapseTimer();
        Publish();

        // Effects an earlier activation left for the kernel go out once this activation is done: the kernel's callback
        // may call back into this handle, which would wait for the activation to finish (and time out). The first call
        // this activation runs delivers them before its own work (so whoever woke the handle, a frame say, sees them
        // delivered when its call returns); the timer does it if no such call comes (a read woke the handle).
        if (_pair.State.Outbox.Count > 0)
        {
            _deliverWaiting = true;
            IGrainTimer? once = null;
            once = this.RegisterGrainTimer(
                _ =>
                {
                    once?.Dispose();
                    return Run(() => Task.CompletedTask);
                },
                new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        }
    }

    /// <inheritdoc />
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            if (!_stopped)
            {
                await _pair.DeactivateAsync(); // final flush, so queued drops are not left waiting for the next activation
            }
        }
        finally
        {
            if (_gauge is not null)
            {
                stats.Unregister(_gauge);
            }
        }
    }

    /// <inheritdoc />
    public Task<string[]> ExportRefsAsync(string[] krefs) => Run(() => _pair.ExportRefsAsync(krefs));

    /// <inheritdoc />
    public Task<string[]> ImportRefsAsync(string[] wireRefs) => Run(() => _pair.ImportRefsAsync(wireRefs));

    /// <inheritdoc />
    public Task<string[]> SendAsync(string method, string body, string[] krefs) => Run(() => _pair.SendAsync(method, body, krefs));

    /// <inheritdoc />
    public Task DropImportsAsync(string[] krefs) => Run(() => _pair.DropImportsAsync(krefs));

    /// <inheritdoc />
    public Task RetireImportsAsync(string[] krefs) => Run(() => _pair.RetireImportsAsync(krefs));

    /// <inheritdoc />
    public async Task FlushAsync()
    {
        using var span = DgcTracing.Start(DgcTracing.BatchFlush, _pair.Local, _pair.Remote);
        await Run(() => _pair.FlushAsync());
    }

    /// <inheritdoc />
    public async Task DeliverBringOutYourDeadAsync(bool askRemote)
    {
        using var span = DgcTracing.Start(DgcTracing.BoydRun, _pair.Local, _pair.Remote);
        await Run(() => _pair.BringOutYourDeadAsync(askRemote));
    }

    /// <inheritdoc />
    public async Task CheckLeaseAsync()
    {
        using var span = DgcTracing.Start(DgcTracing.LeaseCheck, _pair.Local, _pair.Remote);
        await Run(() => _pair.CheckLeaseAsync());
    }

    /// <inheritdoc />
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == LeaseReminder ? CheckLeaseAsync() : Task.CompletedTask;

    /// <inheritdoc />
    public Task ResetAsync(long incarnation) => Run(() => _pair.ResetAsync(incarnation));

    /// <inheritdoc />
    public Task RetireExportsAsync(string[] krefs) => Run(() => _pair.RetireExportsAsync(krefs));

    /// <inheritdoc />
    public async Task ReceiveFrameAsync(string frameJson)
    {
        ArgumentNullException.ThrowIfNull(frameJson);
        _lastFrameAt = clock.GetUtcNow();
        var kind = DgcTracing.FrameKind(frameJson);
        using var span = DgcTracing.StartFrame(kind, _pair.Local, _pair.Remote);
        var timed = DgcMetrics.FrameHandled.Enabled;
        var started = timed ? Stopwatch.GetTimestamp() : 0;
        var (applied, rejected) = (_pair.Counters.BatchesApplied, _pair.Counters.Rejected);
        await Run(() => _pair.ReceiveFrameAsync(frameJson));
        if (timed)
        {
            DgcMetrics.FrameHandled.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("dgc.frame", kind));
        }

        if (span is not null)
        {
            span.SetTag("dgc.batches.applied", _pair.Counters.BatchesApplied - applied);
            span.SetTag("dgc.ops.rejected", _pair.Counters.Rejected - rejected);
        }
    }

    /// <inheritdoc />
    public Task<RemoteFigures> GetFiguresAsync() => Task.FromResult(Figures());

    async Task<SessionStart> IPairEnvironment.OpenSessionAsync()
    {
        RequireNotStopped();
        return await _managerInternal.RegisterRemoteAsync(_pair.Remote);
    }

    Task<long> IPairEnvironment.NextEpochAsync() => _managerInternal.NextEpochAsync();

    Task<string[]> IPairEnvironment.AllocateKrefsAsync(int count) => _manager.AllocateKrefsAsync(count);

    Task IPairEnvironment.ForgetRemoteAsync(PeerMemory memory)
    {
        RequireNotStopped();
        return _managerInternal.ForgetRemoteAsync(_pair.Remote, memory);
    }

    Task IPairEnvironment.RememberRemoteAsync(PeerMemory memory)
    {
        // A stopped activation (a timer of it can still fire before it goes) tells its manager nothing from its memory.
        RequireNotStopped();
        return _managerInternal.RememberRemoteAsync(_pair.Remote, memory);
    }

    Task<PeerRecall> IPairEnvironment.RecallRemoteAsync() => _managerInternal.RecallRemoteAsync(_pair.Remote);

    async Task IPairEnvironment.RecordSentAsync(IReadOnlyDictionary<string, long> sends) =>
        await _exports.CallAsync([.. sends], s => s.Key, async (shard, part) =>
        {
            await shard.RecordSentAsync(_pair.Remote, [.. part.Select(p => p.Key)], [.. part.Select(p => p.Value)]);
            return new bool[part.Length];
        });

    Task<ExportApplyResult[]> IPairEnvironment.ApplyToExportsAsync(long stream, long seq, IReadOnlyList<ExportOps> exports) =>
        _exports.CallAsync(exports, e => e.Kref, (shard, part) => shard.ApplyAsync(_pair.Remote, stream, seq, part));

    Task<ExportApplyResult[]> IPairEnvironment.ExpireExportsAsync(IReadOnlyList<string> krefs) =>
        _exports.CallAsync(krefs, k => k, (shard, part) => shard.ExpireRemoteAsync(_pair.Remote, part));

    Task<ExportApplyResult[]> IPairEnvironment.ReleaseLostSendsAsync(IReadOnlyList<string> krefs, IReadOnlyList<bool> forget) =>
        _exports.CallAsync([.. krefs.Zip(forget)], r => r.First, (shard, part) => shard.ReleaseLostSendsAsync(_pair.Remote, [.. part.Select(r => r.First)], [.. part.Select(r => r.Second)]));

    Task<ExportSnapshot[]> IPairEnvironment.GetExportsAsync(IReadOnlyList<string> krefs) => _exports.SnapshotsAsync(krefs);

    async Task IPairEnvironment.WriteStateAsync(PairState pairState)
    {
        RequireNotStopped();
        await _journal.WriteAsync(pairState);
        RecordSealed(pairState);
        ArmFlushTimer();
    }

    Task IPairEnvironment.ClearStateAsync()
    {
        RequireNotStopped();
        return _journal.ClearAsync();
    }

    /// <summary>A call that reached this activation after it stopped (superseded, or failed part way) writes nothing from its memory, nor tells its manager anything.</summary>
    private void RequireNotStopped()
    {
        if (_stopped)
        {
            throw new InconsistentStateException($"remotehandle/{_pair.Local}/{_pair.Remote}: this activation stopped (another wrote its rows, or an operation failed part way) and writes nothing more; the next call starts from what is stored.", "unknown", "unknown");
        }
    }

    async Task IPairEnvironment.EnsureCurrentAsync()
    {
        if (!await _journal.IsCurrentAsync())
        {
            throw new InconsistentStateException($"remotehandle/{_pair.Local}/{_pair.Remote} was written by another activation since this one read or wrote it; it delivers no waiting effect from its older state.", "unknown", "unknown");
        }
    }

    Task IPairEnvironment.SendFrameAsync(string json) => transport.SendAsync(_pair.Local, _pair.Remote, json);

    async Task<bool> IPairEnvironment.NotifyKernelAsync(KernelNotice notice)
    {
        _kernel ??= await _managerInternal.GetKernelAsync();
        if (_kernel is null)
        {
            LogNoKernel(logger, _pair.Local);
            return false;
        }

        var remote = _pair.Remote;
        try
        {
            // The kernel may call back into this handle (e.g. send a reply) from within the callback.
            using var reentrant = RequestContext.AllowCallChainReentrancy();
            await (notice switch
            {
                MessageDelivered m => _kernel.DeliverAsync(remote, m.EffectId, m.Method, m.Body, m.Krefs),
                ExportsDropped d => Counted(DgcMetrics.ExportsDropped, stats.CountDropped, d.Krefs.Length, _kernel.OnExportsDroppedAsync(d.EffectId, d.Krefs)),
                ExportsRetired r => Counted(DgcMetrics.ExportsRetired, stats.CountRetired, r.Krefs.Length, _kernel.OnExportsRetiredAsync(r.EffectId, r.Krefs)),
                ImportsRevoked v => Counted(DgcMetrics.ImportsRevoked, stats.CountRevoked, v.Krefs.Length, _kernel.OnImportsRevokedAsync(remote, v.EffectId, v.Krefs)),
                ImportsRetired t => _kernel.OnImportsRetiredAsync(remote, t.EffectId, t.Krefs),
                BoydRequested => _kernel.OnBringOutYourDeadAsync(remote),
                RemoteSessionEnded e => _kernel.OnSessionEndedAsync(remote, e.EffectId, e.Why, e.Released),
                _ => Task.CompletedTask,
            });
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The effect (or message) stays in the pair's outbox and is delivered again.
            LogKernelCallbackFailed(logger, _pair.Local, remote, e);
            return false;
        }

        static Task Counted(System.Diagnostics.Metrics.Counter<long> counter, Action<int> total, int n, Task call)
        {
            counter.Add(n);
            total(n);
            return call;
        }
    }

    async Task IPairEnvironment.SetLeaseReminderAsync(bool enabled)
    {
        if (enabled)
        {
            _reminder ??= await this.RegisterOrUpdateReminder(LeaseReminder, leases.Value.CheckPeriod, leases.Value.CheckPeriod);
            return;
        }

        _reminder ??= await this.GetReminder(LeaseReminder);
        if (_reminder is not null)
        {
            await this.UnregisterReminder(_reminder);
            _reminder = null;
        }
    }

    void IPairEnvironment.Report(PairEvent e) => Log(e);

    /// <summary>
    /// Runs one input of the pair (after the effects an earlier activation left, on this activation's first call),
    /// then starts or stops the flush timer to match what is left to send.
    /// </summary>
    private Task<bool> Run(Func<Task> input) => Run(() => Completed(input()));

    /// <inheritdoc cref="Run(Func{Task})" />
    private async Task<T> Run<T>(Func<Task<T>> input)
    {
        try
        {
            if (_deliverWaiting)
            {
                _deliverWaiting = false;
                await _pair.DeliverWaitingEffectsAsync();
            }

            var result = await input();
            ArmFlushTimer();
            ArmLapseTimer();
            return result;
        }
        catch (Exception e) when (e is not (DgcException or ArgumentException or OutOfMemoryException))
        {
            Stop(e);
            throw;
        }
        finally
        {
            Publish();
        }
    }

    private static async Task<bool> Completed(Task input)
    {
        await input;
        return true;
    }

    /// <summary>
    /// This activation stops as if its silo had crashed: it writes nothing more, not even the final flush, tells its
    /// manager nothing, and goes; the next call activates the handle afresh from what is stored. Either a write was
    /// refused on its ETag (another activation, a duplicate Orleans kept after a silo died, wrote since this one
    /// read: its state is stale), or an operation failed part way (an export owner, the manager or the store did
    /// not answer): its steps are written so that a crash at any point is finished from what is stored, but this
    /// activation's memory may hold part of it. Timers come here too, which Orleans would not deactivate for.
    /// </summary>
    private void Stop(Exception e)
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        if (e is InconsistentStateException)
        {
            LogSuperseded(logger, _pair.Local, _pair.Remote, e.Message);
        }
        else
        {
            LogStoppedPartWay(logger, _pair.Local, _pair.Remote, e.GetBaseException().Message);
        }

        DeactivateOnIdle();
    }

    /// <summary>Starts the flush timer when operations are queued or batches await acknowledgement; an idle handle has none.</summary>
    private void ArmFlushTimer()
    {
        var work = _pair.NeedsFlushTick;
        if (work && _flushTimer is null)
        {
            var every = batching.Value.FlushInterval;
            _flushTimer = this.RegisterGrainTimer(_ => FlushTickAsync(), new GrainTimerCreationOptions(every, every) { KeepAlive = false });
        }
        else if (!work && _flushTimer is not null)
        {
            _flushTimer.Dispose();
            _flushTimer = null;
        }
    }

    /// <summary>
    /// Checks the remote's lease the moment it would lapse (while the pair exports anything), so a silent
    /// remote's holds go a lease after its last word, not up to a reminder period later. The reminder stays
    /// for the case this activation dies. The timer is moved only when it would fire late; one that fires
    /// early (the remote renewed since) sets itself again.
    /// </summary>
    private void ArmLapseTimer()
    {
        var at = _pair.LeaseLapsesAt;
        if (at is null)
        {
            _lapseTimer?.Dispose();
            (_lapseTimer, _lapseTimerAt) = (null, null);
            return;
        }

        if (_lapseTimer is not null && _lapseTimerAt <= at)
        {
            return;
        }

        // A hair past the lapse, so the check sees it lapsed (it compares "longer than the lease").
        var due = at.Value - clock.GetUtcNow() + TimeSpan.FromMilliseconds(1);
        due = due < TimeSpan.Zero ? TimeSpan.Zero : due > leases.Value.Duration * 2 ? leases.Value.Duration * 2 : due;
        _lapseTimer?.Dispose();
        _lapseTimerAt = at;
        _lapseTimer = this.RegisterGrainTimer(_ => LapseTickAsync(), new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = false });
    }

    private async Task LapseTickAsync()
    {
        _lapseTimer?.Dispose();
        (_lapseTimer, _lapseTimerAt) = (null, null);
        var at = _pair.LeaseLapsesAt;
        if (at is not null && at < clock.GetUtcNow())
        {
            await CheckLeaseAsync();
        }
        else
        {
            ArmLapseTimer();
        }
    }

    private async Task FlushTickAsync()
    {
        // A span only for ticks with something to seal or resend (the timer runs only then anyway).
        using var span = _pair.NeedsFlushTick ? DgcTracing.Start(DgcTracing.BatchFlush, _pair.Local, _pair.Remote) : null;
        await Run(() => _pair.OnFlushTickAsync());
    }

}
