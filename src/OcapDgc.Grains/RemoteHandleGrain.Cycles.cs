using OcapDgc.Internal;

namespace OcapDgc;

/// <summary>The handle's part in cycle detection: cycle frames go to the kernel's collector (one-way); the collector reads facts and sends frames through here.</summary>
public sealed partial class RemoteHandleGrain : ICyclePairEnvironment
{
    /// <inheritdoc />
    public Task<ImportFacts?> GetCycleFactsAsync(string kref) => Task.FromResult(_pair.CycleFacts(kref));

    /// <inheritdoc />
    public Task<string[]> GetCycleCandidatesAsync(TimeSpan quietFor) => Task.FromResult(_pair.CycleCandidates(quietFor).ToArray());

    /// <inheritdoc />
    public Task<bool> SendCycleAskAsync(long trace, long confirm, string exportKref) => Run(() => _pair.SendCycleAskAsync(trace, confirm, exportKref));

    /// <inheritdoc />
    public Task<bool> SendCycleReplyAsync(long trace, long confirm, long wireId, bool live, string[] pending, long receipts) =>
        Run(() => _pair.SendCycleReplyAsync(trace, confirm, wireId, live, pending, receipts));

    Task ICyclePairEnvironment.OnCycleAskAsync(long trace, long confirm, long wireId, ImportFacts? facts) =>
        Collector.OnAskAsync(_pair.Remote, trace, confirm, wireId, facts);

    Task ICyclePairEnvironment.OnCycleReplyAsync(long trace, long confirm, string exportKref, bool live, string[] pending, long receipts, bool caughtUp) =>
        Collector.OnReplyAsync(_pair.Remote, trace, confirm, exportKref, live, pending, receipts, caughtUp);

    private ICycleCollectorInternal Collector => GrainFactory.GetGrain<ICycleCollectorInternal>(_pair.Local);
}
