using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>
/// Cycles in the simulation: kernels' objects reference each other across kernels, each kernel's cycle
/// collector traces its suspects, and the oracle checks every verdict against the whole world's graph:
/// an import the collector calls garbage must not be reachable from any root of any kernel, nor from a
/// message in flight (S1 for cycles). After quiescence every cycle must be gone (L3 covers it: nothing
/// may be left).
/// </summary>
public sealed partial class World
{
    private readonly Dictionary<long, (string Kernel, string Obj)> _linkOnDelivery = [];

    /// <summary>Per message sent, per ref: the session the hold it carries belongs to (the sender's, or the receiver's for a ref sent back).</summary>
    private readonly Dictionary<long, long[]> _messageSessions = [];

    /// <summary>Records, as a message leaves, which session of its exporter each ref's hold is in.</summary>
    private void NoteSessions(SimKernel k, string to, long id, string[] krefs)
    {
        var epoch = k.StateOf(to)?.Epoch ?? 0;
        _messageSessions[id] = [.. krefs.Select(kref => !k.Own.ContainsKey(kref) && k.Imports[kref].From == to ? k.Imports[kref].Epoch : epoch)];
    }

    /// <summary>
    /// Whether a ref in a message in flight still holds its object: not if its exporter ended the session the hold
    /// is in. The exporter released that hold (a lapsed lease, a restart), as S1 allows; the ref arrives stale, and
    /// is refused or revoked.
    /// </summary>
    private bool HoldsInFlight(long id, int index, ObjId obj, string from, string to)
    {
        if (!_messageSessions.TryGetValue(id, out var sessions) || index >= sessions.Length)
        {
            return true;
        }

        var (exporter, holder) = obj.Owner == to ? (to, from) : (from, to);
        return !Kernels.TryGetValue(exporter, out var x) || !SessionEnded(x, holder, sessions[index]);
    }

    /// <summary>The collectors' bounds: a trace gives up after 30 s of the clock.</summary>
    public CycleSettings CycleSettings { get; init; } = new(TimeSpan.FromSeconds(30), 4, 256, 4096);

    /// <summary>Cycles built by <see cref="BuildCycle"/>.</summary>
    public int CyclesBuilt { get; private set; }

    /// <summary>Imports the collectors found garbage (each breaks one cycle; the rest follows by the counts).</summary>
    public int CycleVerdicts { get; private set; }

    /// <summary>
    /// A cycle through <paramref name="kernels"/>: each makes an object (rooted) and sends it to the next; when
    /// a message arrives, the receiver's object takes the import (which its root no longer holds directly).
    /// Returns the objects, one per kernel.
    /// </summary>
    public string[] BuildCycle(params string[] kernels)
    {
        var objects = kernels.Select(k => this[k].NewObject()).ToArray();
        for (var i = 0; i < kernels.Length; i++)
        {
            var next = (i + 1) % kernels.Length;
            var id = Send(kernels[i], kernels[next], objects[i]);
            if (id != 0)
            {
                _linkOnDelivery[id] = (kernels[next], objects[next]);
            }
        }

        CyclesBuilt++;
        return objects;
    }

    /// <summary>Kernel <paramref name="kernel"/>'s object <paramref name="obj"/> takes a reference to <paramref name="to"/> (an own object or import it uses).</summary>
    public void Link(string kernel, string obj, string to)
    {
        var k = this[kernel];
        if (k.Own.TryGetValue(obj, out var own) && !own.Freed)
        {
            own.Refs.Add(to);
            k.Version++;
        }
    }

    /// <summary>Starts traces at <paramref name="kernel"/> from the imports its local GC says no root reaches (up to the collector's bound).</summary>
    public void StartTraces(string kernel)
    {
        var k = this[kernel];
        var suspects = k.Imports.Where(i => !i.Value.Dropped && !i.Value.Revoked && k.StateOf(i.Value.From) is not null).Select(i => i.Key).Order(StringComparer.Ordinal).ToArray();
        foreach (var reach in k.Answer(suspects).Imports.Where(r => r.Reach == Reach.FromExports))
        {
            if (!Run(k.Tracer.StartAsync(k.Imports[reach.Kref].From, reach.Kref)))
            {
                break;
            }
        }
    }

    /// <summary>A collector's verdict: checked against the world, then the kernel lets go of the import.</summary>
    internal void OnCycleGarbage(SimKernel k, string remote, string[] krefs)
    {
        Note($"  {k.Id} cycle garbage from {remote}: {string.Join(",", krefs)}");
        var live = GloballyReachable();
        foreach (var kref in krefs)
        {
            if (live.Contains((k.Id, kref)) && !k.Hostile && !ReachableOnlyThroughLiars(kref, k))
            {
                throw new SimulationViolationException($"S1 (cycles): {k.Id}'s collector called its import {kref} garbage although a root reaches it: {WhyReachable(k.Id, kref)}");
            }

            CycleVerdicts++;
            foreach (var own in k.Own.Values)
            {
                own.Refs.Remove(kref);
            }

            if (k.Imports.TryGetValue(kref, out var imp))
            {
                imp.InUse = false;
            }
        }

        k.Version++;
        _gcPending.Add(k.Id);
    }

    private void OnCycleDelivery(SimKernel k, long messageId, string[] krefs)
    {
        if (!_linkOnDelivery.Remove(messageId, out var link) || link.Kernel != k.Id || !k.Own.TryGetValue(link.Obj, out var own) || own.Freed)
        {
            return;
        }

        foreach (var kref in krefs.Where(k.Imports.ContainsKey))
        {
            own.Refs.Add(kref);
            k.Imports[kref].InUse = false;
        }
    }

    /// <summary>With a lying kernel, a verdict may free what only it reaches: its lie is as good as a drop of its own holds.</summary>
    private bool ReachableOnlyThroughLiars(string kref, SimKernel k)
    {
        var liars = Kernels.Values.Where(x => x.LiesAboutRoots).Select(x => x.Id).ToHashSet(StringComparer.Ordinal);
        return liars.Count > 0 && !GloballyReachable(liars).Contains((k.Id, kref));
    }

    /// <summary>Every (kernel, kref) a root of any kernel, or a message in flight, reaches (<paramref name="except"/>: kernels whose roots do not count).</summary>
    public HashSet<(string, string)> GloballyReachable(IReadOnlySet<string>? except = null) => GloballyReachable(except, null);

    /// <summary>A path from a root (or a message in flight) to <paramref name="kref"/> at <paramref name="kernel"/>, for the failure message.</summary>
    private string WhyReachable(string kernel, string kref)
    {
        var parents = new Dictionary<(string, string), string>();
        GloballyReachable(null, parents);
        var path = new List<string>();
        var node = (kernel, kref);
        for (var i = 0; i < 64 && parents.TryGetValue(node, out var from); i++)
        {
            path.Add($"{node.kernel}/{node.kref}");
            if (from.Contains(' ', StringComparison.Ordinal))
            {
                path.Add(from);
                break;
            }

            var parts = from.Split('/');
            node = (parts[0], parts[1]);
        }

        path.Reverse();
        return string.Join(" -> ", path);
    }

    private HashSet<(string, string)> GloballyReachable(IReadOnlySet<string>? except, Dictionary<(string, string), string>? parents)
    {
        var work = new Stack<(string Kernel, string Kref)>();
        void Push((string Kernel, string Kref) node, string from)
        {
            if (parents is not null)
            {
                parents.TryAdd(node, from);
            }

            work.Push(node);
        }

        foreach (var k in Kernels.Values.Where(k => except is null || !except.Contains(k.Id)))
        {
            foreach (var (kref, own) in k.Own.Where(o => o.Value.Rooted && !o.Value.Freed))
            {
                Push((k.Id, kref), $"root of {k.Id}");
            }

            foreach (var (kref, imp) in k.Imports.Where(i => i.Value.InUse && !i.Value.Dropped && !i.Value.Revoked))
            {
                Push((k.Id, kref), $"import in use at {k.Id}");
            }
        }

        // A message in flight roots what it carries, unless it was delivered already (a duplicate is dropped).
        foreach (var frame in Net.Frames)
        {
            var id = frame.MessageId;
            if (frame.Json is not null)
            {
                try
                {
                    id = WireCodec.Decode(frame.Json) is AppFrame app && long.TryParse(app.Body, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
                }
                catch (FormatException)
                {
                    id = 0;
                }
            }

            if (!_delivered.Contains(id) && _messages.TryGetValue(id, out var m))
            {
                for (var i = 0; i < m.Sent.Length; i++)
                {
                    var obj = m.Sent[i];
                    if (HoldsInFlight(id, i, obj, m.From, m.To))
                    {
                        Push((obj.Owner, obj.Kref), $"message {id} in flight ({frame.From}->{frame.To})");
                    }
                }
            }
        }

        var seen = new HashSet<(string, string)>();
        while (work.TryPop(out var node))
        {
            if (!seen.Add(node) || !Kernels.TryGetValue(node.Kernel, out var k))
            {
                continue;
            }

            if (k.Own.TryGetValue(node.Kref, out var own))
            {
                foreach (var r in own.Refs)
                {
                    Push((node.Kernel, r), $"{node.Kernel}/{node.Kref}");
                }
            }
            else if (k.Imports.TryGetValue(node.Kref, out var imp) && !imp.Dropped && !imp.Revoked
                && !(Kernels.TryGetValue(imp.Identity.Owner, out var owner) && SessionEnded(owner, k.Id, imp.Epoch)))
            {
                // A hold in a session its exporter ended (a lapsed lease, a restart) no longer keeps the export:
                // the exporter released it, as S1 (CheckNotPremature) allows, and the import will be revoked.
                Push((imp.Identity.Owner, imp.Identity.Kref), $"{node.Kernel}/{node.Kref}");
            }
        }

        return seen;
    }

    /// <summary>
    /// A known limit, not a leak the oracle forgives elsewhere: while a holder still holds an export whose count
    /// includes a send that never reached it (the frame was lost), no trace through that hold can tell the send
    /// from one in flight, so the cycle behind it is kept (docs/protocol.md, "Cycles"). These are the objects
    /// such holds keep: the exports and everything their objects reach.
    /// </summary>
    private HashSet<ObjId> KeptByLostSends()
    {
        var work = new Stack<(string Kernel, string Kref)>();
        foreach (var holder in Kernels.Values)
        {
            foreach (var remote in holder.PairedRemotes())
            {
                var exporter = this[remote];
                var theirs = exporter.StateOf(holder.Id);
                foreach (var (id, import) in holder.StateOf(remote)?.Imports ?? [])
                {
                    if (import.Reachable && theirs is not null && theirs.Exports.TryGetValue(id, out var export)
                        && exporter.Ledgers.TryGetValue(export.Kref, out var ledger)
                        && ledger.Holds.TryGetValue(holder.Id, out var hold) && hold.Count > import.Receipts)
                    {
                        work.Push((remote, export.Kref));
                    }
                }
            }
        }

        var kept = new HashSet<ObjId>();
        while (work.TryPop(out var node))
        {
            if (!kept.Add(new ObjId(node.Kernel, node.Kref)) || !Kernels.TryGetValue(node.Kernel, out var k))
            {
                continue;
            }

            if (k.Own.TryGetValue(node.Kref, out var own))
            {
                foreach (var r in own.Refs)
                {
                    work.Push((node.Kernel, r));
                }
            }
            else if (k.Imports.TryGetValue(node.Kref, out var imp))
            {
                work.Push((imp.Identity.Owner, imp.Identity.Kref));
            }
        }

        return kept;
    }
}
