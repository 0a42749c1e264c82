using OcapDgc;

namespace SampleKernel;

/// <summary>A kernel that owns objects, sends references to another kernel and forgets what it is sent.</summary>
[Alias("sample.IEchoKernel")]
public interface IEchoKernel : IDgcKernel, IGrainWithStringKey
{
    [Alias("start")]
    Task StartAsync();

    /// <summary>Creates <paramref name="count"/> objects and sends them to <paramref name="remote"/>.</summary>
    [Alias("share")]
    Task<string[]> ShareAsync(string remote, int count);

    /// <summary>Drops and retires every import received from <paramref name="from"/>.</summary>
    [Alias("forget")]
    Task<int> ForgetAsync(string from);

    /// <summary>How many of its exports the DGC reported retired (no remote can even recognize them).</summary>
    [Alias("retired"), Orleans.Concurrency.AlwaysInterleave]
    Task<int> RetiredAsync();
}

public sealed class EchoKernel : Grain, IEchoKernel
{
    private readonly Dictionary<string, List<string>> _imports = new(StringComparer.Ordinal);
    private int _retired;
    private readonly HashSet<string> _effects = new(StringComparer.Ordinal);

    private string Me => this.GetPrimaryKeyString();

    public Task StartAsync() =>
        GrainFactory.GetGrain<IRemoteManagerGrain>(Me).RegisterKernelAsync(this.AsReference<IDgcKernel>());

    public async Task<string[]> ShareAsync(string remote, int count)
    {
        var krefs = await GrainFactory.GetGrain<IRemoteManagerGrain>(Me).AllocateKrefsAsync(count);
        await Handle(remote).SendAsync("hello", "{}", krefs);
        return krefs;
    }

    public async Task<int> ForgetAsync(string from)
    {
        if (!_imports.Remove(from, out var krefs) || krefs.Count == 0)
        {
            return 0;
        }

        await Handle(from).DropImportsAsync([.. krefs]);
        await Handle(from).RetireImportsAsync([.. krefs]);
        await GrainFactory.GetGrain<IRemoteManagerGrain>(Me).BringOutYourDeadAsync();
        return krefs.Count;
    }

    public Task<int> RetiredAsync() => Task.FromResult(_retired);

    // Messages, like effects, come at least once; a repeat carries the same id.
    public Task DeliverAsync(string fromKernel, string messageId, string method, string body, string[] krefs)
    {
        if (!_imports.TryGetValue(fromKernel, out var list))
        {
            _imports[fromKernel] = list = [];
        }

        // A repeat (same id) is not acted on again, but its refs are held again if they were let go since.
        list.AddRange(_effects.Add(messageId) ? krefs : krefs.Where(k => !list.Contains(k)).ToArray());
        return Task.CompletedTask;
    }

    // Effects come at least once; a repeat carries the same id, so it is counted once.
    public Task OnExportsDroppedAsync(string effectId, string[] krefs) => Task.CompletedTask;

    public Task OnExportsRetiredAsync(string effectId, string[] krefs)
    {
        if (_effects.Add(effectId))
        {
            _retired += krefs.Length;
        }

        return Task.CompletedTask;
    }

    public Task OnImportsRevokedAsync(string remote, string effectId, string[] krefs) => Task.CompletedTask;

    public Task OnImportsRetiredAsync(string remote, string effectId, string[] krefs) => Task.CompletedTask;

    public Task OnSessionEndedAsync(string remote, string effectId, SessionEnd reason, string[] released) => Task.CompletedTask;

    public Task OnBringOutYourDeadAsync(string remote) => ForgetAsync(remote);

    private IRemoteHandleGrain Handle(string remote) => GrainFactory.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Me, remote));
}
