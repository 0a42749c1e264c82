using OcapDgc.Transport;

namespace OcapDgc.Hosting;

/// <summary>Brings kernels hosted in one cluster to quiescence by awaiting events, not by sleeping.</summary>
public static class DgcQuiescence
{
    /// <summary>
    /// Runs bring-out-your-dead on every kernel and waits for the transport to go idle, until no handle
    /// has queued operations or unacknowledged batches. Throws <see cref="TimeoutException"/> after
    /// <paramref name="maxRounds"/> rounds (for example while a partition holds batches back).
    /// </summary>
    public static async Task SettleAsync(IGrainFactory grains, InClusterTransport transport, IReadOnlyCollection<string> kernels, int maxRounds = 50)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(transport);
        for (var round = 0; round < maxRounds; round++)
        {
            foreach (var k in kernels)
            {
                await grains.GetGrain<IRemoteManagerGrain>(k).BringOutYourDeadAsync();
            }

            await transport.WhenIdleAsync(TimeSpan.FromMinutes(2));
            var busy = false;
            foreach (var k in kernels)
            {
                var figures = await grains.GetGrain<IRemoteManagerGrain>(k).GetRemoteFiguresAsync();
                busy |= figures.Any(f => f.QueuedOps > 0 || f.UnackedBatches > 0);
            }

            if (!busy)
            {
                return;
            }
        }

        throw new TimeoutException($"Kernels {string.Join(", ", kernels)} did not settle after {maxRounds} rounds of bring-out-your-dead.");
    }
}
