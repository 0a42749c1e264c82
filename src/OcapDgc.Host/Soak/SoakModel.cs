namespace OcapDgc.Host.Soak;

/// <summary>Where one (export, importer) pair stands in the soak driver's model.</summary>
public enum HoldState
{
    /// <summary>Never sent to that importer, or sent, dropped and retired: the exporter keeps no hold for it.</summary>
    Absent,

    /// <summary>Sent (the call returned or failed): the importer holds it once if the message arrived, and not at all if it was lost.</summary>
    Sent,

    /// <summary>A drop of it is under way.</summary>
    Dropping,

    /// <summary>Dropped but not retired: the importer still recognizes it (count 0).</summary>
    Dropped,

    /// <summary>A retire of it is under way.</summary>
    Retiring,

    /// <summary>A drop or retire failed with an unknown outcome; finished when the traffic has stopped.</summary>
    Unfinished,
}

/// <summary>One own object of a kernel, as the driver knows it.</summary>
public sealed class SoakObject(string exporter, string kref)
{
    /// <summary>The owning kernel.</summary>
    public string Exporter { get; } = exporter;

    /// <summary>Its kref at the owner.</summary>
    public string Kref { get; } = kref;

    /// <summary>How the reference kernels name it (<c>kernel/kref</c>).</summary>
    public string Label => $"{Exporter}/{Kref}";

    /// <summary>Its owner restarted since: the DGC let go of every hold on it.</summary>
    public bool Ended { get; set; }

    /// <summary>Ever sent to another kernel.</summary>
    public bool EverSent { get; set; }

    /// <summary>Per importer.</summary>
    public Dictionary<string, SoakHold> Holds { get; } = new(StringComparer.Ordinal);
}

/// <summary>One importer's side of one object.</summary>
public sealed class SoakHold
{
    /// <summary>Where it stands.</summary>
    public HoldState State { get; set; }

    /// <summary>The importer's kref for it, once the driver dropped it.</summary>
    public string? ImportKref { get; set; }

    /// <summary>For <see cref="HoldState.Unfinished"/>: the interrupted call meant to drop it (else only to retire it).</summary>
    public bool DropIntended { get; set; }

    /// <summary>For <see cref="HoldState.Unfinished"/>: the interrupted call meant to retire it.</summary>
    public bool RetireIntended { get; set; }
}

/// <summary>A pick of the model: one object and the importer's kref for it.</summary>
public sealed record SoakPick(SoakObject Target, string ImportKref);

/// <summary>
/// The soak driver's model of every object the kernels sent each other: per (object, importer), whether the
/// importer may hold it, dropped it, or forgot it. Sends and drops are recorded as the driver issues them.
/// Whether a sent message arrived is not known when the call returns (a silo may die with the message in
/// flight); the model leaves that open and it is settled from the importing kernel's own ground truth when the
/// traffic has stopped, never from the DGC's tables. A drop or retire whose call failed is finished then.
/// Thread-safe: the kernels' workers share it.
/// </summary>
public sealed class SoakModel
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SoakObject> _byLabel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<SoakObject>> _pool = new(StringComparer.Ordinal);
    private readonly HashSet<string> _restarting = new(StringComparer.Ordinal);

    /// <summary>New own objects of <paramref name="exporter"/>'s current incarnation.</summary>
    public void AddObjects(string exporter, IEnumerable<string> krefs)
    {
        lock (_gate)
        {
            if (!_pool.TryGetValue(exporter, out var pool))
            {
                _pool[exporter] = pool = [];
            }

            foreach (var kref in krefs)
            {
                var o = new SoakObject(exporter, kref);
                _byLabel[o.Label] = o;
                pool.Add(o);
            }
        }
    }

    /// <summary>How many own objects <paramref name="exporter"/>'s current incarnation has.</summary>
    public int PoolSize(string exporter)
    {
        lock (_gate)
        {
            return _pool.TryGetValue(exporter, out var pool) ? pool.Count : 0;
        }
    }

    /// <summary>
    /// Picks up to <paramref name="max"/> of <paramref name="exporter"/>'s objects that <paramref name="to"/> does not
    /// hold (never sent, retired, or dropped) and marks them sent. None while <paramref name="to"/> restarts.
    /// </summary>
    public SoakObject[] PickToSend(string exporter, string to, Random rng, int max)
    {
        lock (_gate)
        {
            if (_restarting.Contains(to) || !_pool.TryGetValue(exporter, out var pool))
            {
                return [];
            }

            var free = pool.Where(o => Hold(o, to).State is HoldState.Absent or HoldState.Dropped).ToList();
            var picked = free.OrderBy(_ => rng.Next()).Take(rng.Next(1, max + 1)).ToArray();
            foreach (var o in picked)
            {
                o.EverSent = true;
                Hold(o, to).State = HoldState.Sent;
            }

            return picked;
        }
    }

    /// <summary>
    /// Of the imports <paramref name="importer"/>'s ground truth shows from <paramref name="exporter"/> (kref to label),
    /// picks up to <paramref name="max"/> that the model has as sent and marks them being dropped.
    /// </summary>
    public SoakPick[] PickToDrop(string importer, string exporter, IReadOnlyDictionary<string, string> imports, Random rng, int max)
    {
        lock (_gate)
        {
            var candidates = imports
                .Where(i => _byLabel.TryGetValue(i.Value, out var o) && o.Exporter == exporter && !o.Ended
                    && o.Holds.TryGetValue(importer, out var h) && h.State == HoldState.Sent)
                .OrderBy(i => i.Key, StringComparer.Ordinal)
                .ToList();
            var picked = candidates.OrderBy(_ => rng.Next()).Take(rng.Next(1, max + 1))
                .Select(i => new SoakPick(_byLabel[i.Value], i.Key)).ToArray();
            foreach (var p in picked)
            {
                var h = Hold(p.Target, importer);
                h.State = HoldState.Dropping;
                h.ImportKref = p.ImportKref;
            }

            return picked;
        }
    }

    /// <summary>The drop returned (<paramref name="ok"/>) or failed with an unknown outcome.</summary>
    public void Dropped(string importer, IEnumerable<SoakPick> picks, bool retire, bool ok)
    {
        lock (_gate)
        {
            foreach (var p in picks)
            {
                var h = Hold(p.Target, importer);
                if (h.State != HoldState.Dropping)
                {
                    continue; // the importer restarted meanwhile: nothing of it is held any more
                }

                (h.State, h.DropIntended, h.RetireIntended) = ok
                    ? (retire ? HoldState.Absent : HoldState.Dropped, false, false)
                    : (HoldState.Unfinished, true, retire);
            }
        }
    }

    /// <summary>Picks up to <paramref name="max"/> objects of one exporter that <paramref name="importer"/> dropped without retiring, and marks them being retired.</summary>
    public (string Exporter, SoakPick[] Picks) PickToRetire(string importer, Random rng, int max)
    {
        lock (_gate)
        {
            var dropped = _byLabel.Values
                .Where(o => !o.Ended && o.Holds.TryGetValue(importer, out var h) && h.State == HoldState.Dropped)
                .OrderBy(o => o.Label, StringComparer.Ordinal)
                .ToList();
            if (dropped.Count == 0)
            {
                return ("", []);
            }

            var exporter = dropped[rng.Next(dropped.Count)].Exporter;
            var picked = dropped.Where(o => o.Exporter == exporter).OrderBy(_ => rng.Next()).Take(rng.Next(1, max + 1))
                .Select(o => new SoakPick(o, o.Holds[importer].ImportKref!)).ToArray();
            foreach (var p in picked)
            {
                p.Target.Holds[importer].State = HoldState.Retiring;
            }

            return (exporter, picked);
        }
    }

    /// <summary>The retire returned (<paramref name="ok"/>) or failed with an unknown outcome.</summary>
    public void Retired(string importer, IEnumerable<SoakPick> picks, bool ok)
    {
        lock (_gate)
        {
            foreach (var p in picks)
            {
                var h = Hold(p.Target, importer);
                if (h.State == HoldState.Retiring)
                {
                    (h.State, h.DropIntended, h.RetireIntended) = ok ? (HoldState.Absent, false, false) : (HoldState.Unfinished, false, true);
                }
            }
        }
    }

    /// <summary>
    /// <paramref name="kernel"/> is about to restart: its objects are gone (the DGC lets go of every hold on them),
    /// and what it dropped without retiring is forgotten. Nothing is sent to it until <see cref="Restarted"/>.
    /// What it may hold (sent to it) stays open: a message may still arrive for the new incarnation.
    /// </summary>
    public void Restarting(string kernel)
    {
        lock (_gate)
        {
            _restarting.Add(kernel);
            if (_pool.Remove(kernel, out var pool))
            {
                foreach (var o in pool)
                {
                    o.Ended = true;
                }
            }

            foreach (var o in _byLabel.Values)
            {
                if (o.Holds.TryGetValue(kernel, out var h) && h.State == HoldState.Dropped)
                {
                    h.State = HoldState.Absent;
                }
            }
        }
    }

    /// <summary>The restart is done: other kernels may send to it again.</summary>
    public void Restarted(string kernel)
    {
        lock (_gate)
        {
            _restarting.Remove(kernel);
        }
    }

    /// <summary>Every object ever sent, for the checks.</summary>
    public SoakObject[] Sent()
    {
        lock (_gate)
        {
            return [.. _byLabel.Values.Where(o => o.EverSent)];
        }
    }

    /// <summary>The object a reference kernel's label names, if the driver created it.</summary>
    public SoakObject? Find(string label)
    {
        lock (_gate)
        {
            return _byLabel.GetValueOrDefault(label);
        }
    }

    /// <summary>The (importer, object, hold) triples whose drop or retire was interrupted, to finish once the traffic stopped.</summary>
    public (string Importer, SoakObject Target, SoakHold Hold)[] Unfinished()
    {
        lock (_gate)
        {
            return [.. _byLabel.Values.SelectMany(o => o.Holds.Where(h => h.Value.State == HoldState.Unfinished).Select(h => (h.Key, o, h.Value)))];
        }
    }

    /// <summary>Every (importer, object) the model has as dropped and not retired.</summary>
    public (string Importer, SoakObject Target, string ImportKref)[] DroppedNotRetired()
    {
        lock (_gate)
        {
            return [.. _byLabel.Values.Where(o => !o.Ended).SelectMany(o => o.Holds.Where(h => h.Value.State == HoldState.Dropped).Select(h => (h.Key, o, h.Value.ImportKref!)))];
        }
    }

    private static SoakHold Hold(SoakObject o, string importer)
    {
        if (!o.Holds.TryGetValue(importer, out var h))
        {
            o.Holds[importer] = h = new SoakHold();
        }

        return h;
    }
}
