using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>
/// What applying a batch to one export did; <see cref="RemoteCount"/> is the remote's count afterwards.
/// <see cref="Replay"/>: the batch had been applied here before (a handle replaying it after a crash), so
/// nothing changed; <see cref="Reachable"/> says whether any remote reaches the object now.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.ExportApplyResult")]
public sealed record ExportApplyResult(
    [property: Id(0)] bool Dropped,
    [property: Id(1)] bool Retired,
    [property: Id(2)] string[] Errors,
    [property: Id(3)] bool RemoteForgotten,
    [property: Id(4)] long RemoteCount = 0,
    [property: Id(5)] bool Replay = false,
    [property: Id(6)] bool Reachable = false);

/// <summary>The state of one export: per remote, sent minus released, and what last made it unreachable. (Which remotes confirmed it with <c>dgc:addRef</c> is the remote handles' to say.)</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.ExportSnapshot")]
public sealed record ExportSnapshot(
    [property: Id(0)] string Kref,
    [property: Id(1)] IReadOnlyDictionary<string, long> CountsByRemote,
    [property: Id(2)] bool Reachable,
    [property: Id(3)] bool Recognizable,
    [property: Id(5)] string? DroppedBy = null,
    [property: Id(6)] long DroppedByStream = 0,
    [property: Id(7)] long DroppedBySeq = 0);

/// <summary>The operations of one inbound batch that name one export, in order, with their counts.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.ExportOps")]
public sealed record ExportOps(
    [property: Id(0)] string Kref,
    [property: Id(1)] DgcOpKind[] Ops,
    [property: Id(2)] long[] Counts);
