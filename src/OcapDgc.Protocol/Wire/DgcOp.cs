namespace OcapDgc.Wire;

/// <summary>The kinds of GC operation one remote handle queues for its peer.</summary>
public enum DgcOpKind
{
    /// <summary><c>dgc:addRef</c>: the importer confirms receipt of a new import (ref is <c>-</c> at the exporter).</summary>
    AddRef = 0,

    /// <summary><c>dgc:dropRef</c>: the importer releases <see cref="DgcOp.Count"/> receipts (ref is <c>-</c> at the exporter).</summary>
    DropRef = 1,

    /// <summary>
    /// <c>dgc:retire</c>: with a <c>-</c> ref, the importer forgets an import it had dropped; with a
    /// <c>+</c> ref, the exporter tells the importer that the object no longer exists.
    /// </summary>
    Retire = 2,
}

/// <summary>One queued GC operation. <see cref="Ref"/> is written as the receiver will read it.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("ocap-dgc.DgcOp")]
public sealed record DgcOp([property: Id(0)] DgcOpKind Kind, [property: Id(1)] WireRef Ref, [property: Id(2)] long Count = 0);
