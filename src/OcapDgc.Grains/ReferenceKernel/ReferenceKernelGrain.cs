using System.Text.Json;

namespace OcapDgc.ReferenceKernel;

/// <summary>
/// A small kernel for the demo and the tests. Its ground truth (what it created, sent, holds) is kept
/// in memory apart from the DGC's tables, so the two can be compared: an export released while an
/// importer still held it counts as premature. It can run bring-out-your-dead from a reminder.
/// </summary>
public sealed class ReferenceKernelGrain : Grain, IReferenceKernelGrain, IRemindable
{
    private const string DeliverMethod = "deliver";
    private const string BoydReminder = "boyd";
    private readonly Dictionary<string, OwnObject> _own = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, string>> _importsByRemote = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _heldLabels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exported = new(StringComparer.Ordinal);
    private readonly HashSet<string> _retired = new(StringComparer.Ordinal);
    private int _droppedEvents;
    private int _premature;
    private int _revoked;
    private int _importsRetired;
    private int _messages;
    private int _boydTicks;

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
    public Task<string[]> GetHeldImportsAsync(string fromKernel) =>
        Task.FromResult(_importsByRemote.TryGetValue(fromKernel, out var m) ? m.Keys.ToArray() : []);

    /// <inheritdoc />
    public Task<Dictionary<string, string>> GetImportLabelsAsync(string fromKernel) =>
        Task.FromResult(_importsByRemote.TryGetValue(fromKernel, out var m) ? new Dictionary<string, string>(m, StringComparer.Ordinal) : []);

    /// <inheritdoc />
    public async Task SetBoydPeriodAsync(TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(period, TimeSpan.Zero);
        if (period > TimeSpan.Zero)
        {
            await this.RegisterOrUpdateReminder(BoydReminder, period, period);
        }
        else if (await this.GetReminder(BoydReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <inheritdoc />
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == BoydReminder)
        {
            _boydTicks++;
            await Manager.BringOutYourDeadAsync();
        }
    }

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
            await handle.RetireImportsAsync(krefs);
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

        return all.Length;
    }

    /// <inheritdoc />
    public Task<string[]> WhichHeldAsync(string[] labels) =>
        Task.FromResult(labels.Where(_heldLabels.ContainsKey).ToArray());

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
        _boydTicks));

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
                continue; // one of ours, sent back
            }

            if (imports.TryAdd(krefs[i], labels[i]))
            {
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
            var stillHeld = await GrainFactory.GetGrain<IReferenceKernelGrain>(peer).WhichHeldAsync([.. labels]);
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
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task OnImportsRetiredAsync(string remote, string[] krefs)
    {
        _importsRetired += krefs.Length;
        ForgetImports(remote, krefs);
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
