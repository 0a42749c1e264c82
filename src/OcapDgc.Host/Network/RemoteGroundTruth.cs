using OcapDgc.ReferenceKernel;

namespace OcapDgc.Host.Network;

/// <summary>What the premature-release checks against other clusters found.</summary>
/// <param name="Checked">Checks answered.</param>
/// <param name="Premature">Labels an importer still held in a live session when its exporter was told they were dropped.</param>
/// <param name="Pending">Checks not answered yet (the importer's host cannot be reached at the moment).</param>
/// <param name="Unverified">Checks given up (no answer within the deadline, or not allowed).</param>
public sealed record GroundTruthFigures(long Checked, long Premature, long Pending, long Unverified);

/// <summary>
/// The reference kernels' premature-release check for importers in other clusters (<see cref="IRemoteGroundTruth"/>):
/// asks the importer's host (<c>/dgc/demo/which-held</c>, which needs this host in that host's
/// <c>Dgc:Network:DemoControl</c>) in the background, retrying while it cannot be reached, for up to
/// <see cref="Deadline"/>. Its figures go into the demo's summary line next to the kernels' own.
/// </summary>
public sealed partial class RemoteGroundTruth(PeerDirectory directory, IServiceProvider services, ILogger<RemoteGroundTruth> logger) : IRemoteGroundTruth
{
    /// <summary>How long a check keeps trying to reach the importer's host.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    private long _checked;
    private long _premature;
    private long _pending;
    private long _unverified;

    /// <inheritdoc />
    public bool IsRemote(string kernel) => directory.ServingPeer(kernel) is not null;

    /// <inheritdoc />
    public void Check(string importer, string[] labels, string exporter, long exporterEpoch)
    {
        var peer = directory.ServingPeer(importer);
        if (peer?.Address is null)
        {
            return;
        }

        Interlocked.Increment(ref _pending);
        _ = Task.Run(() => CheckAsync(peer, importer, labels, exporter, exporterEpoch));
    }

    /// <summary>The figures so far.</summary>
    public GroundTruthFigures Snapshot() => new(Interlocked.Read(ref _checked), Interlocked.Read(ref _premature), Interlocked.Read(ref _pending), Interlocked.Read(ref _unverified));

    /// <summary>Completes when no check is pending, or throws <see cref="TimeoutException"/>.</summary>
    public async Task WhenCheckedAsync(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (Interlocked.Read(ref _pending) > 0)
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"{Interlocked.Read(ref _pending)} premature-release checks against other clusters are still pending after {timeout}.");
            }

            await Task.Delay(50);
        }
    }

    private async Task CheckAsync(Peer peer, string importer, string[] labels, string exporter, long epoch)
    {
        var client = new DemoControlClient(services.GetRequiredService<PeerHttp>().For(peer));
        var until = DateTime.UtcNow + Deadline;
        var wait = TimeSpan.FromMilliseconds(200);
        try
        {
            while (true)
            {
                try
                {
                    using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    var held = await client.WhichHeldAsync(importer, labels, exporter, epoch, attempt.Token);
                    Interlocked.Add(ref _premature, held.Length);
                    Interlocked.Increment(ref _checked);
                    if (held.Length > 0)
                    {
                        LogPremature(logger, exporter, held.Length, importer, string.Join(", ", held.Take(5)));
                    }

                    return;
                }
                catch (Exception e) when (e is HttpRequestException { StatusCode: null } or OperationCanceledException && DateTime.UtcNow < until)
                {
                    // Not reachable now (a partition, or the host is restarting): try again.
                    await Task.Delay(wait);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or InvalidOperationException or System.Text.Json.JsonException)
        {
            Interlocked.Increment(ref _unverified);
            LogUnverified(logger, exporter, labels.Length, importer, e.Message);
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "PREMATURE: {Exporter} was told {Count} exports were dropped while {Importer} still held them in a live session: {Labels}")]
    private static partial void LogPremature(ILogger logger, string exporter, int count, string importer, string labels);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Could not check whether {Importer} still held {Count} exports of {Exporter} reported dropped: {Why}")]
    private static partial void LogUnverified(ILogger logger, string exporter, int count, string importer, string why);
}
