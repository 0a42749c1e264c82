using System.Text.Json;

namespace OcapDgc.ReferenceKernel;

/// <summary>
/// A small kernel for the demo and the tests. Its ground truth (what it created, sent, holds) is kept
/// in memory apart from the DGC's tables, so the two can be compared: an export released while an
/// importer still held it counts as premature.
/// </summary>
public sealed class ReferenceKernelGrain : Grain, IReferenceKernelGrain
{
    private const string DeliverMethod = "deliver";
    private readonly Dictionary<string, OwnObject> _own = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, string>> _importsByRemote = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _heldLabels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exported = new(StringComparer.Ordinal);
    private readonly HashSet<string> _retired = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _revokedToRetire = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _droppedNotRetired = new(StringComparer.Ordinal);
    private int _droppedEvents;
    private int _premature;
    private int _revoked;
    private int _importsRetired;
    private int _messages;
    private int _confused;

    private string Me => this.GetPrimaryKeyString();

    private IRemoteManagerGrain Manager => GrainFactory.GetGrain<IRemoteManagerGrain>(Me);

    /// <inheritdoc />
    public Task StartAsync() => Manager.RegisterKernelAsync(this.AsReference<IReferenceKernelGrain>());

    /// <inheritdoc />
    public async Task<string[]> CreateObjectsAsync(int count)
    {
        var krefs = await Manager.AllocateKrefsAsync(count);
        foreach (var k in krefs)
        {
            _own[k] = new OwnObject();
        }

        return krefs;
    }

    /// <inheritdoc />
    public Task ReleaseLocalAsync(string[] krefs)
    {
        foreach (var k in krefs)
        {
            if (_own.TryGetValue(k, out var o))
            {
                o.LocalRef = false;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task SendAsync(string toKernel, string[] krefs)
    {
        var labels = new string[krefs.Length];
        for (var i = 0; i < krefs.Length; i++)
        {
            labels[i] = _own.ContainsKey(krefs[i]) ? $"{Me}/{krefs[i]}"
                : FindImportLabel(krefs[i]) ?? throw new ArgumentException($"{Me} neither owns nor holds {krefs[i]}.", nameof(krefs));
        }

        await Handle(toKernel).SendAsync(DeliverMethod, JsonSerializer.Serialize(labels), krefs);
        foreach (var k in krefs)
        {
            if (_own.TryGetValue(k, out var o))
            {
                o.SentTo.Add(toKernel);
                _exported.Add(k);
            }
        }
    }

    /// <inheritdoc />
    public async Task RestartAsync()
    {
        // A crash loses the kernel's memory: its objects and what it held are gone.
        _own.Clear();
        _importsByRemote.Clear();
        _heldLabels.Clear();
        _exported.Clear();
        _retired.Clear();
        _revokedToRetire.Clear();
        _droppedNotRetired.Clear();
        await Manager.RestartKernelAsync();
    }

    /// <inheritdoc />
    public Task<string[]> GetHeldImportsAsync(string fromKernel) =>
        Task.FromResult(_importsByRemote.TryGetValue(fromKernel, out var m) ? m.Keys.ToArray() : []);

    /// <inheritdoc />
    public async Task DropAsync(string fromKernel, string[] krefs, bool retire)
    {
        // Ground truth first: once the drop is on its way, this kernel no longer holds the imports.
        if (_importsByRemote.TryGetValue(fromKernel, out var imports))
        {
            foreach (var k in krefs)
            {
                if (imports.Remove(k, out var label))
                {
                    Unhold(label);
                }
            }
        }

        var handle = Handle(fromKernel);
        await handle.DropImportsAsync(krefs);
        if (retire)
        {
            Recognized(fromKernel).ExceptWith(krefs);
            await handle.RetireImportsAsync(krefs);
        }
        else
        {
            // Still recognized (a weak-map key, say) until a later drop-all with retire forgets it.
            Recognized(fromKernel).UnionWith(krefs);
        }
    }

    /// <inheritdoc />
    public async Task<int> DropAllAsync(string fromKernel, bool retire)
    {
        var all = await GetHeldImportsAsync(fromKernel);
        foreach (var chunk in all.Chunk(4096))
        {
            await DropAsync(fromKernel, chunk, retire);
        }

        if (retire && _droppedNotRetired.Remove(fromKernel, out var recognized) && recognized.Count > 0)
        {
            await Handle(fromKernel).RetireImportsAsync([.. recognized]);
        }

        if (retire && _revokedToRetire.Remove(fromKernel, out var revoked))
        {
            await Handle(fromKernel).RetireImportsAsync([.. revoked]);
        }

        return all.Length;
    }

    /// <inheritdoc />
    public async Task<string[]> WhichHeldAsync(string[] labels, string exporter, long exporterEpoch)
    {
        if (!_importsByRemote.TryGetValue(exporter, out var imports) || imports.Count == 0)
        {
            return [];
        }

        if ((await Handle(exporter).GetFiguresAsync()).PeerEpoch < exporterEpoch)
        {
            // The exporter ended the session these imports belong to; they are revoked at the next contact.
            return [];
        }

        var held = imports.Values.ToHashSet(StringComparer.Ordinal);
        return [.. labels.Where(held.Contains)];
    }

    /// <inheritdoc />
    public Task<KernelLedger> GetLedgerAsync() => Task.FromResult(new KernelLedger(
        Me,
        _own.Count,
        _exported.Count,
        _droppedEvents,
        _retired.Count,
        _premature,
        _heldLabels.Count,
        _revoked,
        _importsRetired,
        _messages,
        [.. _exported.Where(k => !_retired.Contains(k)).Take(50)],
        _confused));

    /// <inheritdoc />
    public Task<string[]> GetHeldLabelsAsync(string fromKernel) =>
        Task.FromResult(_importsByRemote.TryGetValue(fromKernel, out var m) ? m.Values.ToArray() : []);

    /// <inheritdoc />
    public Task DeliverAsync(string fromKernel, string method, string body, string[] krefs)
    {
        _messages++;
        var labels = JsonSerializer.Deserialize<string[]>(body) ?? [];
        if (!_importsByRemote.TryGetValue(fromKernel, out var imports))
        {
            _importsByRemote[fromKernel] = imports = new(StringComparer.Ordinal);
        }

        for (var i = 0; i < krefs.Length; i++)
        {
            if (_own.ContainsKey(krefs[i]))
            {
                // One of ours, sent back: the kref must name the very object the label says.
                if (labels[i] != $"{Me}/{krefs[i]}")
                {
                    _confused++;
                }

                continue;
            }

            if (imports.TryGetValue(krefs[i], out var known))
            {
                if (known != labels[i])
                {
                    _confused++;
                }
            }
            else
            {
                // Sent again after this kernel dropped it: reachable once more, so no longer only recognized.
                Recognized(fromKernel).Remove(krefs[i]);
                imports[krefs[i]] = labels[i];
                _heldLabels[labels[i]] = _heldLabels.GetValueOrDefault(labels[i]) + 1;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task OnExportsDroppedAsync(string[] krefs)
    {
        _droppedEvents += krefs.Length;
        var byPeer = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var k in krefs)
        {
            if (_own.TryGetValue(k, out var o))
            {
                foreach (var peer in o.SentTo)
                {
                    if (!byPeer.TryGetValue(peer, out var list))
                    {
                        byPeer[peer] = list = [];
                    }

                    list.Add($"{Me}/{k}");
                }
            }
        }

        foreach (var (peer, labels) in byPeer)
        {
            var epoch = (await Handle(peer).GetFiguresAsync()).Epoch;
            var stillHeld = await GrainFactory.GetGrain<IReferenceKernelGrain>(peer).WhichHeldAsync([.. labels], Me, epoch);
            _premature += stillHeld.Length;
        }
    }

    /// <inheritdoc />
    public Task OnExportsRetiredAsync(string[] krefs)
    {
        _retired.UnionWith(krefs);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task OnImportsRevokedAsync(string remote, string[] krefs)
    {
        _revoked += krefs.Length;
        ForgetImports(remote, krefs);
        Recognized(remote).ExceptWith(krefs);

        // Until this kernel retires them (its next DropAllAsync with retire), the DGC refuses any use of them.
        if (!_revokedToRetire.TryGetValue(remote, out var list))
        {
            _revokedToRetire[remote] = list = [];
        }

        list.AddRange(krefs);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task OnImportsRetiredAsync(string remote, string[] krefs)
    {
        _importsRetired += krefs.Length;
        ForgetImports(remote, krefs);
        Recognized(remote).ExceptWith(krefs);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task OnBringOutYourDeadAsync(string remote) => Task.CompletedTask;

    private void ForgetImports(string remote, string[] krefs)
    {
        if (_importsByRemote.TryGetValue(remote, out var imports))
        {
            foreach (var k in krefs)
            {
                if (imports.Remove(k, out var label))
                {
                    Unhold(label);
                }
            }
        }
    }

    private HashSet<string> Recognized(string remote)
    {
        if (!_droppedNotRetired.TryGetValue(remote, out var set))
        {
            _droppedNotRetired[remote] = set = new(StringComparer.Ordinal);
        }

        return set;
    }

    private void Unhold(string label)
    {
        if (_heldLabels.TryGetValue(label, out var n))
        {
            if (n <= 1)
            {
                _heldLabels.Remove(label);
            }
            else
            {
                _heldLabels[label] = n - 1;
            }
        }
    }

    private string? FindImportLabel(string kref)
    {
        foreach (var imports in _importsByRemote.Values)
        {
            if (imports.TryGetValue(kref, out var label))
            {
                return label;
            }
        }

        return null;
    }

    private IRemoteHandleGrain Handle(string remote) =>
        GrainFactory.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Me, remote));

    private sealed class OwnObject
    {
        public bool LocalRef { get; set; } = true;

        public HashSet<string> SentTo { get; } = new(StringComparer.Ordinal);
    }
}
