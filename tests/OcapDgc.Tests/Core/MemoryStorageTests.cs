using Microsoft.Extensions.DependencyInjection;
using OcapDgc.Hosting;
using OcapDgc.Storage;
using Orleans.Serialization;
using Orleans.Storage;

namespace OcapDgc.Tests.Core;

/// <summary>The embedded default's storage: copies in, copies out, optimistic concurrency, and nothing left after a clear.</summary>
[Collection(DgcCluster.Name)]
public sealed class MemoryStorageTests(DgcClusterFixture fx)
{
    // The provider as the silo builds it, here over the cluster client: the same partition grains, or
    // (one silo) partitions of its own.
    private DgcMemoryGrainStorage NewBackend(bool singleSilo) => new(
        fx.Grains,
        ((IClusterClient)fx.Grains).ServiceProvider.GetRequiredService<Serializer>(),
        singleSilo);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_cleared_state_leaves_no_entry_behind(bool singleSilo)
    {
        var backend = NewBackend(singleSilo);
        var id = GrainId.Create("storage-test", Guid.NewGuid().ToString("N"));
        var partition = fx.Grains.GetGrain<IDgcMemoryStoreGrain>(DgcMemoryGrainStorage.PartitionOf(id));
        Func<Task<int>> count = singleSilo ? backend.CountAsync : partition.CountAsync;
        var before = await count();

        var state = new ExportState();
        state.Holds["bob"] = new RemoteHold { Count = 3 };
        await backend.WriteStateAsync(DgcStateNames.Export, id, new GrainState<ExportState>(state));
        Assert.Equal(before + 1, await count());

        var read = new GrainState<ExportState>(new ExportState());
        await backend.ReadStateAsync(DgcStateNames.Export, id, read);
        Assert.True(read.RecordExists);
        Assert.Equal(3, read.State!.Holds["bob"].Count);
        Assert.NotSame(state, read.State);

        await backend.ClearStateAsync(DgcStateNames.Export, id, read);
        Assert.False(read.RecordExists);
        Assert.Equal(before, await count());

        var again = new GrainState<ExportState>(new ExportState());
        await backend.ReadStateAsync(DgcStateNames.Export, id, again);
        Assert.False(again.RecordExists);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Keys_with_the_same_number_or_of_neighbouring_numbers_are_states_of_their_own(bool singleSilo)
    {
        // The one-silo store places and hashes rows by the number their grain key ends in: keys equal as numbers
        // (ko12, ko012), of other kernels, of other state names, or neighbours must still be separate states.
        var backend = NewBackend(singleSilo);
        var kernel = "k" + Guid.NewGuid().ToString("N")[..8];
        var keys = new[] { $"{kernel}/ko12", $"{kernel}/ko012", $"{kernel}/ko13", $"{kernel}x/ko12", $"{kernel}/no-number" };
        var ids = keys.Select(k => GrainId.Create("storage-test", k)).ToArray();
        for (var i = 0; i < ids.Length; i++)
        {
            var state = new ExportState();
            state.Holds["bob"] = new RemoteHold { Count = i + 1 };
            await backend.WriteStateAsync(DgcStateNames.Export, ids[i], new GrainState<ExportState>(state));
        }

        var other = new GrainState<ExportState>(new ExportState());
        await backend.ReadStateAsync(DgcStateNames.RemoteHandle, ids[0], other);
        Assert.False(other.RecordExists);
        for (var i = 0; i < ids.Length; i++)
        {
            var read = new GrainState<ExportState>(new ExportState());
            await backend.ReadStateAsync(DgcStateNames.Export, ids[i], read);
            Assert.Equal(i + 1, read.State!.Holds["bob"].Count);
            await backend.ClearStateAsync(DgcStateNames.Export, ids[i], read);
        }

        foreach (var id in ids)
        {
            var gone = new GrainState<ExportState>(new ExportState());
            await backend.ReadStateAsync(DgcStateNames.Export, id, gone);
            Assert.False(gone.RecordExists);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_write_with_a_stale_etag_is_refused_and_changes_nothing(bool singleSilo)
    {
        var backend = NewBackend(singleSilo);
        var id = GrainId.Create("storage-test", Guid.NewGuid().ToString("N"));
        var state = new ExportState();
        state.Holds["bob"] = new RemoteHold { Count = 1 };
        var current = new GrainState<ExportState>(state);
        await backend.WriteStateAsync(DgcStateNames.Export, id, current);
        var staleState = new ExportState();
        var stale = new GrainState<ExportState>(staleState) { ETag = current.ETag };
        state.Holds["bob"].Count = 2;
        await backend.WriteStateAsync(DgcStateNames.Export, id, current);

        staleState.Holds["carol"] = new RemoteHold { Count = 9 };
        await Assert.ThrowsAsync<InconsistentStateException>(() => backend.WriteStateAsync(DgcStateNames.Export, id, stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => backend.ClearStateAsync(DgcStateNames.Export, id, stale));

        var read = new GrainState<ExportState>(new ExportState());
        await backend.ReadStateAsync(DgcStateNames.Export, id, read);
        Assert.Equal(2, read.State!.Holds["bob"].Count);
        Assert.False(read.State.Holds.ContainsKey("carol"));
        await backend.ClearStateAsync(DgcStateNames.Export, id, read);
    }

    /// <summary>Each duplicate-handle scenario, on the partition grains and in the silo's own process.</summary>
    public static TheoryData<string, bool> DuplicateScenarios
    {
        get
        {
            var data = new TheoryData<string, bool>();
            foreach (var scenario in DuplicateJournalScenarios.All.Keys)
            {
                data.Add(scenario, false);
                data.Add(scenario, true);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(DuplicateScenarios))]
    public async Task A_duplicate_handle_activation_cannot_write_over_the_one_that_wrote_last(string scenario, bool singleSilo) =>
        await DuplicateJournalScenarios.All[scenario](NewBackend(singleSilo));
}
