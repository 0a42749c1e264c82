using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using OcapDgc.Storage;
using OcapDgc.Transport;

namespace OcapDgc.Hosting;

/// <summary>Registers the distributed GC in a silo, the way Orleans' own providers are added.</summary>
public static class DgcSiloBuilderExtensions
{
    /// <summary>
    /// Adds the DGC services: the in-cluster transport, batching options (bound from
    /// <c>Dgc:Batching</c> and validated at start-up), the storage tracker and the <c>dgc-store</c>
    /// storage, which wraps the provider the host registers as <see cref="DgcStorage.Backend"/>.
    /// </summary>
    public static ISiloBuilder AddDistributedGc(this ISiloBuilder builder, Action<BatchingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<BatchingOptions>().BindConfiguration(BatchingOptions.Section);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.AddOptions<ReferenceKernel.ReferenceKernelOptions>().BindConfiguration(ReferenceKernel.ReferenceKernelOptions.Section);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BatchingOptions>, BatchingOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<InClusterTransport>();
        services.TryAddSingleton<IDgcTransport>(sp => sp.GetRequiredService<InClusterTransport>());
        services.TryAddSingleton<DgcStorageTracker>();
        services.AddKeyedSingleton<IGrainStorage>(DgcStorage.Name, (sp, _) => new TrackingGrainStorage(
            sp.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Backend),
            sp.GetRequiredService<DgcStorageTracker>()));
        return builder;
    }

    /// <summary>Keeps DGC state in silo memory: the embedded default, lost when the silo stops.</summary>
    public static ISiloBuilder UseDgcInMemoryStorage(this ISiloBuilder builder) =>
        builder.AddMemoryGrainStorage(DgcStorage.Backend);

    /// <summary>
    /// Keeps DGC state in a relational database through Orleans' ADO.NET grain storage (the PostgreSQL
    /// cluster profile uses <paramref name="invariant"/> <c>Npgsql</c>). A cleared state deletes its row
    /// (<c>DeleteStateOnClear</c>), so a fully released export leaves nothing behind. The schema must be
    /// applied first (<c>silo-config/postgresql</c>, <c>scripts/pg-setup.sh</c>), and the ADO.NET driver
    /// of <paramref name="invariant"/> must be referenced by the host.
    /// </summary>
    public static ISiloBuilder UseDgcAdoNetStorage(this ISiloBuilder builder, string connectionString, string invariant = "Npgsql")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(invariant);
        return builder.AddAdoNetGrainStorage(DgcStorage.Backend, o =>
        {
            o.Invariant = invariant;
            o.ConnectionString = connectionString;
            o.DeleteStateOnClear = true;
        });
    }

    /// <summary>Puts a <see cref="FaultInjectingTransport"/> in front of the in-cluster transport (tests and the chaos demo).</summary>
    public static ISiloBuilder UseDgcFaultInjection(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(sp => new FaultInjectingTransport(sp.GetRequiredService<InClusterTransport>()));
        builder.Services.AddSingleton<IDgcTransport>(sp => sp.GetRequiredService<FaultInjectingTransport>());
        return builder;
    }

    private sealed class BatchingOptionsValidator : IValidateOptions<BatchingOptions>
    {
        public ValidateOptionsResult Validate(string? name, BatchingOptions options)
        {
            var errors = options.Validate().ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
