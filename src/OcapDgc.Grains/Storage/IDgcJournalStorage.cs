using Orleans.Storage;

namespace OcapDgc.Storage;

/// <summary>
/// A grain storage that can append a journal entry fenced by its head row, as one atomic step. Both of the
/// DGC's own storages (<see cref="DgcMemoryGrainStorage"/>, <see cref="DgcPostgresGrainStorage"/>) offer it;
/// a remote handle's journal uses it so that of two activations of one handle (Orleans can briefly keep a
/// duplicate after a silo dies) only the one that wrote last can go on writing: the other's next append,
/// snapshot or clear fails its ETag check and changes nothing, instead of interleaving its entries with the
/// first one's or leaving a row behind after the first one cleared the pair.
/// </summary>
public interface IDgcJournalStorage
{
    /// <summary>
    /// If the stored <paramref name="headName"/> row of <paramref name="grainId"/> still has
    /// <paramref name="head"/>'s ETag: gives it a new ETag (its payload unchanged) and writes
    /// <paramref name="entry"/> as the <paramref name="entryName"/> row, replacing any row of that name, both
    /// at once; <paramref name="head"/> and <paramref name="entry"/> then carry the new ETags. Otherwise throws
    /// <see cref="InconsistentStateException"/> and changes nothing.
    /// </summary>
    Task AppendAsync<THead, TEntry>(GrainId grainId, string headName, IGrainState<THead> head, string entryName, IGrainState<TEntry> entry);

    /// <summary>The ETag the stored <paramref name="stateName"/> row of <paramref name="grainId"/> has now, or null if there is none (its payload is not deserialized).</summary>
    Task<string?> ReadTagAsync(string stateName, GrainId grainId);
}
