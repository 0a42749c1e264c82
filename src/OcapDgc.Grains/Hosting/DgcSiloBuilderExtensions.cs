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
    /// <c>Dgc:Batching</c>) and lease options (bound from <c>Dgc:Lease</c>), both validated at start-up,
    /// the DGC clock (<see cref="DgcClock"/>, the system clock unless <see cref="UseDgcClock"/> set one),
    /// the storage tracker and the <c>dgc-store</c> storage, which wraps the provider the host registers
    /// as <see cref="DgcStorage.Backend"/>. The host must also register a reminder service: each remote
    /// handle keeps a lease reminder while it holds anything.
    /// </summary>
    public static ISiloBuilder AddDistributedGc(this ISiloBuilder builder, Action<BatchingOptions>? configure = null, Action<LeaseOptions>? lease = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        AddValidatedOptions(services, BatchingOptions.Section, configure, o => o.Validate());
        AddValidatedOptions(services, LeaseOptions.Section, lease, o => o.Validate());
        services.TryAddKeyedSingleton(DgcClock.Key, TimeProvider.System);
        services.AddOptions<ReferenceKernel.ReferenceKernelOptions>().BindConfiguration(ReferenceKernel.ReferenceKernelOptions.Section);
        services.TryAddSingleton<InClusterTransport>();
        services.TryAddSingleton<IDgcTransport>(sp => sp.GetRequiredService<InClusterTransport>());
        services.TryAddSingleton<DgcStorageTracker>();
        services.AddKeyedSingleton<IGrainStorage>(DgcStorage.Name, (sp, _) => new TrackingGrainStorage(
            sp.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Backend),
            sp.GetRequiredService<DgcStorageTracker>()));
        return builder;
    }

    /// <summary>Makes the DGC read time from <paramref name="clock"/> (a fake one in tests); Orleans keeps its own clock.</summary>
    public static ISiloBuilder UseDgcClock(this ISiloBuilder builder, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeyedSingleton(DgcClock.Key, clock);
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

    private static void AddValidatedOptions<T>(IServiceCollection services, string section, Action<T>? configure, Func<T, IEnumerable<string>> validate)
        where T : class
    {
        var options = services.AddOptions<T>().BindConfiguration(section);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new ListingValidator<T>(validate));
    }

    private sealed class ListingValidator<T>(Func<T, IEnumerable<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options).ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
