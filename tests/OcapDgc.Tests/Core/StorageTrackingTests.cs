using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using Orleans.Storage;

namespace OcapDgc.Tests.Core;

/// <summary>
/// Storage tracking is opt-in: <c>AddDistributedGc</c> alone makes <c>dgc-store</c> the backend itself, and
/// OcapDgc.Testing's <c>UseDgcStorageTracking</c> decorates it once, whichever is called first.
/// </summary>
public sealed class StorageTrackingTests
{
    [Fact]
    public void AddDistributedGc_alone_neither_tracks_nor_wraps_the_store()
    {
        var backend = new NullStorage();
        using var host = Build(backend, silo => silo.AddDistributedGc());

        Assert.Null(host.Services.GetService<DgcStorageTracker>());
        Assert.Same(backend, host.Services.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Name));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseDgcStorageTracking_wraps_the_store_once_before_or_after_AddDistributedGc(bool trackingFirst)
    {
        var backend = new NullStorage();
        using var host = Build(backend, silo =>
        {
            if (trackingFirst)
            {
                silo.UseDgcStorageTracking();
                silo.AddDistributedGc();
            }
            else
            {
                silo.AddDistributedGc();
                silo.UseDgcStorageTracking();
            }

            silo.UseDgcStorageTracking();
        });

        var store = host.Services.GetRequiredKeyedService<IGrainStorage>(DgcStorage.Name);
        var tracker = host.Services.GetRequiredService<DgcStorageTracker>();
        Assert.IsType<TrackingGrainStorage>(store);
        var id = GrainId.Create("tracking-test", "x");
        await store.WriteStateAsync(DgcStateNames.Export, id, new GrainState<int>(1));

        Assert.Equal(1, backend.Writes);
        Assert.Equal(1, tracker.Writes);
        Assert.True(tracker.Has(DgcStateNames.Export, id));
        await store.ClearStateAsync(DgcStateNames.Export, id, new GrainState<int>(1));
        Assert.Equal(0, tracker.CountOf(DgcStateNames.Export));
    }

    [Fact]
    public void State_names_are_those_of_the_stored_rows()
    {
        // Part of every stored row (ADO.NET keeps them as GrainTypeString): renaming one orphans the rows.
        Assert.Equal(("export", "remote", "manager"), (DgcStateNames.Export, DgcStateNames.RemoteHandle, DgcStateNames.Manager));
        Assert.Equal("kernel", ReferenceKernel.ReferenceKernelGrain.StateName);
    }

    private static IHost Build(IGrainStorage backend, Action<ISiloBuilder> configure)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering();
            silo.Services.AddKeyedSingleton(DgcStorage.Backend, backend);
            configure(silo);
        });
        return builder.Build();
    }

    /// <summary>A backend that stores nothing and counts writes.</summary>
    private sealed class NullStorage : IGrainStorage
    {
        public int Writes { get; private set; }

        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Task.CompletedTask;

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            Writes++;
            return Task.CompletedTask;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Task.CompletedTask;
    }
}
