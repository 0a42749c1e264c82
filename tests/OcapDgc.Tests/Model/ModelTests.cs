using CsCheck;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc.Tests.Model;

/// <summary>
/// Randomized model-based test: random interleavings of export, import, send-back, drop, retire, BOYD,
/// clock advances and lease checks, under random faults (lost, duplicated and held-then-reordered frames,
/// partitions, kernel restarts, forged frames), across three kernels. After every step the system is
/// compared with a small model of what each kernel may hold:
/// S1 every live import (in the exporter's current session) is backed by a count at the exporter, and
/// no kernel saw an export released while a live holder remained; S2 no delivery named a different
/// object than the one sent; S3 forged frames from one kernel never disturb another's holds (S1 again).
/// After quiescence, L3: nothing held, nothing left in storage. CsCheck shrinks a failure to a minimal
/// list of steps and prints it.
/// </summary>
[Collection(DgcCluster.Name)]
public sealed class ModelTests(DgcClusterFixture fx)
{
    private const int Kernels = 3;

    private Kernel _mallory = null!;
    private long _forged;

    private static readonly Gen<int> K = Gen.Int[0, Kernels - 1];

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (6, Gen.Select(K, K, Gen.Int[1, 3], Gen.Int[0, 2], (f, t, n, back) => (Step)new Send(f, t, n, back))),
        (4, Gen.Select(K, K, Gen.Int[1, 3], Gen.Bool, (i, e, part, retire) => (Step)new Drop(i, e, part, retire))),
        (2, K.Select(k => (Step)new Boyd(k))),
        (2, Gen.Select(K, K, (f, t) => (Step)new Flush(f, t))),
        (3, Gen.Int[0, 150].Select(m => (Step)new Advance(m))),
        (3, Gen.Select(K, K, Gen.Int[0, 2], Gen.Bool, (f, t, kind, gcOnly) => (Step)new Fault(f, t, (Transport.Fault)(kind + 1), gcOnly))),
        (1, Gen.Select(K, K, (a, b) => (Step)new Cut(a, b))),
        (1, Gen.Select(K, K, (a, b) => (Step)new Heal(a, b))),
        (2, Gen.Select(K, K, Gen.Bool, (f, t, rev) => (Step)new Release(f, t, rev))),
        (1, K.Select(k => (Step)new Restart(k))),
        (1, Gen.Select(K, Gen.Int[1, 6], (t, id) => (Step)new Forge(t, id))));

    [Fact]
    public async Task Random_interleavings_under_faults_keep_S1_to_S3_after_every_step_and_L3_after_quiescence()
    {
        var steps = 0;
        await StepGen.Array[8, 40].SampleAsync(
            async plan =>
            {
                await RunAsync(plan);
                steps += plan.Length;
            },
            iter: 300,
            threads: 1,
            print: plan => string.Join(Environment.NewLine, plan.Select((s, i) => $"{i}: {s}")));

        // The suite relies on this test covering thousands of steps; make that visible if it ever shrinks.
        Assert.True(steps >= 5000, $"only {steps} steps were run");
    }

    private async Task RunAsync(Step[] plan)
    {
        var all = await fx.NewKernelsAsync("m0", "m1", "m2", "mallory");
        var k = all[..Kernels];
        _mallory = all[Kernels];
        _forged = 0;
        fx.Faults.Reset();
        try
        {
            for (var i = 0; i < plan.Length; i++)
            {
                fx.Faults.Capture = Trace;
                await ApplyAsync(k, plan[i]);
                await fx.IdleAsync();
                await CheckSafetyAsync(k, $"after step {i} ({plan[i]})");
            }

            await QuiesceAsync(k);
            await fx.AssertNothingLeftAsync(k);
            foreach (var kernel in k)
            {
                Assert.Equal(0, (await kernel.LedgerAsync()).Confused);
            }
        }
        catch (Exception e) when (Trace)
        {
            var frames = fx.Faults.Captured.Where(c => k.Any(x => x.Id == c.From)).TakeLast(150).Select(c => $"{c.From[..2]}->{c.To[..2]} {c.Json}");
            throw new InvalidOperationException(e.Message + Environment.NewLine + string.Join(Environment.NewLine, frames), e);
        }
        finally
        {
            fx.Faults.Reset();
        }
    }

    private static bool Trace => Environment.GetEnvironmentVariable("DGC_MODEL_TRACE") == "1";

    private async Task ApplyAsync(Kernel[] k, Step step)
    {
        switch (step)
        {
            case Send s when s.From != s.To:
                var from = k[s.From];
                var to = k[s.To];
                var krefs = new List<string>(await from.Grain.CreateObjectsAsync(s.New));
                var held = await from.Grain.GetHeldImportsAsync(to.Id);
                krefs.AddRange(held.Take(s.Back));
                await IgnoreRefusalAsync(() => from.Grain.SendAsync(to.Id, [.. krefs]));
                await from.Grain.ReleaseLocalAsync([.. krefs]);
                break;
            case Drop d when d.Importer != d.Exporter:
                var imports = await k[d.Importer].Grain.GetHeldImportsAsync(k[d.Exporter].Id);
                var some = imports.Where((_, i) => i % d.Part == 0).ToArray();
                if (some.Length > 0)
                {
                    await IgnoreRefusalAsync(() => k[d.Importer].Grain.DropAsync(k[d.Exporter].Id, some, d.Retire));
                }

                break;
            case Boyd b:
                await k[b.Kernel].Manager.BringOutYourDeadAsync();
                break;
            case Flush f when f.From != f.To:
                await k[f.From].HandleTo(k[f.To]).FlushAsync();
                break;
            case Advance a:
                fx.Clock.Advance(TimeSpan.FromMinutes(a.Minutes));
                foreach (var x in k)
                {
                    foreach (var y in k.Where(y => y != x))
                    {
                        await x.InternalHandleTo(y).CheckLeaseAsync();
                    }
                }

                break;
            case Fault f when f.From != f.To:
                Func<string, bool>? match = f.GcOnly ? json => json.Contains("\"dgc:", StringComparison.Ordinal) : null;
                switch (f.Kind)
                {
                    case Transport.Fault.Drop:
                        fx.Faults.DropNext(k[f.From].Id, k[f.To].Id, match: match);
                        break;
                    case Transport.Fault.Duplicate:
                        fx.Faults.DuplicateNext(k[f.From].Id, k[f.To].Id, match: match);
                        break;
                    default:
                        fx.Faults.HoldNext(k[f.From].Id, k[f.To].Id, match: match);
                        break;
                }

                break;
            case Cut c when c.A != c.B:
                fx.Faults.Partition(k[c.A].Id, k[c.B].Id);
                break;
            case Heal h when h.A != h.B:
                fx.Faults.Heal(k[h.A].Id, k[h.B].Id);
                break;
            case Release r when r.From != r.To:
                await fx.Faults.ReleaseHeldAsync(k[r.From].Id, k[r.To].Id, r.Reverse);
                break;
            case Restart r:
                await k[r.Kernel].Grain.RestartAsync();
                break;
            case Forge g:
                // Mallory, who was never sent anything, drops and retires guessed wire ids of the target's
                // exports and names them in a message: only its own (empty) holds could change.
                var target = k[g.To];
                var session = new SessionHeader(1, 1, (await target.HandleTo(_mallory).GetFiguresAsync()).Epoch);
                _forged++;
                var ops = new[] { new DgcOp(DgcOpKind.DropRef, WireRef.ToReceiverExport(g.Id), 1), new DgcOp(DgcOpKind.Retire, WireRef.ToReceiverExport(g.Id)) };
                await target.InternalHandleTo(_mallory).ReceiveFrameAsync(WireCodec.Encode(new BatchFrame(1, _forged, _forged - 1, ops) { Session = session }));
                await target.InternalHandleTo(_mallory).ReceiveFrameAsync(WireCodec.Encode(
                    new AppFrame(1, _forged, "deliver", "[\"forged\"]", [WireRef.ToReceiverExport(g.Id)]) { Session = session }));
                break;
        }
    }

    /// <summary>S1 and S2 (S3 shows as S1: a forged frame that touched another kernel's hold would leave a live import unbacked).</summary>
    private static async Task CheckSafetyAsync(Kernel[] k, string when)
    {
        foreach (var importer in k)
        {
            var ledger = await importer.LedgerAsync();
            Assert.True(ledger.Premature == 0, $"S1: {importer} saw an export released while held, {when}");
            Assert.True(ledger.Confused == 0, $"S2: {importer} got a ref naming another object, {when}");
            foreach (var exporter in k.Where(e => e != importer))
            {
                var labels = (await importer.Grain.GetImportLabelsAsync(exporter.Id)).Values;
                if (labels.Count == 0)
                {
                    continue;
                }

                var mine = await importer.HandleTo(exporter).GetFiguresAsync();
                var theirs = await exporter.HandleTo(importer).GetFiguresAsync();
                if (mine.PeerEpoch != theirs.Epoch)
                {
                    // The exporter ended that session; these imports are revoked at the next contact.
                    continue;
                }

                foreach (var label in labels)
                {
                    var kref = label[(label.IndexOf('/', StringComparison.Ordinal) + 1)..];
                    var snapshot = await exporter.Export(kref).GetSnapshotAsync();
                    Assert.True(
                        snapshot.CountsByRemote.GetValueOrDefault(importer.Id) > 0,
                        $"S1: {importer} holds {label} in {exporter}'s current session but {exporter} counts no hold for it, {when}");
                }
            }
        }
    }

    /// <summary>Faults off, everything let go, leases run out where a peer stays silent, until nothing moves.</summary>
    private async Task QuiesceAsync(Kernel[] k)
    {
        fx.Faults.Reset();
        for (var round = 0; round < 3; round++)
        {
            foreach (var x in k)
            {
                foreach (var y in k.Where(y => y != x))
                {
                    await x.Grain.DropAllAsync(y.Id, retire: true);
                }
            }

            await SettleOrExplainAsync(k);
            fx.Clock.Advance(DgcClusterFixture.Lease + DgcClusterFixture.CheckPeriod);
            foreach (var x in k)
            {
                foreach (var y in k.Where(y => y != x))
                {
                    await x.InternalHandleTo(y).CheckLeaseAsync();
                }
            }

            await fx.IdleAsync();
        }

        await SettleOrExplainAsync(k);
    }

    private async Task SettleOrExplainAsync(Kernel[] k)
    {
        try
        {
            await fx.SettleAsync(k);
        }
        catch (TimeoutException e)
        {
            var lines = new List<string>();
            foreach (var x in k)
            {
                foreach (var y in k.Where(y => y != x))
                {
                    lines.Add($"{x}->{y}: {await x.HandleTo(y).GetFiguresAsync()}");
                }
            }

            throw new TimeoutException(e.Message + Environment.NewLine + string.Join(Environment.NewLine, lines), e);
        }
    }

    private static async Task IgnoreRefusalAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (DgcException)
        {
            // A refusal (say, of a revoked ref) is an allowed outcome; the safety checks judge the rest.
        }
    }

    private abstract record Step;

    private sealed record Send(int From, int To, int New, int Back) : Step;

    private sealed record Drop(int Importer, int Exporter, int Part, bool Retire) : Step;

    private sealed record Boyd(int Kernel) : Step;

    private sealed record Flush(int From, int To) : Step;

    private sealed record Advance(int Minutes) : Step;

    private sealed record Fault(int From, int To, Transport.Fault Kind, bool GcOnly) : Step;

    private sealed record Cut(int A, int B) : Step;

    private sealed record Heal(int A, int B) : Step;

    private sealed record Release(int From, int To, bool Reverse) : Step;

    private sealed record Restart(int Kernel) : Step;

    private sealed record Forge(int To, int Id) : Step;
}
