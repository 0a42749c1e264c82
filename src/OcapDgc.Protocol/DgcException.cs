namespace OcapDgc;

/// <summary>Why a DGC call was refused. Every refusal leaves the state as it was.</summary>
public enum DgcError
{
    /// <summary>An id, kref or wire ref was malformed.</summary>
    InvalidInput = 0,

    /// <summary>A kref or wire ref is not in this pair's tables (never exported to, or imported from, that remote).</summary>
    UnknownRef = 1,

    /// <summary>A retire named a reference that is still reachable: drop it first.</summary>
    RetireBeforeDrop = 2,

    /// <summary>A drop released more receipts than were sent, or dropped an import twice.</summary>
    OverRelease = 3,

    /// <summary>An exporter tried to delete an object that some remote can still reach.</summary>
    StillReachable = 4,

    /// <summary>The import was revoked (the exporter lost our lease or restarted); the ref no longer names anything.</summary>
    Revoked = 5,

    /// <summary>The pair's quota of live exports (or imports) is used up; other remotes are not affected.</summary>
    QuotaExceeded = 6,
}

/// <summary>
/// The error a kernel sees when a DGC call is refused. <see cref="Code"/> says why; the message names
/// the offending reference. A refused call changes nothing.
/// </summary>
[GenerateSerializer, Alias("ocap-dgc.DgcException")]
public sealed class DgcException : Exception
{
    public DgcException()
    {
    }

    public DgcException(string message)
        : base(message)
    {
    }

    public DgcException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public DgcException(DgcError code, string message)
        : base(message)
    {
        Code = code;
    }

    /// <summary>Why the call was refused.</summary>
    [Id(0)]
    public DgcError Code { get; private set; }
}
