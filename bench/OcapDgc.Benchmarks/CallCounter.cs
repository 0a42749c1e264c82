using System.Collections.Concurrent;

namespace OcapDgc.Benchmarks;

/// <summary>Counts every grain call the silo receives, by interface, through Orleans' incoming call filter.</summary>
internal sealed class CallCounter : IIncomingGrainCallFilter
{
    private readonly ConcurrentDictionary<string, Counter> _byInterface = new(StringComparer.Ordinal);
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        Interlocked.Increment(ref _total);
        var counter = _byInterface.GetOrAdd(context.InterfaceName, static _ => new Counter());
        Interlocked.Increment(ref counter.Value);
        return context.Invoke();
    }

    /// <summary>Calls so far per interface (short names: the part after the last '.').</summary>
    public IReadOnlyDictionary<string, long> Snapshot()
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, c) in _byInterface)
        {
            var shortName = name[(name.LastIndexOf('.') + 1)..];
            result[shortName] = result.GetValueOrDefault(shortName) + Interlocked.Read(ref c.Value);
        }

        return result;
    }

    private sealed class Counter
    {
        public long Value;
    }
}
