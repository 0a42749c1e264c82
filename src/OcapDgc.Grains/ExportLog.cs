using Microsoft.Extensions.Logging;

namespace OcapDgc;

/// <summary>What the export grain and the export shards log about an export, in one place.</summary>
internal static partial class ExportLog
{
    /// <summary>Whether the export is reachable now, when the debug-level trace is on (null otherwise: nothing to compare, nothing computed).</summary>
    public static bool? Traced(ILogger logger, ExportState state) => logger.IsEnabled(LogLevel.Debug) ? state.Reachable : null;

    /// <summary>For a diagnosis (debug level only): the export became reachable or unreachable, by what, and its holds now.</summary>
    public static void Reachability(ILogger logger, string export, ExportState state, bool? wasReachable, string what, string remote)
    {
        if (wasReachable is not { } was || was == state.Reachable)
        {
            return;
        }

        var holds = string.Join(" ", state.Holds.Select(h => $"{h.Key}={h.Value.Count}"));
        LogReachability(logger, export, state.Reachable ? "reachable" : "unreachable", what, remote, holds);
    }

    /// <summary>Logs the operations of a batch that an export refused.</summary>
    public static void Refused(ILogger logger, string remote, long seq, ExportApplyResult result)
    {
        foreach (var e in result.Errors)
        {
            LogRejected(logger, remote, seq, e);
        }
    }

    [LoggerMessage(EventId = (int)DgcLogEvent.ExportReachability, Level = LogLevel.Debug, Message = "{Export}: {Now} after {What} of {Remote}; holds {Holds}")]
    private static partial void LogReachability(ILogger logger, string export, string now, string what, string remote, string holds);

    [LoggerMessage(EventId = (int)DgcLogEvent.ExportOpRefused, Level = LogLevel.Warning, Message = "Refused an operation of batch {Seq} from {Remote}: {Error}")]
    private static partial void LogRejected(ILogger logger, string remote, long seq, string error);
}
