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

    /// <summary>A remote handle's pair state: c-list, imports, queue, sessions (<c>RemoteHandleGrain</c>); its snapshot row.</summary>
    public const string RemoteHandle = "remote";

    /// <summary>The prefix of a remote handle's journal entries (<see cref="RemoteHandleEntry"/>).</summary>
    public const string RemoteHandleEntryPrefix = "remote~";

    /// <summary>The name of journal entry <paramref name="number"/> of a remote handle (what changed in one write since the snapshot).</summary>
    public static string RemoteHandleEntry(long number) => RemoteHandleEntryPrefix + number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A kernel's manager: its callback grain, remotes, kref and epoch counters (<c>RemoteManagerGrain</c>).</summary>
    public const string Manager = "manager";
}
