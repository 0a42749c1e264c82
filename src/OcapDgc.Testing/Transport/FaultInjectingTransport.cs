namespace OcapDgc.Transport;

/// <summary>
/// A decorator that tests and the chaos demo put in front of the real transport. Faults are set per
/// directed pair of kernels: drop, duplicate, hold (delay, and reorder on release), and partition.
/// A seeded random mode (<see cref="Chaos"/>) applies the same faults by chance.
/// </summary>
public sealed class FaultInjectingTransport(IDgcTransport inner) : IDgcTransport
{
    private readonly Lock _gate = new();
    private readonly HashSet<(string, string)> _partitioned = [];
    private readonly List<Rule> _rules = [];
    private readonly Dictionary<(string From, string To), List<string>> _held = [];
    private readonly List<CapturedFrame> _captured = [];

    /// <summary>When set, faults are also applied at random.</summary>
    public ChaosSettings? Chaos { get; set; }

    /// <summary>When true, every frame offered to the transport is recorded in <see cref="Captured"/>.</summary>
    public bool Capture { get; set; }

    /// <summary>Frames lost to a rule, a partition or chaos.</summary>
    public long Dropped { get; private set; }

    /// <summary>Extra copies sent.</summary>
    public long Duplicated { get; private set; }

    /// <summary>Frames held back and released later.</summary>
    public long Delayed { get; private set; }

    /// <summary>The frames offered so far, if <see cref="Capture"/> is on.</summary>
    public IReadOnlyList<CapturedFrame> Captured
    {
        get
        {
            lock (_gate)
            {
                return [.. _captured];
            }
        }
    }

    /// <summary>Frames matching a GC batch.</summary>
    public static bool IsBatch(string json) => json.Contains("\"dgc:batch\"", StringComparison.Ordinal);

    /// <summary>Frames matching an acknowledgement.</summary>
    public static bool IsAck(string json) => json.Contains("\"dgc:ack\"", StringComparison.Ordinal);

    /// <summary>Cuts both directions between <paramref name="a"/> and <paramref name="b"/>: frames are lost.</summary>
    public void Partition(string a, string b)
    {
        lock (_gate)
        {
            _partitioned.Add((a, b));
            _partitioned.Add((b, a));
        }
    }

    /// <summary>Ends a partition.</summary>
    public void Heal(string a, string b)
    {
        lock (_gate)
        {
            _partitioned.Remove((a, b));
            _partitioned.Remove((b, a));
        }
    }

    /// <summary>Loses the next <paramref name="count"/> frames from <paramref name="from"/> to <paramref name="to"/> that match.</summary>
    public void DropNext(string from, string to, int count = 1, Func<string, bool>? match = null) => AddRule(from, to, Fault.Drop, count, match);

    /// <summary>Delivers the next <paramref name="count"/> matching frames twice.</summary>
    public void DuplicateNext(string from, string to, int count = 1, Func<string, bool>? match = null) => AddRule(from, to, Fault.Duplicate, count, match);

    /// <summary>Holds the next <paramref name="count"/> matching frames until <see cref="ReleaseHeldAsync"/>.</summary>
    public void HoldNext(string from, string to, int count = 1, Func<string, bool>? match = null) => AddRule(from, to, Fault.Hold, count, match);

    /// <summary>Number of frames held for a pair.</summary>
    public int HeldCount(string from, string to)
    {
        lock (_gate)
        {
            return _held.TryGetValue((from, to), out var list) ? list.Count : 0;
        }
    }

    /// <summary>Sends the held frames of a pair, in the order they were held or reversed. Returns how many.</summary>
    public async Task<int> ReleaseHeldAsync(string from, string to, bool reverse = false)
    {
        List<string> frames;
        lock (_gate)
        {
            if (!_held.Remove((from, to), out var list))
            {
                return 0;
            }

            frames = list;
        }

        if (reverse)
        {
            frames.Reverse();
        }

        foreach (var f in frames)
        {
            await inner.SendAsync(from, to, f).ConfigureAwait(false);
        }

        return frames.Count;
    }

    /// <summary>Clears every rule, partition, held frame and capture.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _partitioned.Clear();
            _rules.Clear();
            _held.Clear();
            _captured.Clear();
            Chaos = null;
        }
    }

    /// <inheritdoc />
    public async Task SendAsync(string fromKernel, string toKernel, string frameJson)
    {
        Fault fault;
        List<string>? release = null;
        lock (_gate)
        {
            if (Capture)
            {
                _captured.Add(new CapturedFrame(fromKernel, toKernel, frameJson));
            }

            fault = _partitioned.Contains((fromKernel, toKernel)) ? Fault.Drop : TakeRule(fromKernel, toKernel, frameJson);
            if (fault == Fault.None && Chaos is { } chaos)
            {
                fault = chaos.Next(out var releaseHeld);
                if (releaseHeld && _held.Remove((fromKernel, toKernel), out var held))
                {
                    release = held;
                }
            }

            switch (fault)
            {
                case Fault.Drop:
                    Dropped++;
                    break;
                case Fault.Duplicate:
                    Duplicated++;
                    break;
                case Fault.Hold:
                    Delayed++;
                    if (!_held.TryGetValue((fromKernel, toKernel), out var list))
                    {
                        _held[(fromKernel, toKernel)] = list = [];
                    }

                    list.Add(frameJson);
                    break;
            }
        }

        if (fault is Fault.None or Fault.Duplicate)
        {
            await inner.SendAsync(fromKernel, toKernel, frameJson).ConfigureAwait(false);
        }

        if (fault == Fault.Duplicate)
        {
            await inner.SendAsync(fromKernel, toKernel, frameJson).ConfigureAwait(false);
        }

        // Frames held by chaos go out after a later frame, which reorders them.
        foreach (var f in release ?? [])
        {
            await inner.SendAsync(fromKernel, toKernel, f).ConfigureAwait(false);
        }
    }

    private void AddRule(string from, string to, Fault fault, int count, Func<string, bool>? match)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        lock (_gate)
        {
            _rules.Add(new Rule(from, to, fault, match) { Remaining = count });
        }
    }

    private Fault TakeRule(string from, string to, string json)
    {
        for (var i = 0; i < _rules.Count; i++)
        {
            var r = _rules[i];
            if (r.From == from && r.To == to && (r.Match is null || r.Match(json)))
            {
                if (--r.Remaining == 0)
                {
                    _rules.RemoveAt(i);
                }

                return r.Fault;
            }
        }

        return Fault.None;
    }

    private sealed record Rule(string From, string To, Fault Fault, Func<string, bool>? Match)
    {
        public int Remaining { get; set; }
    }
}

/// <summary>The kinds of fault the decorator applies.</summary>
public enum Fault
{
    None,
    Drop,
    Duplicate,
    Hold,
}

/// <summary>One frame seen by the fault-injecting transport.</summary>
public sealed record CapturedFrame(string From, string To, string Json);

/// <summary>Random faults with a fixed seed, so a chaos run can be replayed.</summary>
public sealed class ChaosSettings(int seed, double dropRate, double duplicateRate, double holdRate)
{
    private readonly Random _random = new(seed);

    /// <summary>Draws the fault for the next frame; a frame that is not held releases the pair's held frames after it.</summary>
    public Fault Next(out bool releaseHeld)
    {
        var x = _random.NextDouble();
        var fault = x < dropRate ? Fault.Drop
            : x < dropRate + duplicateRate ? Fault.Duplicate
            : x < dropRate + duplicateRate + holdRate ? Fault.Hold
            : Fault.None;
        releaseHeld = fault != Fault.Hold;
        return fault;
    }
}
