namespace OcapDgc.Benchmarks;

/// <summary>What a kernel heard from the DGC, counted in reference units.</summary>
internal enum KernelEvent
{
    ExportsDropped = 0,
    ExportsRetired = 1,
    ImportsRevoked = 2,
    ImportsRetired = 3,
    Delivered = 4,
}

/// <summary>
/// A process-wide tally of the callbacks the benchmark kernels receive. The silo runs in this process,
/// so the kernel grains count straight into it and the harness awaits a count instead of polling a
/// grain: the time a measurement ends is the time the last callback arrived.
/// </summary>
internal sealed class BenchProbe
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Kernel, KernelEvent Event), long> _counts = [];
    private readonly List<Waiter> _waiters = [];
    private readonly Dictionary<(string Kernel, string From), List<string>> _delivered = [];

    /// <summary>Records the krefs of a message <paramref name="kernel"/> received from <paramref name="from"/>, then counts them.</summary>
    public void Deliver(string kernel, string from, string[] krefs)
    {
        lock (_gate)
        {
            if (!_delivered.TryGetValue((kernel, from), out var list))
            {
                _delivered[(kernel, from)] = list = [];
            }

            list.AddRange(krefs);
        }

        Add(kernel, KernelEvent.Delivered, krefs.Length);
    }

    /// <summary>The krefs <paramref name="kernel"/> received from <paramref name="from"/> since the last call.</summary>
    public string[] TakeDelivered(string kernel, string from)
    {
        lock (_gate)
        {
            return _delivered.Remove((kernel, from), out var list) ? [.. list] : [];
        }
    }

    public long Get(string kernel, KernelEvent e)
    {
        lock (_gate)
        {
            return _counts.GetValueOrDefault((kernel, e));
        }
    }

    public void Add(string kernel, KernelEvent e, long n)
    {
        List<Waiter>? done = null;
        lock (_gate)
        {
            var key = (kernel, e);
            var total = _counts.GetValueOrDefault(key) + n;
            _counts[key] = total;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var w = _waiters[i];
                if (w.Kernel == kernel && w.Event == e && total >= w.Target)
                {
                    (done ??= []).Add(w);
                    _waiters.RemoveAt(i);
                }
            }
        }

        if (done is not null)
        {
            foreach (var w in done)
            {
                w.Done.TrySetResult();
            }
        }
    }

    /// <summary>Completes when <paramref name="kernel"/> has heard at least <paramref name="target"/> of <paramref name="e"/>.</summary>
    public async Task WaitAsync(string kernel, KernelEvent e, long target, TimeSpan timeout)
    {
        Waiter w;
        lock (_gate)
        {
            if (_counts.GetValueOrDefault((kernel, e)) >= target)
            {
                return;
            }

            w = new Waiter(kernel, e, target, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _waiters.Add(w);
        }

        try
        {
            await w.Done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_gate)
            {
                _waiters.Remove(w);
            }

            throw new TimeoutException($"{kernel} heard {Get(kernel, e)} of {target} {e} within {timeout}.");
        }
    }

    private sealed record Waiter(string Kernel, KernelEvent Event, long Target, TaskCompletionSource Done);
}
