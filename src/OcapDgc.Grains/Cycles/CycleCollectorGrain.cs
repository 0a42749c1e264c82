using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Internal;

namespace OcapDgc;

/// <inheritdoc cref="ICycleCollectorGrain" />
/// <remarks>
/// A shell over <see cref="CycleTracer"/>, which holds the rules: this grain carries out what the tracer asks
/// with grain calls (the kernel's <see cref="ICycleKernel"/>, the export grains' snapshots, the remote handles'
/// facts and frames) and runs the scan timer. Handles hand it cycle frames one-way, so it may call them without
/// a circle of waits. Its traces live in memory: a reactivated collector answers the rounds it forgot "live"
/// (they give up), and starts again at its next scan. Not reentrant: the tracer's inputs run one at a time.
/// </remarks>
public sealed partial class CycleCollectorGrain(
    IOptions<CycleOptions> options,
    [FromKeyedServices(DgcClock.Key)] TimeProvider clock,
    ILogger<CycleCollectorGrain> logger) : Grain, ICycleCollectorGrain, ICycleCollectorInternal, ICycleEnvironment
{
    private readonly Dictionary<string, DateTimeOffset> _tried = new(StringComparer.Ordinal);
    private CycleTracer _tracer = null!;
    private ICycleKernel? _kernel;
    private IGrainTimer? _timer;

    private string KernelId => this.GetPrimaryKeyString();

    private IRemoteManagerInternal Manager => GrainFactory.GetGrain<IRemoteManagerInternal>(KernelId);

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        DgcIds.ValidateKernelId(KernelId);
        _tracer = new CycleTracer(KernelId, options.Value.ToSettings(), clock, this);
        _kernel = await Manager.GetCycleKernelAsync();
        ArmTimer();
    }

    /// <inheritdoc />
    public async Task StartAsync(ICycleKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        await Manager.SetCycleKernelAsync(kernel);
        _kernel = kernel;
        ArmTimer();
    }

    /// <inheritdoc />
    public async Task<int> ScanAsync()
    {
        await _tracer.TickAsync();
        if (_kernel is null)
        {
            return 0;
        }

        var now = clock.GetUtcNow();
        var quiet = options.Value.SuspectAfter;
        foreach (var (kref, at) in _tried.Where(t => now - t.Value >= quiet).ToList())
        {
            _tried.Remove(kref);
        }

        var suspects = new List<(string Remote, string Kref)>();
        var remotes = await GrainFactory.GetGrain<IRemoteManagerGrain>(KernelId).GetRemoteFiguresAsync();
        foreach (var remote in remotes.Select(f => f.RemoteKernel).Order(StringComparer.Ordinal))
        {
            foreach (var kref in await Handle(remote).GetCycleCandidatesAsync(quiet))
            {
                if (!_tried.ContainsKey(kref) && !_tracer.IsTracing(kref))
                {
                    suspects.Add((remote, kref));
                }
            }
        }

        if (suspects.Count == 0 || await AskKernelAsync([.. suspects.Select(s => s.Kref)]) is not { } answer)
        {
            return 0;
        }

        var started = 0;
        var from = suspects.ToDictionary(s => s.Kref, s => s.Remote, StringComparer.Ordinal);
        foreach (var reach in answer.Imports.Where(i => i.Reach == Reach.FromExports && from.ContainsKey(i.Kref)))
        {
            if (!await _tracer.StartAsync(from[reach.Kref], reach.Kref))
            {
                break; // at the bound of traces at once: the rest wait for the next scan
            }

            _tried[reach.Kref] = now;
            started++;
        }

        return started;
    }

    /// <inheritdoc />
    public Task<CycleFigures> GetFiguresAsync()
    {
        var c = _tracer.Counters;
        return Task.FromResult(new CycleFigures(_kernel is not null, c.Started, c.Live, c.GaveUp, c.Changed, c.Garbage, c.FramesSent, c.AsksReceived, c.Refused, _tracer.ActiveTraces));
    }

    /// <inheritdoc />
    public Task OnAskAsync(string remote, long trace, long confirm, long wireId, ImportFacts? facts)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        return _tracer.OnAskAsync(remote, trace, confirm, wireId, facts);
    }

    /// <inheritdoc />
    public Task OnReplyAsync(string remote, long trace, long confirm, string exportKref, bool live, string[] pending, long receipts, bool caughtUp)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        return _tracer.OnReplyAsync(remote, trace, confirm, exportKref, live, pending ?? [], receipts, caughtUp);
    }

    /// <inheritdoc />
    public async Task<ReachabilityAnswer?> AskKernelAsync(string[] importKrefs)
    {
        if (_kernel is null)
        {
            return null; // cycle detection is off here: every trace through this kernel is answered "live"
        }

        try
        {
            return await _kernel.AnswerReachabilityAsync(importKrefs);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogKernelFailed(logger, KernelId, e);
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<ExportSnapshot> GetExportAsync(string kref) =>
        (await new ExportShards(GrainFactory, KernelId).SnapshotsAsync([kref]))[0];

    /// <inheritdoc />
    public Task<ImportFacts?> GetImportFactsAsync(string remote, string kref) => Handle(remote).GetCycleFactsAsync(kref);

    /// <inheritdoc />
    public Task<bool> SendAskAsync(string remote, long trace, long confirm, string exportKref) =>
        Handle(remote).SendCycleAskAsync(trace, confirm, exportKref);

    /// <inheritdoc />
    public Task<bool> SendReplyAsync(string remote, long trace, long confirm, long wireId, bool live, string[] pending, long receipts) =>
        Handle(remote).SendCycleReplyAsync(trace, confirm, wireId, live, pending, receipts);

    /// <inheritdoc />
    public async Task CollectAsync(string remote, string[] importKrefs)
    {
        if (_kernel is null)
        {
            return;
        }

        LogGarbage(logger, KernelId, remote, importKrefs);
        try
        {
            await _kernel.OnCycleGarbageAsync(remote, importKrefs);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The import stays held; a later scan traces it again.
            LogKernelFailed(logger, KernelId, e);
        }
    }

    /// <inheritdoc />
    public void Report(CycleEvent e)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            LogEvent(logger, KernelId, e);
        }
    }

    private void ArmTimer()
    {
        if (_kernel is null || _timer is not null)
        {
            return;
        }

        var every = options.Value.ScanInterval;
        _timer = this.RegisterGrainTimer(_ => ScanAsync(), new GrainTimerCreationOptions(every, every) { KeepAlive = true });
    }

    private IRemoteHandleInternal Handle(string remote) =>
        GrainFactory.GetGrain<IRemoteHandleInternal>(DgcIds.HandleKey(KernelId, remote));

    [LoggerMessage(EventId = 4101, Level = LogLevel.Debug, Message = "{Kernel} cycles: {Event}")]
    private static partial void LogEvent(ILogger logger, string kernel, CycleEvent @event);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "{Kernel} cycles: a confirmed trace found imports from {Remote} garbage: {Krefs}")]
    private static partial void LogGarbage(ILogger logger, string kernel, string remote, string[] krefs);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "{Kernel} cycles: the kernel's cycle call failed")]
    private static partial void LogKernelFailed(ILogger logger, string kernel, Exception e);
}
