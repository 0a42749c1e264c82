using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace OcapDgc.Observability;

/// <summary>
/// What the remote handles active on this silo hold, as they publish it: each handle owns one
/// <see cref="HandleGauge"/> and writes its counts into it after every input it handles (a handful of
/// field writes, no allocation, no grain call). The DGC's observable gauges and the host's sampler read
/// the sums; nothing scans grains or storage to collect them.
/// </summary>
/// <remarks>
/// Per silo: in a cluster, each silo reports the handles it hosts, and the gauges carry a <c>dgc.silo</c>
/// tag. Registered by <c>AddDistributedGc</c>.
/// </remarks>
public sealed class DgcSiloStats : IDisposable
{
    private static readonly ConcurrentDictionary<DgcSiloStats, byte> Live = new();

    private readonly ConcurrentDictionary<HandleGauge, byte> _handles = new();
    private readonly TimeProvider _clock;
    private long _exportsDropped;
    private long _exportsRetired;
    private long _importsRevoked;
    private long _leasesExpired;

    /// <summary>Creates the registry of silo <paramref name="silo"/>, reading lease ages on <paramref name="clock"/> (the DGC's clock).</summary>
    public DgcSiloStats(string silo, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        Silo = silo;
        _clock = clock;
        Live[this] = 0;
    }

    /// <summary>The silo's name, the <c>dgc.silo</c> tag of its measurements.</summary>
    public string Silo { get; }

    /// <summary>Sums over the handles active on this silo now, and totals since the silo started.</summary>
    public DgcSiloTotals Read()
    {
        var now = _clock.GetUtcNow().UtcTicks;
        long exports = 0, imports = 0, queued = 0, unacked = 0, lapsing = 0, handles = 0, unguarded = 0;
        foreach (var g in _handles.Keys)
        {
            var r = g.Read();
            handles++;
            exports += r.Exports;
            imports += r.Imports;
            queued += r.Queued;
            unacked += r.Unacked;
            if (r.Exports > 0 && now - r.RenewedAtTicks > r.LeaseTicks / 2)
            {
                lapsing++;
            }

            if (r.Unguarded)
            {
                unguarded++;
            }
        }

        return new DgcSiloTotals(handles, exports, imports, queued, unacked, lapsing,
            Interlocked.Read(ref _exportsDropped), Interlocked.Read(ref _exportsRetired),
            Interlocked.Read(ref _importsRevoked), Interlocked.Read(ref _leasesExpired), unguarded);
    }

    /// <inheritdoc />
    public void Dispose() => Live.TryRemove(this, out _);

    internal HandleGauge Register()
    {
        var g = new HandleGauge();
        _handles[g] = 0;
        return g;
    }

    internal void Unregister(HandleGauge gauge) => _handles.TryRemove(gauge, out _);

    internal void CountDropped(int n) => Interlocked.Add(ref _exportsDropped, n);

    internal void CountRetired(int n) => Interlocked.Add(ref _exportsRetired, n);

    internal void CountRevoked(int n) => Interlocked.Add(ref _importsRevoked, n);

    internal void CountLeaseExpired() => Interlocked.Increment(ref _leasesExpired);

    /// <summary>One measurement per silo in this process, for an observable gauge.</summary>
    internal static IEnumerable<Measurement<long>> Observe(Func<DgcSiloTotals, long> pick)
    {
        foreach (var s in Live.Keys)
        {
            yield return new Measurement<long>(pick(s.Read()), new KeyValuePair<string, object?>("dgc.silo", s.Silo));
        }
    }
}

/// <summary>Sums over one silo's active remote handles (<see cref="DgcSiloStats.Read"/>), and its totals since start.</summary>
/// <param name="Handles">Remote handles active on the silo.</param>
/// <param name="Exports">Exports the remotes hold (c-list entries, one per export and remote).</param>
/// <param name="Imports">Imports held from remotes.</param>
/// <param name="QueuedOps">GC operations waiting for the next batch.</param>
/// <param name="UnackedBatches">Batches sent and not yet acknowledged.</param>
/// <param name="LapsingLeases">Remotes that hold exports and have been silent for more than half the lease.</param>
/// <param name="ExportsDropped">Exports reported dropped since the silo started.</param>
/// <param name="ExportsRetired">Exports reported retired (reclaimed) since the silo started.</param>
/// <param name="ImportsRevoked">Imports revoked since the silo started.</param>
/// <param name="LeasesExpired">Remote sessions ended by a lapsed lease since the silo started.</param>
/// <param name="HandlesWithoutReminder">Active handles that hold refs but have no <c>dgc-lease</c> reminder registered (should be 0: without it, nothing expires their remote's lease while they are idle).</param>
public sealed record DgcSiloTotals(
    long Handles,
    long Exports,
    long Imports,
    long QueuedOps,
    long UnackedBatches,
    long LapsingLeases,
    long ExportsDropped,
    long ExportsRetired,
    long ImportsRevoked,
    long LeasesExpired,
    long HandlesWithoutReminder);

/// <summary>The counts one remote handle publishes; written by its activation, read by collectors.</summary>
internal sealed class HandleGauge
{
    private int _exports;
    private int _imports;
    private int _queued;
    private int _unacked;
    private long _renewedAtTicks;
    private long _leaseTicks;
    private int _unguarded;

    public void Publish(int exports, int imports, int queued, int unacked, DateTimeOffset renewedAt, TimeSpan lease, bool unguarded)
    {
        Volatile.Write(ref _unguarded, unguarded ? 1 : 0);
        Volatile.Write(ref _exports, exports);
        Volatile.Write(ref _imports, imports);
        Volatile.Write(ref _queued, queued);
        Volatile.Write(ref _unacked, unacked);
        Volatile.Write(ref _renewedAtTicks, renewedAt.UtcTicks);
        Volatile.Write(ref _leaseTicks, lease.Ticks);
    }

    public (int Exports, int Imports, int Queued, int Unacked, long RenewedAtTicks, long LeaseTicks, bool Unguarded) Read() =>
        (Volatile.Read(ref _exports), Volatile.Read(ref _imports), Volatile.Read(ref _queued), Volatile.Read(ref _unacked),
         Volatile.Read(ref _renewedAtTicks), Volatile.Read(ref _leaseTicks), Volatile.Read(ref _unguarded) == 1);
}
