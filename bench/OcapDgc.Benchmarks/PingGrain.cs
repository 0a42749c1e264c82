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
    // Resolved once per activation: GetGrain with an integer key is costly enough to hide the calls.
    private IPingGrain[] _targets = [];
    private int _firstKey = -1;

    public Task PingAsync() => Task.CompletedTask;

    public async Task FanOutAsync(int firstKey, int fanOut, int rounds)
    {
        if (_firstKey != firstKey || _targets.Length != fanOut)
        {
            _targets = [.. Enumerable.Range(firstKey, fanOut).Select(k => GrainFactory.GetGrain<IPingGrain>(k))];
            _firstKey = firstKey;
        }

        var targets = _targets;

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
