using Microsoft.Extensions.Logging;

namespace OcapDgc;

/// <summary>Logging and metrics for what the pair reports.</summary>
public sealed partial class RemoteHandleGrain
{
    /// <summary>At most one line of refused inbound operations per pair this often; the rest are counted into the next line.</summary>
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromMinutes(1);

    // Not persisted: per activation.
    private DateTimeOffset _refusalsLoggedAt = DateTimeOffset.MinValue;
    private long _refusalsUnlogged;

    private void Log(PairEvent e)
    {
        var (local, remote) = (_pair.Local, _pair.Remote);
        if (e is LeaseLapsed or PeerRestarted or SessionEnded or ReconcileFailed or LostSendsReleased or LateMessageRefused)
        {
            // On the span in progress (a lease check, an inbound frame), if one is being recorded.
            System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent(
                e.GetType().Name, tags: new System.Diagnostics.ActivityTagsCollection { ["dgc.detail"] = e.ToString() }));
        }

        switch (e)
        {
            case CallRefused r:
                DgcMetrics.OpsRejected.Add(1);
                LogRefused(logger, local, remote, r.Code, r.Reason);
                break;
            case InboundRefused r:
                DgcMetrics.OpsRejected.Add(r.Count);
                var now = clock.GetUtcNow();
                if (now - _refusalsLoggedAt >= RefusalLogInterval)
                {
                    LogInboundRejected(logger, local, remote, r.Count, _refusalsUnlogged, r.Reason);
                    (_refusalsLoggedAt, _refusalsUnlogged) = (now, 0);
                }
                else
                {
                    _refusalsUnlogged += r.Count;
                }

                break;
            case EffectRecorded r:
                LogEffectRecorded(logger, local, remote, r.Effect.Id, r.Effect.Kind, r.Effect.Krefs, r.Effect.CauseStream, r.Effect.CauseSeq);
                break;
            case EffectTold t:
                LogEffectTold(logger, local, remote, t.Id, t.Kind, t.Krefs);
                break;
            case LateMessageRefused m:
                DgcMetrics.OpsRejected.Add(1);
                LogLateMessageRefused(logger, local, remote, m.MessageId, m.Returned, m.Reason);
                break;
            case StaleIgnored s:
                LogStale(logger, local, remote, s.Reason);
                break;
            case LeaseLapsed l:
                LogLeaseLapsed(logger, local, remote, l.Silent, l.Exports);
                break;
            case PeerRestarted p:
                LogPeerRestarted(logger, local, remote, p.OldIncarnation, p.NewIncarnation);
                break;
            case SessionEnded s:
                if (s.Why == SessionEnd.LeaseLapsed)
                {
                    DgcMetrics.LeasesExpired.Add(1);
                    stats.CountLeaseExpired();
                }

                LogSessionEnded(logger, local, remote, s.Why, s.Exports, s.NewEpoch);
                break;
            case ReconcileFailed r:
                LogReconciled(logger, local, remote, r.Count, r.First);
                break;
            case LostSendsReleased l:
                LogLostSendsReleased(logger, local, remote, l.Count);
                break;
            case RefsExported x:
                DgcMetrics.RefsExported.Add(x.Count);
                break;
            case RefsImported i:
                DgcMetrics.RefsImported.Add(i.Count);
                break;
            case BatchSent:
                DgcMetrics.BatchesSent.Add(1);
                break;
            case BatchApplied:
                DgcMetrics.BatchesApplied.Add(1);
                break;
        }
    }

    [LoggerMessage(EventId = (int)DgcLogEvent.CallRefused, Level = LogLevel.Warning, Message = "{Local}->{Remote}: refused kernel call ({Code}): {Reason}")]
    private static partial void LogRefused(ILogger logger, string local, string remote, DgcError code, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.InboundRefused, Level = LogLevel.Warning, Message = "{Local}<-{Remote}: refused {Count} inbound operation(s), and {Unlogged} more since the last such line: {Reason}")]
    private static partial void LogInboundRejected(ILogger logger, string local, string remote, int count, long unlogged, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.LateMessageRefused, Level = LogLevel.Warning, Message = "{Local}<-{Remote}: refused message {MessageId}, which waited to be delivered and sends back {Returned}: {Reason}")]
    private static partial void LogLateMessageRefused(ILogger logger, string local, string remote, string messageId, string returned, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.HandleSuperseded, Level = LogLevel.Warning, Message = "{Local}->{Remote}: another activation of this handle wrote its state since this one read it; this one deactivates without writing again: {Reason}")]
    private static partial void LogSuperseded(ILogger logger, string local, string remote, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.HandleStoppedPartWay, Level = LogLevel.Warning, Message = "{Local}->{Remote}: an operation failed part way ({Reason}); this activation writes nothing more and deactivates, and the next call starts from what is stored")]
    private static partial void LogStoppedPartWay(ILogger logger, string local, string remote, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.NoKernel, Level = LogLevel.Warning, Message = "Kernel {Local} has not registered with its RemoteManager; callback skipped")]
    private static partial void LogNoKernel(ILogger logger, string local);

    [LoggerMessage(EventId = (int)DgcLogEvent.KernelCallbackFailed, Level = LogLevel.Error, Message = "Kernel {Local} callback for remote {Remote} failed")]
    private static partial void LogKernelCallbackFailed(ILogger logger, string local, string remote, Exception error);

    [LoggerMessage(EventId = (int)DgcLogEvent.StaleIgnored, Level = LogLevel.Information, Message = "{Local}<-{Remote}: ignored stale session: {Reason}")]
    private static partial void LogStale(ILogger logger, string local, string remote, string reason);

    [LoggerMessage(EventId = (int)DgcLogEvent.LeaseLapsed, Level = LogLevel.Warning, Message = "{Local}: lease of {Remote} lapsed ({Silent} without a word); releasing its holds on {Exports} exports")]
    private static partial void LogLeaseLapsed(ILogger logger, string local, string remote, TimeSpan silent, int exports);

    [LoggerMessage(EventId = (int)DgcLogEvent.PeerRestarted, Level = LogLevel.Warning, Message = "{Local}: {Remote} restarted (incarnation {Old} -> {New}); its session ends")]
    private static partial void LogPeerRestarted(ILogger logger, string local, string remote, long old, long @new);

    [LoggerMessage(EventId = (int)DgcLogEvent.SessionEnded, Level = LogLevel.Information, Message = "{Local}->{Remote}: session ended ({Why}); {Exports} holds released, new epoch {Epoch}")]
    private static partial void LogSessionEnded(ILogger logger, string local, string remote, SessionEnd why, int exports, long epoch);

    [LoggerMessage(EventId = (int)DgcLogEvent.EffectRecorded, Level = LogLevel.Debug, Message = "{Local}->{Remote}: effect {Id} recorded: {Kind} {Krefs} (cause {CauseStream}/{CauseSeq})")]
    private static partial void LogEffectRecorded(ILogger logger, string local, string remote, string id, EffectKind kind, IEnumerable<string> krefs, long causeStream, long causeSeq);

    [LoggerMessage(EventId = (int)DgcLogEvent.EffectTold, Level = LogLevel.Debug, Message = "{Local}->{Remote}: effect {Id} told: {Kind} {Krefs}")]
    private static partial void LogEffectTold(ILogger logger, string local, string remote, string id, EffectKind kind, IEnumerable<string> krefs);

    [LoggerMessage(EventId = (int)DgcLogEvent.LostSendsReleased, Level = LogLevel.Information, Message = "{Local}<-{Remote}: reconciliation fenced off lost messages and released the lost sends of {Count} exports")]
    private static partial void LogLostSendsReleased(ILogger logger, string local, string remote, int count);

    [LoggerMessage(EventId = (int)DgcLogEvent.ReconcileFailed, Level = LogLevel.Warning, Message = "{Local}<-{Remote}: reconciliation found {Count} lasting differences (first: {First}); ending the session")]
    private static partial void LogReconciled(ILogger logger, string local, string remote, int count, string first);
}
