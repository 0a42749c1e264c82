using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc;

/// <inheritdoc cref="IRemoteHandleGrain" />
/// <remarks>
/// A shell over <see cref="RemotePair"/>, which holds the protocol: this grain activates the pair over its
/// persisted <see cref="PairState"/>, runs the flush and ping timers and the lease reminder, and carries out
/// what the pair asks of its environment with grain calls (the kernel's manager, the export grains, the
/// kernel), storage and the transport. Kernels call it as <see cref="IRemoteHandleGrain"/>; the transport,
/// the lease reminder and the manager as <see cref="IRemoteHandleInternal"/>.
/// </remarks>
public sealed partial class RemoteHandleGrain(
    [PersistentState(DgcStateNames.RemoteHandle, DgcStorage.Name)] IPersistentState<PairState> state,
    IDgcTransport transport,
    IOptions<BatchingOptions> batching,
    IOptions<LeaseOptions> leases,
    IOptions<LimitOptions> limits,
    [FromKeyedServices(DgcClock.Key)] TimeProvider clock,
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

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (local, remote) = DgcIds.SplitKey(this.GetPrimaryKeyString());
        DgcIds.ValidateKernelId(local, "local kernel");
        DgcIds.ValidateKernelId(remote, "remote kernel");
        _manager = GrainFactory.GetGrain<IRemoteManagerGrain>(local);
        _managerInternal = GrainFactory.GetGrain<IRemoteManagerInternal>(local);
        _kernel = await _managerInternal.GetKernelAsync();
        var (b, l) = (batching.Value, leases.Value);
        var settings = new PairSettings(b.MaxBatchSize, b.ReceiveWindow, b.RetransmitAfter, l.Duration, l.PingInterval) { Limits = limits.Value.ToPairLimits() };
        _pair = new RemotePair(local, remote, state.State, settings, clock, this);

        // Pings need a tick per ping interval; the flush timer runs only while there is something to send.
        this.RegisterGrainTimer(_ => Run(_pair.OnPingTickAsync()), new GrainTimerCreationOptions(l.PingInterval, l.PingInterval) { KeepAlive = false });
        ArmFlushTimer();
        await _pair.ActivateAsync();
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _pair.DeactivateAsync(); // final flush, so queued drops are not left waiting for the next activation

    /// <inheritdoc />
    public Task<string[]> ExportRefsAsync(string[] krefs) => Run(_pair.ExportRefsAsync(krefs));

    /// <inheritdoc />
    public Task<string[]> ImportRefsAsync(string[] wireRefs) => Run(_pair.ImportRefsAsync(wireRefs));

    /// <inheritdoc />
    public Task<string[]> SendAsync(string method, string body, string[] krefs) => Run(_pair.SendAsync(method, body, krefs));

    /// <inheritdoc />
    public Task DropImportsAsync(string[] krefs) => Run(_pair.DropImportsAsync(krefs));

    /// <inheritdoc />
    public Task RetireImportsAsync(string[] krefs) => Run(_pair.RetireImportsAsync(krefs));

    /// <inheritdoc />
    public Task FlushAsync() => Run(_pair.FlushAsync());

    /// <inheritdoc />
    public Task DeliverBringOutYourDeadAsync(bool askRemote) => Run(_pair.BringOutYourDeadAsync(askRemote));

    /// <inheritdoc />
    public Task CheckLeaseAsync() => Run(_pair.CheckLeaseAsync());

    /// <inheritdoc />
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == LeaseReminder ? CheckLeaseAsync() : Task.CompletedTask;

    /// <inheritdoc />
    public Task ResetAsync(long incarnation) => Run(_pair.ResetAsync(incarnation));

    /// <inheritdoc />
    public Task RetireExportsAsync(string[] krefs) => Run(_pair.RetireExportsAsync(krefs));

    /// <inheritdoc />
    public Task ReceiveFrameAsync(string frameJson) => Run(_pair.ReceiveFrameAsync(frameJson));

    /// <inheritdoc />
    public Task<RemoteFigures> GetFiguresAsync()
    {
        var (s, c) = (_pair.State, _pair.Counters);
        return Task.FromResult(new RemoteFigures(
            _pair.Local, _pair.Remote, s.Exports.Count, s.Imports.Count, s.Imports.Values.Count(i => i.Reachable),
            s.Queue.Count, s.Unacked.Count, s.NextSeq, s.HighestApplied, c.BatchesSent, c.BatchesApplied,
            c.DuplicateBatches, c.Rejected, c.FramesSent, c.FramesReceived, s.Incarnation, s.Epoch, s.PeerEpoch,
            s.Revoked.Count, c.LeaseExpiries, c.PingsSent, c.Reconciliations, c.StaleOps, s.Stream, s.PeerStream,
            c.DuplicateMessages));
    }

    async Task<SessionStart> IPairEnvironment.OpenSessionAsync() => await _managerInternal.RegisterRemoteAsync(_pair.Remote);

    Task<long> IPairEnvironment.NextEpochAsync() => _managerInternal.NextEpochAsync();

    Task<string[]> IPairEnvironment.AllocateKrefsAsync(int count) => _manager.AllocateKrefsAsync(count);

    Task IPairEnvironment.ForgetRemoteAsync(PeerMemory memory) => _managerInternal.ForgetRemoteAsync(_pair.Remote, memory);

    Task<PeerMemory?> IPairEnvironment.RecallRemoteAsync() => _managerInternal.RecallRemoteAsync(_pair.Remote);

    Task IPairEnvironment.RecordSentAsync(string kref, long count) => Export(kref).RecordSentAsync(_pair.Remote, count);

    Task<ExportApplyResult> IPairEnvironment.ApplyToExportAsync(string kref, long stream, long seq, DgcOpKind[] ops, long[] counts) =>
        Export(kref).ApplyAsync(_pair.Remote, stream, seq, ops, counts);

    Task<ExportApplyResult> IPairEnvironment.ExpireExportAsync(string kref) => Export(kref).ExpireRemoteAsync(_pair.Remote);

    Task<ExportApplyResult> IPairEnvironment.ReleaseLostSendsAsync(string kref, bool forget) =>
        Export(kref).ReleaseLostSendsAsync(_pair.Remote, forget);

    Task<ExportSnapshot> IPairEnvironment.GetExportAsync(string kref) => Export(kref).GetSnapshotAsync();

    async Task IPairEnvironment.WriteStateAsync(PairState pairState)
    {
        state.State = pairState;
        await state.WriteStateAsync();
        ArmFlushTimer();
    }

    async Task IPairEnvironment.ClearStateAsync()
    {
        if (state.RecordExists)
        {
            await state.ClearStateAsync();
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
                MessageDelivered m => _kernel.DeliverAsync(remote, m.Method, m.Body, m.Krefs),
                ExportsDropped d => Counted(DgcMetrics.ExportsDropped, d.Krefs.Length, _kernel.OnExportsDroppedAsync(d.EffectId, d.Krefs)),
                ExportsRetired r => Counted(DgcMetrics.ExportsRetired, r.Krefs.Length, _kernel.OnExportsRetiredAsync(r.EffectId, r.Krefs)),
                ImportsRevoked v => Counted(DgcMetrics.ImportsRevoked, v.Krefs.Length, _kernel.OnImportsRevokedAsync(remote, v.EffectId, v.Krefs)),
                ImportsRetired t => _kernel.OnImportsRetiredAsync(remote, t.EffectId, t.Krefs),
                BoydRequested => _kernel.OnBringOutYourDeadAsync(remote),
                RemoteSessionEnded e => _kernel.OnSessionEndedAsync(remote, e.EffectId, e.Why, e.Released),
                _ => Task.CompletedTask,
            });
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An effect stays in the pair's outbox and is delivered again; a message delivery is not repeated.
            LogKernelCallbackFailed(logger, _pair.Local, remote, e);
            return false;
        }

        static Task Counted(System.Diagnostics.Metrics.Counter<long> counter, int n, Task call)
        {
            counter.Add(n);
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

    /// <summary>Runs one input of the pair, then starts or stops the flush timer to match what is left to send.</summary>
    private async Task Run(Task input)
    {
        await input;
        ArmFlushTimer();
    }

    private async Task<T> Run<T>(Task<T> input)
    {
        var result = await input;
        ArmFlushTimer();
        return result;
    }

    /// <summary>Starts the flush timer when operations are queued or batches await acknowledgement; an idle handle has none.</summary>
    private void ArmFlushTimer()
    {
        var work = _pair.NeedsFlushTick;
        if (work && _flushTimer is null)
        {
            var every = batching.Value.FlushInterval;
            _flushTimer = this.RegisterGrainTimer(_ => Run(_pair.OnFlushTickAsync()), new GrainTimerCreationOptions(every, every) { KeepAlive = false });
        }
        else if (!work && _flushTimer is not null)
        {
            _flushTimer.Dispose();
            _flushTimer = null;
        }
    }

    private IExportGrain Export(string kref) => GrainFactory.GetGrain<IExportGrain>(DgcIds.ExportKey(_pair.Local, kref));
}
