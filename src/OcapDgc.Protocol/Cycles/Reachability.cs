namespace OcapDgc;

/// <summary>How a kernel's local GC sees one of its imports (see <see cref="ImportReach"/>).</summary>
public enum Reach
{
    /// <summary>The kernel cannot tell (not an import it knows, say): the DGC treats it as live.</summary>
    Unknown = 0,

    /// <summary>A local root reaches the import.</summary>
    Rooted = 1,

    /// <summary>No local root reaches it; the exports listed in <see cref="ImportReach.FromExports"/> do (possibly none).</summary>
    FromExports = 2,
}

/// <summary>
/// One import in a kernel's answer: whether a local root reaches it, and otherwise which of the
/// kernel's exports (its objects, or imports it passed on, that remotes hold) reach it.
/// </summary>
/// <param name="Kref">The import, as the kernel names it.</param>
/// <param name="Reach">Rooted, reached only from <paramref name="FromExports"/>, or unknown.</param>
/// <param name="FromExports">With <see cref="Reach.FromExports"/>: the krefs, held by remotes, from which the import is reachable (empty: from nothing).</param>
[GenerateSerializer, Immutable, Alias("ocap-dgc.ImportReach")]
public sealed record ImportReach([property: Id(0)] string Kref, [property: Id(1)] Reach Reach, [property: Id(2)] string[] FromExports);

/// <summary>
/// A kernel's answer to the cycle collector's question, as of <see cref="Version"/>: a number the kernel
/// changes whenever its local object graph changes (a root added or removed, a reference stored or
/// cleared, a message delivered or sent), so the collector can tell that an answer went stale.
/// </summary>
/// <param name="Version">The graph's version the answer describes.</param>
/// <param name="Imports">One entry per import asked about.</param>
[GenerateSerializer, Immutable, Alias("ocap-dgc.ReachabilityAnswer")]
public sealed record ReachabilityAnswer([property: Id(0)] long Version, [property: Id(1)] ImportReach[] Imports);
