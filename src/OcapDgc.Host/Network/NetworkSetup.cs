using Microsoft.Extensions.DependencyInjection.Extensions;
using OcapDgc.ReferenceKernel;
using OcapDgc.Transport;

namespace OcapDgc.Host.Network;

/// <summary>Turns the network transport between clusters on, from <c>Dgc:Network</c> (docs/security.md).</summary>
public static class NetworkSetup
{
    /// <summary>Whether <c>Dgc:Network:Listen</c> is set, which turns the network on.</summary>
    public static bool IsEnabled(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return !string.IsNullOrWhiteSpace(configuration[$"{NetworkOptions.Section}:Listen"]);
    }

    /// <summary>
    /// Mutual TLS between the cluster's silos and on its gateway when <c>Orleans:Tls</c> is configured
    /// (<see cref="ClusterTls"/>); then, when the network is configured, validates its settings and loads this host's key (returning every
    /// problem, for exit code 2), then registers the network transport in place of the in-cluster one (frames
    /// to kernels of this cluster still go through it), the peer endpoint, the demo control and the remote
    /// ground-truth checks. Returns null when all is well or the network is off.
    /// </summary>
    public static string? Add(WebApplicationBuilder builder, HostProfile profile, bool chaos)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (ClusterTls.Add(builder) is { } tlsProblem)
        {
            return tlsProblem;
        }

        if (!IsEnabled(builder.Configuration))
        {
            return null;
        }

        var options = builder.Configuration.GetSection(NetworkOptions.Section).Get<NetworkOptions>() ?? new NetworkOptions();
        var problems = options.Validate().ToList();
        if (chaos)
        {
            problems.Add($"--chaos runs its kernels in one cluster; it cannot be combined with {NetworkOptions.Section}.");
        }

        if (problems.Count > 0)
        {
            return string.Join(Environment.NewLine, problems);
        }

        NetworkIdentity identity;
        try
        {
            identity = NetworkIdentity.Load(options.Certificate!, options.Key!);
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }

        if (options.Peers.FirstOrDefault(p => p.Value.Pins.Contains(identity.Pin)) is { Key: { } self })
        {
            identity.Dispose();
            return $"{NetworkOptions.Section}:Peers:{self} pins this host's own key ({identity.Pin}); each host needs a key of its own.";
        }

        var directory = new PeerDirectory(options);
        var services = builder.Services;
        services.AddOptions<NetworkOptions>().BindConfiguration(NetworkOptions.Section);
        services.AddSingleton(identity);
        services.AddSingleton(directory);
        services.AddSingleton(new NetworkStartup(FreshIncarnation: profile == HostProfile.Embedded));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<NetworkCounters>();
        services.AddSingleton(sp => new PeerHttp(directory, identity, options));
        services.AddSingleton<NetworkTransport>();
        services.RemoveAll<IDgcTransport>();
        services.AddSingleton<IDgcTransport>(sp => sp.GetRequiredService<NetworkTransport>());
        services.AddSingleton<RemoteGroundTruth>();
        services.AddSingleton<IRemoteGroundTruth>(sp => sp.GetRequiredService<RemoteGroundTruth>());
        services.AddSingleton<DemoControl>();
        services.AddSingleton<PeerEndpoint>();
        services.AddHostedService(sp => sp.GetRequiredService<PeerEndpoint>());
        return null;
    }
}
