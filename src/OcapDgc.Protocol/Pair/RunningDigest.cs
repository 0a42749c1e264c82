using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>A c-list entry as the running digest sees it: whether it is reachable, and how the digest last counted it.</summary>
internal interface IDigestedEntry
{
    bool Reachable { get; }

    /// <summary>0: not counted; 1: counted as unreachable; 2: counted as reachable.</summary>
    byte Digested { get; set; }
}

/// <summary>
/// The <see cref="ImportDigest"/> of one c-list table, and how many of its entries are reachable, kept up to date as the table changes instead of summed over
/// every entry at each ping: a ping at a million live refs would otherwise read a million entries (and push everything
/// else out of the processor's caches). The digest is a sum of one term per entry, so a changed entry's old term is
/// taken out and its new one put in. The c-list tells it of every entry it adds or changes (the same places that mark
/// the entry for the next journal write) and of every entry it removes; the first digest after an activation, or after
/// <see cref="Invalidate"/>, is summed in full.
/// </summary>
internal sealed class RunningDigest
{
    /// <summary>
    /// Most changes remembered between two reads; past it the sum is forgotten and the next read sums every entry,
    /// which then costs no more than the changes it replaces would have.
    /// </summary>
    public const int MaxChanges = 65_536;

    // Ids changed since the last read.
    private readonly HashSet<long> _changed = [];
    private bool _valid;
    private ulong _sum;
    private int _reachable;

    /// <summary>Entry <paramref name="id"/> was added or changed: its term is brought up to date at the next <see cref="Of{TEntry}"/>.</summary>
    public void Changed(long id)
    {
        if (!_valid)
        {
            return;
        }

        if (_changed.Count == MaxChanges)
        {
            Invalidate();
            return;
        }

        _changed.Add(id);
    }

    /// <summary>Entry <paramref name="id"/> left the table: its term, if counted, comes out now.</summary>
    public void Removed(long id, IDigestedEntry entry)
    {
        if (_valid && entry.Digested != 0)
        {
            Uncount(id, entry);
        }

        entry.Digested = 0;
    }

    /// <summary>Every entry left the table.</summary>
    public void Cleared()
    {
        _changed.Clear();
        _sum = 0;
        _reachable = 0;
        _valid = true;
    }

    /// <summary>Forgets the sum: the next <see cref="Of{TEntry}"/> sums every entry.</summary>
    public void Invalidate()
    {
        _changed.Clear();
        _valid = false;
    }

    /// <summary>The digest of <paramref name="table"/>, as <see cref="ImportDigest.Compute"/> gives it.</summary>
    public string Of<TEntry>(Dictionary<long, TEntry> table)
        where TEntry : IDigestedEntry
    {
        Refresh(table);
        return ImportDigest.Format(_sum);
    }

    /// <summary>How many entries of <paramref name="table"/> are reachable.</summary>
    public int ReachableIn<TEntry>(Dictionary<long, TEntry> table)
        where TEntry : IDigestedEntry
    {
        Refresh(table);
        return _reachable;
    }

    private void Refresh<TEntry>(Dictionary<long, TEntry> table)
        where TEntry : IDigestedEntry
    {
        if (!_valid)
        {
            (_sum, _reachable) = (0, 0);
            foreach (var (id, entry) in table)
            {
                Count(id, entry);
            }

            _valid = true;
        }
        else
        {
            foreach (var id in _changed)
            {
                if (table.TryGetValue(id, out var entry))
                {
                    if (entry.Digested != 0)
                    {
                        Uncount(id, entry);
                    }

                    Count(id, entry);
                }
            }
        }

        _changed.Clear();
    }

    private void Count(long id, IDigestedEntry entry)
    {
        entry.Digested = entry.Reachable ? (byte)2 : (byte)1;
        _sum += ImportDigest.Term(id, entry.Reachable);
        _reachable += entry.Reachable ? 1 : 0;
    }

    private void Uncount(long id, IDigestedEntry entry)
    {
        _sum -= ImportDigest.Term(id, entry.Digested == 2);
        _reachable -= entry.Digested == 2 ? 1 : 0;
    }
}
