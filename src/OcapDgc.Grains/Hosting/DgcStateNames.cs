namespace OcapDgc.Hosting;

/// <summary>
/// The names under which the DGC grains persist their state in <see cref="DgcStorage.Name"/>. They are
/// part of every stored row (ADO.NET storage keeps them as the row's grain type string), so they never
/// change.
/// </summary>
public static class DgcStateNames
{
    /// <summary>An export grain's counts per remote (<c>ExportGrain</c>).</summary>
    public const string Export = "export";

    /// <summary>A remote handle's pair state: c-list, imports, queue, sessions (<c>RemoteHandleGrain</c>).</summary>
    public const string RemoteHandle = "remote";

    /// <summary>A kernel's manager: its callback grain, remotes, kref and epoch counters (<c>RemoteManagerGrain</c>).</summary>
    public const string Manager = "manager";
}
