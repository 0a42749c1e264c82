namespace OcapDgc;

/// <summary>What a remote handle needs to open a session: the kernel's incarnation and a fresh epoch.</summary>
[GenerateSerializer, Immutable, Alias("ocap-dgc.SessionStart")]
public sealed record SessionStart([property: Id(0)] long Incarnation, [property: Id(1)] long Epoch);
