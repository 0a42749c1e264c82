namespace OcapDgc.Benchmarks;

/// <summary>The cheapest grain there is to activate: no state, nothing done on activation.</summary>
[Alias("ocap-dgc.bench.IActivationGrain")]
public interface IActivationGrain : IGrainWithIntegerKey
{
    /// <summary>Does nothing; the first call activates the grain.</summary>
    [Alias("touch")]
    Task TouchAsync();
}

/// <inheritdoc cref="IActivationGrain" />
internal sealed class ActivationGrain : Grain, IActivationGrain
{
    public Task TouchAsync() => Task.CompletedTask;
}
