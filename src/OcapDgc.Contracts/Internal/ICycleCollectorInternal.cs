using Orleans.Concurrency;

namespace OcapDgc.Internal;

/// <summary>
/// The DGC's own calls on a kernel's cycle collector (same grain and key as <see cref="ICycleCollectorGrain"/>):
/// its remote handles hand it the cycle frames they receive. One-way, so a handle never waits on the collector,
/// which calls the handles.
/// </summary>
[Alias("ocap-dgc.ICycleCollectorInternal")]
public interface ICycleCollectorInternal : IGrainWithStringKey
{
    /// <summary><paramref name="remote"/> asks about its export, this kernel's import <paramref name="wireId"/> (<paramref name="facts"/>: null if not a live import of its current session).</summary>
    [Alias("ask"), OneWay]
    Task OnAskAsync(string remote, long trace, long confirm, long wireId, ImportFacts? facts);

    /// <summary><paramref name="remote"/> answers about this kernel's export <paramref name="exportKref"/>.</summary>
    [Alias("reply"), OneWay]
    Task OnReplyAsync(string remote, long trace, long confirm, string exportKref, bool live, string[] pending, long receipts, bool caughtUp);
}
