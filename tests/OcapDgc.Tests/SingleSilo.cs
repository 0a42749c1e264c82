using Orleans.TestingHost;

namespace OcapDgc.Tests;

/// <summary>A test's own one-silo cluster, for tests that need settings of their own (storage, leases, timers).</summary>
public static class SingleSilo
{
    /// <summary>Builds and starts a one-silo in-process cluster configured by <paramref name="configure"/>.</summary>
    public static async Task<InProcessTestCluster> StartAsync(Action<ISiloBuilder> configure, Action<InProcessTestClusterBuilder>? options = null)
    {
        var builder = new InProcessTestClusterBuilder(1);
        options?.Invoke(builder);
        builder.ConfigureSilo((_, silo) => configure(silo));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>The silo's services (its transport, storage tracker, options).</summary>
    public static IServiceProvider Services(this InProcessTestCluster cluster) => ((InProcessSiloHandle)cluster.Silos[0]).ServiceProvider;
}
