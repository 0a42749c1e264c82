namespace OcapDgc.ReferenceKernel;

/// <summary>
/// The reference kernel's object graph and its part in cycle detection. Roots: own objects the kernel still
/// holds (<see cref="OwnObject.LocalRef"/>) and imports it holds directly (not <see cref="ReferenceKernelState.Detached"/>).
/// Objects reference own objects and imports (<see cref="OwnObject.Refs"/>). Exports: own objects sent to a
/// remote and not reported dropped since, and imports passed on to a third kernel. The local GC drops a detached
/// import nothing of these reaches; the answer to the collector is computed from the same graph.
/// </summary>
public sealed partial class ReferenceKernelGrain
{
    /// <inheritdoc />
    public Task EnableCyclesAsync() =>
        GrainFactory.GetGrain<ICycleCollectorGrain>(Me).StartAsync(this.AsReference<ICycleKernel>());

    /// <inheritdoc />
    public Task<string[]> WhichRetiredAsync(string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        return Task.FromResult(krefs.Where(S.Retired.Contains).ToArray());
    }

    /// <inheritdoc />
    public async Task LinkAsync(string obj, string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        if (!S.Own.TryGetValue(obj, out var own))
        {
            throw new ArgumentException($"{Me} owns no object {obj}.", nameof(obj));
        }

        var unknown = krefs.Where(k => !S.Own.ContainsKey(k) && FindImportLabel(k) is null).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"{Me} neither owns nor holds {string.Join(", ", unknown)}.", nameof(krefs));
        }

        own.Refs.UnionWith(krefs);
        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task DetachAsync(string[] importKrefs)
    {
        ArgumentNullException.ThrowIfNull(importKrefs);
        var unknown = importKrefs.Where(k => FindImportLabel(k) is null).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"{Me} holds no import {string.Join(", ", unknown)}.", nameof(importKrefs));
        }

        S.Detached.UnionWith(importKrefs);
        await SaveAsync();
    }

    /// <inheritdoc />
    public async Task<int> CollectGarbageAsync()
    {
        var live = Reached(includeExports: true);
        var dead = S.Detached.Where(k => !live.Contains(k)).ToHashSet(StringComparer.Ordinal);
        var dropped = 0;
        foreach (var (remote, imports) in S.ImportsByRemote.Select(r => (r.Key, r.Value)).ToList())
        {
            var mine = imports.Keys.Where(dead.Contains).Order(StringComparer.Ordinal).ToArray();
            if (mine.Length > 0)
            {
                await DropAsync(remote, mine, retire: true);
                dropped += mine.Length;
            }
        }

        return dropped;
    }

    /// <inheritdoc />
    public Task<ReachabilityAnswer> AnswerReachabilityAsync(string[] importKrefs)
    {
        ArgumentNullException.ThrowIfNull(importKrefs);
        var referrers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (kref, own) in S.Own)
        {
            foreach (var r in own.Refs)
            {
                if (!referrers.TryGetValue(r, out var list))
                {
                    referrers[r] = list = [];
                }

                list.Add(kref);
            }
        }

        var answers = new ImportReach[importKrefs.Length];
        for (var i = 0; i < importKrefs.Length; i++)
        {
            var import = importKrefs[i];
            if (FindImportLabel(import) is null)
            {
                answers[i] = new ImportReach(import, Reach.Unknown, []);
                continue;
            }

            // Backwards from the import: a root on the way roots it; exports on the way are where remotes may reach it from.
            var (rooted, exports) = (false, new SortedSet<string>(StringComparer.Ordinal));
            var seen = new HashSet<string>(StringComparer.Ordinal) { import };
            var work = new Stack<string>([import]);
            while (work.TryPop(out var x))
            {
                rooted |= IsRoot(x);
                if (IsExport(x))
                {
                    exports.Add(x);
                }

                foreach (var r in referrers.GetValueOrDefault(x) ?? [])
                {
                    if (seen.Add(r))
                    {
                        work.Push(r);
                    }
                }
            }

            answers[i] = rooted ? new ImportReach(import, Reach.Rooted, []) : new ImportReach(import, Reach.FromExports, [.. exports]);
        }

        return Task.FromResult(new ReachabilityAnswer(S.GraphVersion, answers));
    }

    /// <inheritdoc />
    public async Task OnCycleGarbageAsync(string remote, string[] krefs)
    {
        ArgumentNullException.ThrowIfNull(krefs);
        var rooted = Reached(includeExports: false);
        S.CycleVerdicts += krefs.Length;
        S.CycleMistakes += krefs.Count(rooted.Contains);
        var held = S.ImportsByRemote.TryGetValue(remote, out var imports) ? krefs.Where(imports.ContainsKey).ToArray() : [];
        S.Detached.ExceptWith(held);
        if (held.Length > 0)
        {
            await DropAsync(remote, held, retire: true);
        }
        else
        {
            await SaveAsync();
        }
    }

    /// <summary>What the roots (and, with <paramref name="includeExports"/>, the exports remotes may hold) reach.</summary>
    private HashSet<string> Reached(bool includeExports)
    {
        var work = new Stack<string>();
        foreach (var kref in S.Own.Keys.Where(k => IsRoot(k) || (includeExports && IsExport(k))))
        {
            work.Push(kref);
        }

        foreach (var kref in S.ImportsByRemote.Values.SelectMany(i => i.Keys).Where(k => IsRoot(k) || (includeExports && IsExport(k))))
        {
            work.Push(kref);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (work.TryPop(out var x))
        {
            if (seen.Add(x) && S.Own.TryGetValue(x, out var own))
            {
                foreach (var r in own.Refs)
                {
                    work.Push(r);
                }
            }
        }

        return seen;
    }

    private bool IsRoot(string kref) =>
        S.Own.TryGetValue(kref, out var own) ? own.LocalRef : !S.Detached.Contains(kref) && FindImportLabel(kref) is not null;

    private bool IsExport(string kref) =>
        S.Own.TryGetValue(kref, out var own) ? own.SentTo.Count > 0 && !own.ToldDropped : S.SentOn.Contains(kref);

    /// <summary>Imports gone from the kernel: no object references them any more.</summary>
    private void Unlink(string[] krefs)
    {
        foreach (var own in S.Own.Values)
        {
            own.Refs.ExceptWith(krefs);
        }

        S.Detached.ExceptWith(krefs);
        S.SentOn.ExceptWith(krefs);
    }
}
