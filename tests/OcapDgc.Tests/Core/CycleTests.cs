namespace OcapDgc.Tests.Core;

/// <summary>
/// Cycles across kernels through the grains: each kernel's collector grain traces its suspects over the
/// fault-injecting transport, on the fixture's fake clock; scans are run by the test (ScanAsync), never by the timer.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class CycleTests(DgcClusterFixture fx)
{
    [Fact]
    public async Task A_cycle_of_two_kernels_is_reclaimed_and_nothing_is_left()
    {
        var k = await CycleAsync("a", "b");

        Assert.Equal(1, await ScanUntilGarbageAsync(k[0], k));

        await ReclaimAsync(k);
        await AssertReclaimedAsync(k);
    }

    [Fact]
    public async Task A_cycle_of_three_kernels_is_reclaimed_and_nothing_is_left()
    {
        var k = await CycleAsync("a", "b", "c");

        Assert.Equal(1, await ScanUntilGarbageAsync(k[1], k));

        await ReclaimAsync(k);
        await AssertReclaimedAsync(k);
    }

    [Fact]
    public async Task One_rooted_member_keeps_the_cycle_until_its_root_goes()
    {
        var (k, objects) = await BuildCycleAsync("a", "b", "c");
        await k[0].Grain.ReleaseLocalAsync([objects[0]]);
        await k[1].Grain.ReleaseLocalAsync([objects[1]]); // c keeps its object rooted

        foreach (var kernel in k)
        {
            fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
            await kernel.Collector.ScanAsync();
            await SettleTracesAsync(k);
        }

        foreach (var kernel in k)
        {
            var figures = await kernel.Collector.GetFiguresAsync();
            Assert.Equal(0, figures.Garbage);
            Assert.Equal(0, (await kernel.LedgerAsync()).CycleVerdicts);
        }

        // a's and b's traces found the root (c's answer "rooted" arrives over the pairs); c's own import is rooted, so c never traces.
        Assert.True((await k[0].Collector.GetFiguresAsync()).Live >= 1);
        Assert.Equal(0, (await k[2].Collector.GetFiguresAsync()).Started);
        await AssertAllHeldAsync(k);

        await k[2].Grain.ReleaseLocalAsync([objects[2]]);
        Assert.Equal(1, await ScanUntilGarbageAsync(k[0], k));
        await ReclaimAsync(k);
        await AssertReclaimedAsync(k);
    }

    [Fact]
    public async Task A_partition_during_a_trace_releases_nothing_and_the_cycle_goes_after_the_heal()
    {
        var k = await CycleAsync("a", "b");
        fx.Faults.Partition(k[0].Id, k[1].Id);
        try
        {
            fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
            Assert.Equal(1, await k[0].Collector.ScanAsync()); // the ask is lost in the partition
            await fx.IdleAsync();
            fx.Clock.Advance(DgcClusterFixture.TraceTimeout * 3);
            await k[0].Collector.ScanAsync(); // the round is overdue: it gives up
            var figures = await k[0].Collector.GetFiguresAsync();
            Assert.Equal(1, figures.GaveUp);
            Assert.Equal(0, figures.Garbage);
            await AssertAllHeldAsync(k);
        }
        finally
        {
            fx.Faults.Heal(k[0].Id, k[1].Id);
        }

        await fx.SettleAsync(k);
        await AssertAllHeldAsync(k);
        Assert.Equal(1, await ScanUntilGarbageAsync(k[0], k));
        await ReclaimAsync(k);
        await AssertReclaimedAsync(k);
    }

    [Fact]
    public async Task A_send_in_flight_that_re_roots_a_member_keeps_the_cycle()
    {
        var (k, objects) = await BuildCycleAsync("a", "b");
        var (a, b) = (k[0], k[1]);
        await a.Grain.ReleaseLocalAsync([objects[0]]);
        await b.Grain.ReleaseLocalAsync([objects[1]]);

        // b sends its object to a once more; the message is held in flight. On arrival a holds its import as a root again.
        fx.Faults.HoldNext(b.Id, a.Id, match: j => j.Contains("\"method\":\"deliver\"", StringComparison.Ordinal));
        await b.Grain.SendAsync(a.Id, [objects[1]]);
        Assert.Equal(1, fx.Faults.HeldCount(b.Id, a.Id));
        foreach (var kernel in k)
        {
            fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
            Assert.Equal(1, await kernel.Collector.ScanAsync());
            await SettleTracesAsync(k);
        }

        await AssertNoVerdictAsync(k);
        await AssertAllHeldAsync(k);

        Assert.Equal(1, await fx.Faults.ReleaseHeldAsync(b.Id, a.Id));
        await fx.SettleAsync(k);
        foreach (var kernel in k)
        {
            fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
            await kernel.Collector.ScanAsync();
            await SettleTracesAsync(k);
        }

        await AssertNoVerdictAsync(k);
        await AssertAllHeldAsync(k);

        // a lets go of it again: now the cycle is garbage.
        await a.Grain.DetachAsync([Assert.Single(await a.Grain.GetHeldImportsAsync(b.Id))]);
        Assert.Equal(1, await ScanUntilGarbageAsync(a, k));
        await ReclaimAsync(k);
        await AssertReclaimedAsync(k);
    }

    [Fact]
    public async Task A_kernel_that_did_not_turn_cycles_on_keeps_cycles_through_it()
    {
        var (k, objects) = await BuildCycleAsync(enable: false, "a", "b");
        await k[0].Grain.EnableCyclesAsync(); // b never does: it answers every ask "live"
        for (var i = 0; i < k.Length; i++)
        {
            await k[i].Grain.ReleaseLocalAsync([objects[i]]);
        }

        fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
        Assert.Equal(1, await k[0].Collector.ScanAsync());
        await SettleTracesAsync(k);
        var figures = await k[0].Collector.GetFiguresAsync();
        Assert.Equal(1, figures.Live);
        Assert.Equal(0, figures.Garbage);
        await AssertAllHeldAsync(k);
    }

    [Fact]
    public async Task Bad_graph_input_is_refused_and_changes_nothing()
    {
        var (a, b) = await fx.NewPairAsync();
        var o = await a.CreateAsync();
        var before = await a.Grain.AnswerReachabilityAsync([]);

        await Assert.ThrowsAsync<ArgumentException>(() => a.Grain.LinkAsync("ko999999", [o]));
        await Assert.ThrowsAsync<ArgumentException>(() => a.Grain.LinkAsync(o, ["ko999999"]));
        await Assert.ThrowsAsync<ArgumentException>(() => a.Grain.DetachAsync([o]));

        Assert.Equal(before.Version, (await a.Grain.AnswerReachabilityAsync([])).Version);
        Assert.Equal(Reach.Unknown, (await a.Grain.AnswerReachabilityAsync(["ko999999"])).Imports[0].Reach);
        Assert.NotNull(b);
    }

    [Fact]
    public void Out_of_range_cycle_options_are_named_by_key_and_the_defaults_pass()
    {
        var validator = new Hosting.CycleOptionsValidator();
        var problems = (validator.Validate(null, new Hosting.CycleOptions
        {
            ScanInterval = TimeSpan.Zero,
            SuspectAfter = TimeSpan.FromSeconds(-1),
            TraceTimeout = TimeSpan.FromSeconds(-5),
            MaxConcurrentTraces = 0,
            MaxNodesPerTrace = 2048,
            MaxActiveNodes = 1024,
        }).Failures ?? []).ToList();

        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("Dgc:Cycles:ScanInterval must be positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Dgc:Cycles:TraceTimeout must be positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Dgc:Cycles:SuspectAfter must not be negative", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Dgc:Cycles:MaxConcurrentTraces must be 1-1024", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Dgc:Cycles:MaxActiveNodes (1024) must be at least Dgc:Cycles:MaxNodesPerTrace (2048)", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, new Hosting.CycleOptions()).Succeeded);
    }

    /// <summary>A cycle through fresh kernels, every member's local root released: garbage only a trace can find.</summary>
    private async Task<Kernel[]> CycleAsync(params string[] names)
    {
        var (k, objects) = await BuildCycleAsync(enable: true, names);
        for (var i = 0; i < k.Length; i++)
        {
            await k[i].Grain.ReleaseLocalAsync([objects[i]]);
        }

        return k;
    }

    private Task<(Kernel[] Kernels, string[] Objects)> BuildCycleAsync(params string[] names) => BuildCycleAsync(enable: true, names);

    /// <summary>Each kernel makes an object and sends it to the next; the next one's object references the import, which the kernel then holds only through it.</summary>
    private async Task<(Kernel[] Kernels, string[] Objects)> BuildCycleAsync(bool enable, params string[] names)
    {
        var k = await fx.NewKernelsAsync(names);
        if (enable)
        {
            foreach (var kernel in k)
            {
                await kernel.Grain.EnableCyclesAsync();
            }
        }

        var objects = new string[k.Length];
        for (var i = 0; i < k.Length; i++)
        {
            objects[i] = await k[i].CreateAsync();
        }

        for (var i = 0; i < k.Length; i++)
        {
            await k[i].Grain.SendAsync(k[(i + 1) % k.Length].Id, [objects[i]]);
        }

        await fx.SettleAsync(k);
        for (var i = 0; i < k.Length; i++)
        {
            var previous = k[(i + k.Length - 1) % k.Length];
            var import = Assert.Single(await k[i].Grain.GetHeldImportsAsync(previous.Id));
            await k[i].Grain.LinkAsync(objects[i], [import]);
            await k[i].Grain.DetachAsync([import]);
        }

        return (k, objects);
    }

    /// <summary>Scans at <paramref name="initiator"/> (after the suspects' quiet time) and lets the traces run until one ends in garbage; returns the verdicts.</summary>
    private async Task<long> ScanUntilGarbageAsync(Kernel initiator, Kernel[] k)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            fx.Clock.Advance(DgcClusterFixture.SuspectAfter);
            await initiator.Collector.ScanAsync();
            await SettleTracesAsync(k);
            var garbage = (await initiator.Collector.GetFiguresAsync()).Garbage;
            if (garbage > 0)
            {
                return garbage;
            }
        }

        return 0;
    }

    /// <summary>Deliveries and the collectors' one-way inputs until every trace ended (bounded: a trace takes two rounds of frames).</summary>
    private async Task SettleTracesAsync(Kernel[] k)
    {
        for (var i = 0; i < 50; i++)
        {
            await fx.IdleAsync();
            var active = 0;
            foreach (var kernel in k)
            {
                active += (await kernel.Collector.GetFiguresAsync()).ActiveTraces;
            }

            if (active == 0)
            {
                await fx.IdleAsync();
                return;
            }
        }

        Assert.Fail("cycle traces did not end");
    }

    /// <summary>After a verdict: the kernels' local GCs and the protocol take the rest of the cycle apart.</summary>
    private async Task ReclaimAsync(Kernel[] k)
    {
        for (var round = 0; round < k.Length + 2; round++)
        {
            await fx.SettleAsync(k);
            foreach (var kernel in k)
            {
                await kernel.Grain.CollectGarbageAsync();
            }
        }

        await fx.SettleAsync(k);
    }

    private async Task AssertReclaimedAsync(Kernel[] k)
    {
        foreach (var kernel in k)
        {
            var ledger = await kernel.LedgerAsync();
            Assert.Equal(0, ledger.CycleMistakes);
            Assert.Equal(0, ledger.Premature);
        }

        Assert.Equal(1, (await Task.WhenAll(k.Select(x => x.LedgerAsync()))).Sum(l => l.CycleVerdicts));
        await fx.AssertNothingLeftAsync(k);
    }

    private static async Task AssertNoVerdictAsync(Kernel[] k)
    {
        foreach (var kernel in k)
        {
            Assert.Equal(0, (await kernel.Collector.GetFiguresAsync()).Garbage);
            Assert.Equal(0, (await kernel.LedgerAsync()).CycleVerdicts);
        }
    }

    /// <summary>Every member still holds its import of the previous one's object, and nothing was released early.</summary>
    private static async Task AssertAllHeldAsync(Kernel[] k)
    {
        for (var i = 0; i < k.Length; i++)
        {
            var previous = k[(i + k.Length - 1) % k.Length];
            Assert.Single(await k[i].Grain.GetHeldImportsAsync(previous.Id));
            var ledger = await k[i].LedgerAsync();
            Assert.Equal(0, ledger.Premature);
            Assert.Equal(0, ledger.CycleVerdicts);
            Assert.Equal(0, ledger.ExportsDroppedEvents);
        }
    }
}
