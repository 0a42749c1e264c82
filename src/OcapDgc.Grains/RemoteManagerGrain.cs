using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Internal;

namespace OcapDgc;

/// <inheritdoc cref="IRemoteManagerGrain" />
/// <remarks>Kernels call it as <see cref="IRemoteManagerGrain"/>; their remote handles as <see cref="IRemoteManagerInternal"/>.</remarks>
public sealed class RemoteManagerGrain(
    [PersistentState(DgcStateNames.Manager, DgcStorage.Name)] IPersistentState<RemoteManagerState> state,
    IOptions<LeaseOptions> leases) : Grain, IRemoteManagerGrain, IRemoteManagerInternal, IRemindable
{
    /// <summary>Name of the reminder that finishes a restart a crash interrupted; registered only while one is under way.</summary>
    public const string RestartReminder = "dgc-restart";

    /// <summary>Most krefs one call may allocate.</summary>
    public const int MaxAllocation = 100_000;

    private string KernelId => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        DgcIds.ValidateKernelId(KernelId);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task RegisterKernelAsync(IDgcKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        state.State.Kernel = kernel;
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public Task<IDgcKernel?> GetKernelAsync() => Task.FromResult(state.State.Kernel);

    /// <inheritdoc />
    public Task<ICycleKernel?> GetCycleKernelAsync() => Task.FromResult(state.State.CycleKernel);

    /// <inheritdoc />
    public async Task SetCycleKernelAsync(ICycleKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        state.State.CycleKernel = kernel;
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public async Task<string[]> AllocateKrefsAsync(int count)
    {
        if (count is < 1 or > MaxAllocation)
        {
            throw new DgcException(DgcError.InvalidInput, $"Can allocate 1-{MaxAllocation} krefs at a time; asked for {count}.");
        }

        var first = state.State.NextKref;
        state.State.NextKref += count;
        await state.WriteStateAsync();
        var krefs = new string[count];
        for (var i = 0; i < count; i++)
        {
            krefs[i] = DgcIds.Kref(first + i);
        }

        return krefs;
    }

    /// <inheritdoc />
    public async Task<SessionStart> RegisterRemoteAsync(string remote)
    {
        DgcIds.ValidateKernelId(remote, nameof(remote));
        state.State.Remotes.Add(remote);
        var epoch = state.State.NextEpoch++;
        await state.WriteStateAsync();
        return new SessionStart(state.State.Incarnation, epoch);
    }

    /// <inheritdoc />
    public async Task<long> NextEpochAsync()
    {
        var epoch = state.State.NextEpoch++;
        await state.WriteStateAsync();
        return epoch;
    }

    /// <inheritdoc />
    public async Task ForgetRemoteAsync(string remote, PeerMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        state.State.Remotes.Remove(remote);
        state.State.PeerMemories[remote] = memory;
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public async Task RememberRemoteAsync(string remote, PeerMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        state.State.PeerMemories[remote] = memory;
        await state.WriteStateAsync();
    }

    /// <inheritdoc />
    public Task<PeerRecall> RecallRemoteAsync(string remote) =>
        Task.FromResult(new PeerRecall(state.State.PeerMemories.GetValueOrDefault(remote), state.State.Remotes.Contains(remote)));

    /// <inheritdoc />
    public async Task<long> RestartKernelAsync()
    {
        // The increment is made after the reminder is armed, with no wait between it and the write: two restarts that
        // interleave each get an incarnation of their own.
        await BeginResetsAsync(current => current + 1);
        return await FinishResetsAsync();
    }

    /// <inheritdoc />
    public async Task<long> BeginIncarnationAsync(long incarnation, long epoch)
    {
        if (incarnation < 1 || epoch is < 1 or > int.MaxValue)
        {
            throw new DgcException(DgcError.InvalidInput, $"An incarnation must be positive and an epoch 1-{int.MaxValue}; got {incarnation} and {epoch}.");
        }

        state.State.NextEpoch = Math.Max(state.State.NextEpoch, epoch);
        if (incarnation <= state.State.Incarnation)
        {
            await state.WriteStateAsync();
            return state.State.Incarnation;
        }

        await BeginResetsAsync(current => Math.Max(current, incarnation));
        return await FinishResetsAsync();
    }

    /// <inheritdoc />
    public async Task<bool> FinishRestartAsync()
    {
        if (state.State.ResettingTo == 0)
        {
            await StopRestartReminderAsync();
            return false;
        }

        await FinishResetsAsync();
        return true;
    }

    /// <inheritdoc />
    /// <remarks>
    /// A reminder tick does not interleave, and the handles it resets call this manager back (a new epoch, what they
    /// knew of their remote), which would wait for the tick to finish: the tick lets its own call chain re-enter.
    /// </remarks>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == RestartReminder)
        {
            using var reentrant = RequestContext.AllowCallChainReentrancy();
            await this.AsReference<IRemoteManagerInternal>().FinishRestartAsync();
        }
    }

    /// <summary>
    /// Makes the new incarnation (<paramref name="next"/> of the one in force) durable with the mark that its handle
    /// resets are under way, after arming the reminder that finishes them: whichever step a crash stops after, the
    /// resets still happen (or the reminder finds nothing to do and goes).
    /// </summary>
    private async Task BeginResetsAsync(Func<long, long> next)
    {
        await this.RegisterOrUpdateReminder(RestartReminder, leases.Value.CheckPeriod, leases.Value.CheckPeriod);
        state.State.Incarnation = next(state.State.Incarnation);
        state.State.ResettingTo = state.State.Incarnation;
        await state.WriteStateAsync();
    }

    /// <summary>Resets every handle to the incarnation in force, then clears the mark and the reminder (unless a newer restart began meanwhile).</summary>
    private async Task<long> FinishResetsAsync()
    {
        var incarnation = state.State.Incarnation;
        await Task.WhenAll(InternalHandles().Select(h => h.ResetAsync(incarnation)));
        if (state.State.ResettingTo == incarnation)
        {
            state.State.ResettingTo = 0;
            await state.WriteStateAsync();
            await StopRestartReminderAsync();
        }

        return incarnation;
    }

    private async Task StopRestartReminderAsync()
    {
        if (await this.GetReminder(RestartReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <inheritdoc />
    public Task BringOutYourDeadAsync() =>
        Task.WhenAll(Handles().Select(h => h.DeliverBringOutYourDeadAsync(askRemote: true)));

    /// <inheritdoc />
    public async Task DeleteExportsAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        foreach (var kref in krefs)
        {
            DgcIds.ValidateKref(kref, nameof(krefs));
        }

        // Each shard checks its exports first, so one still-reachable object refuses the whole call; as a shard's
        // check and delete are one call, the others' are checked before any shard deletes.
        var distinct = krefs.Distinct(StringComparer.Ordinal).ToArray();
        var exports = new ExportShards(GrainFactory, KernelId);
        var reachable = (await exports.SnapshotsAsync(distinct)).Where(s => s.Reachable).Select(s => s.Kref).ToArray();
        if (reachable.Length > 0)
        {
            throw new DgcException(DgcError.StillReachable, $"Still reachable from a remote, so not deleted: {string.Join(", ", reachable)}.");
        }

        var recognizers = await exports.CallAsync(distinct, k => k, (shard, part) => shard.DeleteAsync(part));
        var byRemote = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (kref, remotes) in distinct.Zip(recognizers))
        {
            foreach (var remote in remotes)
            {
                if (!byRemote.TryGetValue(remote, out var list))
                {
                    byRemote[remote] = list = [];
                }

                list.Add(kref);
            }
        }

        await Task.WhenAll(byRemote.Select(r => InternalHandle(r.Key).RetireExportsAsync([.. r.Value])));
    }

    /// <inheritdoc />
    public Task<RemoteFigures[]> GetRemoteFiguresAsync() =>
        Task.WhenAll(Handles().Select(h => h.GetFiguresAsync()));

    /// <inheritdoc />
    public Task<RemoteStatus[]> GetRemoteStatusAsync() =>
        Task.WhenAll(Handles().Select(h => h.GetStatusAsync()));

    private IRemoteHandleGrain[] Handles() => [.. state.State.Remotes.Select(Handle)];

    private IRemoteHandleGrain Handle(string remote) =>
        GrainFactory.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(KernelId, remote));

    private IRemoteHandleInternal[] InternalHandles() => [.. state.State.Remotes.Select(InternalHandle)];

    private IRemoteHandleInternal InternalHandle(string remote) =>
        GrainFactory.GetGrain<IRemoteHandleInternal>(DgcIds.HandleKey(KernelId, remote));
}
