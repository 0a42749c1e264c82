namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>One frame on its way. A kernel-carried message has no JSON: the kernel carries its wire refs itself.</summary>
public sealed record InFlight(long Id, string From, string To, string? Json, long MessageId = 0, string[]? CarriedRefs = null);

/// <summary>
/// The simulated network: frames wait here until a step delivers, loses, duplicates or reorders them. A
/// cut pair loses every frame sent or delivered while it is cut.
/// </summary>
public sealed class SimNetwork
{
    private readonly HashSet<(string, string)> _cut = [];
    private long _nextId;

    public List<InFlight> Frames { get; } = [];

    public long Sent { get; private set; }

    public long Lost { get; private set; }

    public long Duplicated { get; private set; }

    /// <summary>Pairs (unordered) that lost a frame at some point.</summary>
    public HashSet<(string, string)> Lossy { get; } = [];

    public static (string, string) Key(string a, string b) => string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);

    public bool IsCut(string a, string b) => _cut.Contains(Key(a, b));

    public void Cut(string a, string b) => _cut.Add(Key(a, b));

    public void Heal(string a, string b) => _cut.Remove(Key(a, b));

    public void HealAll() => _cut.Clear();

    public void Send(string from, string to, string? json, long messageId = 0, string[]? carried = null)
    {
        Sent++;
        var frame = new InFlight(++_nextId, from, to, json, messageId, carried);
        if (IsCut(from, to))
        {
            Lose(frame);
            return;
        }

        Frames.Add(frame);
    }

    /// <summary>Takes frame <paramref name="index"/> off the network for delivery; null if its pair is cut (then it is lost).</summary>
    public InFlight? Take(int index)
    {
        var frame = Frames[index];
        Frames.RemoveAt(index);
        if (IsCut(frame.From, frame.To))
        {
            Lose(frame);
            return null;
        }

        return frame;
    }

    /// <summary>Takes a frame off the network without delivering it (a test keeps it to deliver late).</summary>
    public InFlight Hold(int index)
    {
        var frame = Frames[index];
        Frames.RemoveAt(index);
        return frame;
    }

    /// <summary>Puts a held frame back, first in line.</summary>
    public void Inject(InFlight frame) => Frames.Insert(0, frame);

    /// <summary>The index of the first frame from <paramref name="from"/> to <paramref name="to"/> whose JSON contains <paramref name="text"/>.</summary>
    public int Find(string from, string to, string text) =>
        Frames.FindIndex(f => f.From == from && f.To == to && (f.Json ?? "carried").Contains(text, StringComparison.Ordinal));

    public void LoseAt(int index)
    {
        var frame = Frames[index];
        Frames.RemoveAt(index);
        Lose(frame);
    }

    public void DuplicateAt(int index)
    {
        var frame = Frames[index];
        Duplicated++;
        Frames.Add(frame with { Id = ++_nextId });
    }

    private void Lose(InFlight frame)
    {
        Lost++;
        Lossy.Add(Key(frame.From, frame.To));
    }
}
