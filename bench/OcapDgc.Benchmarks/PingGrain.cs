namespace OcapDgc.Benchmarks;

/// <summary>The Orleans ceiling: the cheapest grain call there is, on the same silo as the DGC.</summary>
[Alias("ocap-dgc.bench.IPingGrain")]
public interface IPingGrain : IGrainWithIntegerKey
{
    /// <summary>Does nothing.</summary>
    [Alias("ping")]
    Task PingAsync();

    /// <summary>
    /// Calls <paramref name="fanOut"/> distinct ping grains at once, <paramref name="rounds"/> times: the
    /// grain-to-grain pattern a remote handle uses towards its exports.
    /// </summary>
    [Alias("fan-out")]
    Task FanOutAsync(int firstKey, int fanOut, int rounds);
}

/// <inheritdoc cref="IPingGrain" />
internal sealed class PingGrain : Grain, IPingGrain
{
    public Task PingAsync() => Task.CompletedTask;

    public async Task FanOutAsync(int firstKey, int fanOut, int rounds)
    {
        var targets = new IPingGrain[fanOut];
        for (var i = 0; i < fanOut; i++)
        {
            targets[i] = GrainFactory.GetGrain<IPingGrain>(firstKey + i);
        }

        var calls = new Task[fanOut];
        for (var r = 0; r < rounds; r++)
        {
            for (var i = 0; i < fanOut; i++)
            {
                calls[i] = targets[i].PingAsync();
            }

            await Task.WhenAll(calls);
        }
    }
}
