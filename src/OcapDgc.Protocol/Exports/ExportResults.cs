namespace OcapDgc;

/// <summary>What applying a batch to one export did; <see cref="RemoteCount"/> is the remote's count afterwards.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.ExportApplyResult")]
public sealed record ExportApplyResult(
    [property: Id(0)] bool Dropped,
    [property: Id(1)] bool Retired,
    [property: Id(2)] string[] Errors,
    [property: Id(3)] bool RemoteForgotten,
    [property: Id(4)] long RemoteCount = 0);

/// <summary>The state of one export: per remote, sent minus released, and which remotes confirmed it with <c>dgc:addRef</c>.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.ExportSnapshot")]
public sealed record ExportSnapshot(
    [property: Id(0)] string Kref,
    [property: Id(1)] IReadOnlyDictionary<string, long> CountsByRemote,
    [property: Id(2)] bool Reachable,
    [property: Id(3)] bool Recognizable,
    [property: Id(4)] string[] ConfirmedBy);
