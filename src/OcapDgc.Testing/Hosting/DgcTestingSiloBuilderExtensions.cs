using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using OcapDgc.ReferenceKernel;
using OcapDgc.Storage;
using OcapDgc.Transport;

namespace OcapDgc.Hosting;

/// <summary>
/// What the demo, the tests and the benchmark add to a silo besides <c>AddDistributedGc</c>: the reference
/// kernel's options, the fault-injecting transport and storage tracking. A production silo needs none of them.
/// </summary>
public static class DgcTestingSiloBuilderExtensions
{
    /// <summary>
    /// Binds the reference kernel's options from <c>Dgc:ReferenceKernel</c> (<see cref="ReferenceKernelOptions"/>).
    /// Without it the reference kernels run with the defaults (ground truth in memory only).
    /// </summary>
    public static ISiloBuilder AddReferenceKernels(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ReferenceKernelOptions>().BindConfiguration(ReferenceKernelOptions.Section);
        return builder;
    }

    /// <summary>Puts a <see cref="FaultInjectingTransport"/> in front of the in-cluster transport (tests and the chaos demo).</summary>
    public static ISiloBuilder UseDgcFaultInjection(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(sp => new FaultInjectingTransport(sp.GetRequiredService<InClusterTransport>()));
        builder.Services.AddSingleton<IDgcTransport>(sp => sp.GetRequiredService<FaultInjectingTransport>());
        return builder;
    }

    /// <summary>
    /// Counts the DGC's storage entries and operations: registers a <see cref="DgcStorageTracker"/> and
    /// decorates the <see cref="DgcStorage.Name"/> storage with a <see cref="TrackingGrainStorage"/> that
    /// reports to it. It wraps whatever is registered as <see cref="DgcStorage.Name"/> when it is called
    /// (after <c>AddDistributedGc</c>, the backend); called before, it wraps <see cref="DgcStorage.Backend"/>
    /// and <c>AddDistributedGc</c> keeps it. Calling it twice does not wrap twice.
    /// </summary>
    public static ISiloBuilder UseDgcStorageTracking(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(DgcStorageTracker)))
        {
            return builder;
        }

        services.AddSingleton<DgcStorageTracker>();
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, DgcStorage.Name));
        Func<IServiceProvider, IGrainStorage> inner = registered is null
            ? sp => sp.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Backend)
            : sp => Create(registered, sp);
        if (registered is not null)
        {
            services.Remove(registered);
        }

        services.AddKeyedSingleton<IGrainStorage>(DgcStorage.Name, (sp, _) =>
            TrackingGrainStorage.Wrap(inner(sp), sp.GetRequiredService<DgcStorageTracker>()));
        return builder;
    }

    /// <summary>The service <paramref name="descriptor"/> (a keyed <see cref="IGrainStorage"/>) would have produced.</summary>
    private static IGrainStorage Create(ServiceDescriptor descriptor, IServiceProvider services) =>
        (IGrainStorage)(descriptor.KeyedImplementationInstance
            ?? descriptor.KeyedImplementationFactory?.Invoke(services, descriptor.ServiceKey)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.KeyedImplementationType!));
}
