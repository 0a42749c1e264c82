using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using OcapDgc.Observability;
using OcapDgc.Storage;
using OcapDgc.Transport;

namespace OcapDgc.Hosting;

/// <summary>Registers the distributed GC in a silo, the way Orleans' own providers are added.</summary>
public static class DgcSiloBuilderExtensions
{
    /// <summary>
    /// The grain directory cache size <see cref="AddDistributedGc(ISiloBuilder, Action{BatchingOptions}?, Action{LeaseOptions}?)"/> sets when the host left Orleans'
    /// default (1,000,000) in place: it bounds the memory kept for grains that were once addressed.
    /// </summary>
    public const int DirectoryCacheSize = 100_000;

    /// <summary>
    /// Adds the DGC services: the in-cluster transport, batching options (bound from
    /// <c>Dgc:Batching</c>) and lease options (bound from <c>Dgc:Lease</c>), both validated at start-up,
    /// the DGC clock (<see cref="DgcClock"/>, the system clock unless <see cref="UseDgcClock"/> set one),
    /// and the <c>dgc-store</c> storage, which is the provider the host registers as
    /// <see cref="DgcStorage.Backend"/> (unless something else was registered as <see cref="DgcStorage.Name"/>),
    /// with Orleans' binary storage serializer for that backend. It
    /// also bounds Orleans' grain directory cache (<see cref="DirectoryCacheSize"/>). The host must also
    /// register a reminder service: each remote handle keeps a lease reminder while it holds anything.
    /// </summary>
    public static ISiloBuilder AddDistributedGc(this ISiloBuilder builder, Action<BatchingOptions>? configure = null, Action<LeaseOptions>? lease = null) =>
        builder.AddDistributedGc(
            configure is null ? null : o => o.Configure(configure),
            lease is null ? null : o => o.Configure(lease));

    /// <summary>
    /// Adds the DGC services like <see cref="AddDistributedGc(ISiloBuilder, Action{BatchingOptions}?, Action{LeaseOptions}?)"/>,
    /// in the shape of Orleans' own providers: each options class is bound from its configuration section
    /// first, then handed to <paramref name="batching"/> and <paramref name="lease"/> as an
    /// <see cref="OptionsBuilder{TOptions}"/>, which may bind another section, configure or post-configure it,
    /// or add validation. Both are validated at start-up, and logged with the silo's other options.
    /// </summary>
    public static ISiloBuilder AddDistributedGc(this ISiloBuilder builder, Action<OptionsBuilder<BatchingOptions>>? batching, Action<OptionsBuilder<LeaseOptions>>? lease)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        AddValidatedOptions<BatchingOptions, BatchingOptionsValidator>(services, BatchingOptions.Section, batching);
        AddValidatedOptions<LeaseOptions, LeaseOptionsValidator>(services, LeaseOptions.Section, lease);
        AddValidatedOptions<LimitOptions, LimitOptionsValidator>(services, LimitOptions.Section, null);
        AddValidatedOptions<CycleOptions, CycleOptionsValidator>(services, CycleOptions.Section, null);
        AddValidatedOptions<ExportShardOptions, ExportShardOptionsValidator>(services, ExportShardOptions.Section, null);

        // Logged at start-up with Orleans' own options (Orleans' IOptionFormatter).
        services.ConfigureFormatter<BatchingOptions>();
        services.ConfigureFormatter<LeaseOptions>();
        services.TryAddKeyedSingleton(DgcClock.Key, TimeProvider.System);

        // What the active remote handles publish, for the gauges and the host's views (no grain scans).
        services.TryAddSingleton(sp => new DgcSiloStats(
            sp.GetRequiredService<ILocalSiloDetails>().Name,
            sp.GetRequiredKeyedService<TimeProvider>(DgcClock.Key)));
        services.TryAddSingleton<InClusterTransport>();
        services.TryAddSingleton<IDgcTransport>(sp => sp.GetRequiredService<InClusterTransport>());

        // One ExportGrain per exported object, and Orleans' directory cache keeps an entry for every
        // grain it has addressed (LRU, 1,000,000 entries by default, about 250 bytes each), even after
        // the activation is gone: a kernel churning references grew by ~250 MB before the cache filled.
        // A smaller bound, unless the host chose one itself.
        services.AddOptions<GrainDirectoryOptions>().PostConfigure(o =>
        {
            if (o.CacheSize == GrainDirectoryOptions.DEFAULT_CACHE_SIZE)
            {
                o.CacheSize = DirectoryCacheSize;
            }
        });
        // Providers that take a storage serializer (ADO.NET, ...) look for one registered under their own
        // name first. The DGC's states are [GenerateSerializer] types, and Orleans' binary serializer writes
        // them several times cheaper than the default JSON one. A host that registers its own keeps it.
        services.TryAddKeyedSingleton<IGrainStorageSerializer>(DgcStorage.Backend, (sp, _) =>
            new OrleansGrainStorageSerializer(sp.GetRequiredService<Serializer>()));
        services.TryAddKeyedSingleton<IGrainStorage>(DgcStorage.Name, (sp, _) =>
            sp.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Backend));
        return builder;
    }

    /// <summary>Makes the DGC read time from <paramref name="clock"/> (a fake one in tests); Orleans keeps its own clock.</summary>
    public static ISiloBuilder UseDgcClock(this ISiloBuilder builder, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeyedSingleton(DgcClock.Key, clock);
        return builder;
    }

    /// <summary>
    /// Keeps DGC state in memory: the embedded default, lost when the silo stops. It is a
    /// <see cref="DgcMemoryGrainStorage"/>: like Orleans' memory storage, but a cleared state leaves no
    /// tombstone behind and states are stored in Orleans' binary format (see its remarks).
    /// <paramref name="singleSilo"/>: the cluster is this one silo (the embedded default), so the store
    /// lives in this process and a read or write costs no grain call; never set it for more than one silo.
    /// The export shards then cache no rows (<see cref="ExportShardOptions.CachedRows"/> 0 unless configured).
    /// </summary>
    public static ISiloBuilder UseDgcInMemoryStorage(this ISiloBuilder builder, bool singleSilo = false)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeyedSingleton<IGrainStorage>(DgcStorage.Backend, (sp, _) => new DgcMemoryGrainStorage(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<Serializer>(),
            singleSilo));
        if (singleSilo)
        {
            // A read is a lookup in this process's memory: the export shards cache no rows, unless configured to.
            builder.Services.Configure<ExportShardOptions>(o => o.CachedRows ??= 0);
        }

        return builder;
    }

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

    /// <summary>
    /// Keeps DGC state in PostgreSQL with group commit (<see cref="DgcPostgresGrainStorage"/>): the operations
    /// of all grains that are waiting go to the server together, one transaction per round trip, so the
    /// export grains a message touches cost a few commits, not one each. Rows live in the <c>dgc_state</c>
    /// table of <c>silo-config/postgresql/05-dgc-storage.sql</c> (apply it with <c>scripts/pg-setup.sh</c>);
    /// a cleared state deletes its row.
    /// </summary>
    public static ISiloBuilder UseDgcPostgresStorage(this ISiloBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        builder.Services.AddKeyedSingleton<IGrainStorage>(DgcStorage.Backend, (sp, _) => new DgcPostgresGrainStorage(
            connectionString,
            sp.GetRequiredService<Serializer>(),
            sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        return builder;
    }

    private static void AddValidatedOptions<TOptions, TValidator>(IServiceCollection services, string section, Action<OptionsBuilder<TOptions>>? configure)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        var options = services.AddOptions<TOptions>().BindConfiguration(section);
        configure?.Invoke(options);

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
    }
}
