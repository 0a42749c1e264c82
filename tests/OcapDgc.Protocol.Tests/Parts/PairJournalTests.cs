using System.Reflection;
using CsCheck;
using OcapDgc.Protocol.Tests.Simulation;
using OcapDgc.Wire;

namespace OcapDgc.Protocol.Tests.Parts;

/// <summary>
/// The pair journal: a write stores what changed, a load reads back exactly the state written, compaction
/// keeps the rows few, and a crash at any row leaves a state a load can read (the one before or the one
/// being written) and no row behind a clear.
/// </summary>
public sealed class PairJournalTests
{
    /// <summary>One change to a pair's state, made the way the protocol makes it (through the c-list, or marked).</summary>
    private static void Mutate(PairState s, CList clist, int op, int arg)
    {
        var exports = s.Exports.Keys.ToList();
        var imports = s.Imports.Keys.ToList();
        switch (op % 16)
        {
            case 0:
            case 1:
                var id = clist.ExportIdOf(DgcIds.Kref(1000 + (arg % 400)), out _);
                s.Exports[id].Reachable = arg % 3 != 0;
                clist.RecordSend(id, DateTimeOffset.UnixEpoch.AddSeconds(arg), arg % 5, arg);
                break;
            case 2 when exports.Count > 0:
                clist.ForgetExport(exports[arg % exports.Count]);
                break;
            case 3 when arg % 7 == 0:
                clist.ClearExports();
                break;
            case 4:
            case 5:
                var importId = 1 + (arg % 300);
                var import = s.Imports.TryGetValue(importId, out var e) ? e : clist.AddImport(importId, DgcIds.Kref(5000 + importId));
                import.Receipts += 1 + (arg % 3);
                import.Reachable = arg % 4 != 0;
                clist.TouchedImport(importId);
                break;
            case 6 when imports.Count > 0:
                clist.ForgetImport(imports[arg % imports.Count]);
                break;
            case 7 when arg % 9 == 0:
                clist.ClearImports();
                break;
            case 8:
                var kref = DgcIds.Kref(9000 + (arg % 50));
                if (s.Revoked.Add(kref))
                {
                    s.Changes.Revoked(kref);
                }
                else
                {
                    s.Revoked.Remove(kref);
                    s.Changes.Unrevoked(kref);
                }

                break;
            case 9 when arg % 11 == 0:
                s.Revoked.Clear();
                s.Changes.RevokedCleared();
                break;
            case 10:
                s.Queue.Add(new DgcOp((DgcOpKind)(arg % 3), WireRef.ToReceiverExport(1 + (arg % 20)), arg % 4));
                break;
            case 11:
                // Sealing: the queue becomes an unacknowledged batch.
                s.Unacked.Add(new SentBatch(s.NextSeq++, $"batch of {s.Queue.Count}"));
                s.Queue.Clear();
                break;
            case 12 when s.Unacked.Count > 0:
                s.Unacked.RemoveAll(b => b.Seq <= s.Unacked[0].Seq + (arg % 2));
                break;
            case 13:
                s.Outbox.Add(new PendingEffect($"r/1/{s.NextEffect++}", (EffectKind)(arg % 5), [DgcIds.Kref(arg)]));
                break;
            case 14 when s.Outbox.Count > 0:
                s.Outbox.RemoveAt(arg % 3 == 0 ? s.Outbox.Count - 1 : 0);
                break;
            default:
                s.HighestApplied += arg % 3;
                s.MessagesSeen.Add(arg % 40);
                s.EndingSession = arg % 13 == 0 ? [DgcIds.Kref(arg)] : [];
                s.LeaseRenewedAt = DateTimeOffset.UnixEpoch.AddMinutes(arg);
                break;
        }
    }

    private static readonly Gen<(int Op, int Arg)[][]> Writes = Gen.Select(Gen.Int[0, 15], Gen.Int[0, 100_000]).Array[0, 12].Array[1, 40];

    [Fact]
    public void The_c_lists_running_digests_and_reachable_count_always_equal_the_sums_over_its_whole_tables()
    {
        // What a ping carries and what its exporter compares: kept up to date entry by entry, read at any point
        // (some changes between two reads, none, or many), and summed in full again over a state loaded afresh.
        Writes.Sample(plan =>
        {
            var rows = new SimRows();
            var journal = new PairJournal(rows, maxEntries: 4);
            var state = Run(journal.LoadAsync());
            var clist = new CList(state);
            foreach (var write in plan)
            {
                foreach (var (op, arg) in write)
                {
                    if (op == 15 && state.Exports.Count > 0)
                    {
                        // An export's reachability changes in place, as a batch's application or a lost-send release does it.
                        var id = state.Exports.Keys.ElementAt(arg % state.Exports.Count);
                        state.Exports[id].Reachable = !state.Exports[id].Reachable;
                        clist.Touched(id);
                    }
                    else
                    {
                        Mutate(state, clist, op, arg);
                    }

                    if (arg % 3 == 0)
                    {
                        AssertDigests(state, clist);
                    }
                }

                AssertDigests(state, clist);
                Run(journal.WriteAsync(state));
                var loaded = Run(new PairJournal(new ReadOnly(rows)).LoadAsync());
                AssertDigests(loaded, new CList(loaded));
            }
        }, iter: 300);

        static void AssertDigests(PairState state, CList clist)
        {
            Assert.Equal(ImportDigest.Compute(state.Exports.Select(e => (e.Key, e.Value.Reachable))), clist.ExportDigest());
            Assert.Equal(ImportDigest.Compute(state.Imports.Select(e => (e.Key, e.Value.Reachable))), clist.ImportsDigest());
            Assert.Equal(state.Imports.Values.Count(i => i.Reachable), clist.ReachableImports());
        }
    }

    [Fact]
    public void A_digest_read_after_more_changes_than_it_remembers_is_summed_afresh_and_still_right()
    {
        var state = new PairState();
        var clist = new CList(state);
        var ids = Enumerable.Range(0, 1_000).Select(i => clist.ExportIdOf(DgcIds.Kref(i + 1), out _)).ToList();
        _ = clist.ExportDigest();
        for (var n = 0; n < 70_000; n++)
        {
            var id = ids[n % ids.Count];
            state.Exports[id].Reachable = !state.Exports[id].Reachable;
            clist.Touched(id);
        }

        clist.ForgetExport(ids[0]);
        Assert.Equal(ImportDigest.Compute(state.Exports.Select(e => (e.Key, e.Value.Reachable))), clist.ExportDigest());
    }

    [Fact]
    public void Whatever_changed_a_load_reads_back_exactly_the_state_last_written()
    {
        Writes.Sample(plan =>
        {
            var rows = new SimRows();
            var journal = new PairJournal(rows, maxEntries: 5);
            var state = Run(journal.LoadAsync());
            var clist = new CList(state);
            foreach (var write in plan)
            {
                foreach (var (op, arg) in write)
                {
                    Mutate(state, clist, op, arg);
                }

                Run(journal.WriteAsync(state));
                var loaded = Run(new PairJournal(new ReadOnly(rows)).LoadAsync());
                Assert.Equal(SimRows.Canonical(state), SimRows.Canonical(loaded));
                Assert.True(rows.EntryCount <= 5, $"{rows.EntryCount} entries stored; at most 5 between snapshots");
            }
        }, iter: 300);
    }

    [Fact]
    public void A_crash_at_any_row_leaves_the_state_before_or_after_the_write_and_the_journal_goes_on()
    {
        Gen.Select(Writes, Gen.Int[1, 60]).Sample((plan, failAt) =>
        {
            var rows = new SimRows();
            var journal = new PairJournal(rows, maxEntries: 3);
            var state = Run(journal.LoadAsync());
            var clist = new CList(state);
            var written = SimRows.Canonical(state);
            rows.FailAt = failAt;
            foreach (var write in plan)
            {
                foreach (var (op, arg) in write)
                {
                    Mutate(state, clist, op, arg);
                }

                try
                {
                    Run(journal.WriteAsync(state));
                    written = SimRows.Canonical(state);
                }
                catch (SimCrashException)
                {
                    // The silo died at a row: a new activation loads what is stored and goes on from there.
                    var loaded = SimRows.Canonical(Run(new PairJournal(new ReadOnly(rows)).LoadAsync()));
                    Assert.True(loaded == written || loaded == SimRows.Canonical(state), "a crash left neither the state before the write nor the one written");
                    journal = new PairJournal(rows, maxEntries: 3);
                    state = Run(journal.LoadAsync());
                    clist = new CList(state);
                    written = SimRows.Canonical(state);
                }
            }

            rows.FailAt = 0;
            Run(journal.ClearAsync());
            Assert.False(rows.Any, "a clear left rows behind");
        }, iter: 300);
    }

    [Fact]
    public void A_clear_cut_short_is_finished_by_the_next_load()
    {
        for (var failAt = 1; failAt < 12; failAt++)
        {
            var rows = new SimRows();
            var journal = new PairJournal(rows, maxEntries: 100);
            var state = Run(journal.LoadAsync());
            var clist = new CList(state);
            for (var i = 0; i < 6; i++)
            {
                Mutate(state, clist, 0, i);
                Run(journal.WriteAsync(state));
            }

            rows.FailAt = failAt;
            try
            {
                Run(journal.ClearAsync());
            }
            catch (SimCrashException)
            {
                var loaded = Run(new PairJournal(rows).LoadAsync());
                Assert.True(loaded.Exports.Count is 0 or 6, $"a clear cut short at row {failAt} left {loaded.Exports.Count} exports");
                if (loaded.Exports.Count == 0)
                {
                    Assert.False(rows.Any, $"a clear cut short at row {failAt} and finished by a load left rows");
                }
            }
        }
    }

    [Fact]
    public void A_write_stores_what_changed_not_what_the_pair_holds()
    {
        var rows = new SimRows();
        var journal = new PairJournal(rows);
        var state = Run(journal.LoadAsync());
        var clist = new CList(state);
        for (var i = 0; i < 20_000; i++)
        {
            clist.ExportIdOf(DgcIds.Kref(i + 1), out _);
        }

        // Written as one entry, then (the journal now weighs as much as the state) as a snapshot.
        Run(journal.WriteAsync(state));
        var big = rows.BytesWritten;
        Run(journal.WriteAsync(state));
        Assert.Equal(1, journal.SnapshotsWritten);

        // Ten more refs a write, a hundred times: each write is small, and all of them together stay well
        // below one copy of the c-list (whose snapshot is not due yet).
        var before = rows.BytesWritten;
        for (var w = 0; w < 100; w++)
        {
            for (var i = 0; i < 10; i++)
            {
                clist.ExportIdOf(DgcIds.Kref(100_000 + (w * 10) + i), out _);
            }

            Run(journal.WriteAsync(state));
        }

        var perWrite = (rows.BytesWritten - before) / 100.0;
        Assert.True(perWrite < 3_000, $"{perWrite:F0} bytes a write for 10 changed refs");
        Assert.True(perWrite * 100 < big / 2, $"100 small writes cost {perWrite * 100:F0} bytes; the whole c-list is {big}");
        Assert.Equal(1, journal.SnapshotsWritten);
    }

    [Fact]
    public void Every_stored_field_of_the_pair_state_travels_in_a_delta_or_is_the_journals_own()
    {
        // A field added to PairState but not to the delta would be lost at the next load.
        var journalFields = new[] { nameof(PairState.JournalVersion), nameof(PairState.JournalFloor), nameof(PairState.JournalClearing) };
        var tables = new[] { nameof(PairState.Exports), nameof(PairState.Imports), nameof(PairState.Revoked), nameof(PairState.Queue), nameof(PairState.Unacked), nameof(PairState.Outbox) };
        var header = typeof(PairHeader).GetProperties().Select(p => p.Name).ToHashSet();
        var stored = typeof(PairState).GetProperties().Where(p => p.GetCustomAttribute<Orleans.IdAttribute>() is not null).Select(p => p.Name);
        var missing = stored.Where(n => !header.Contains(n) && !tables.Contains(n) && !journalFields.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"stored but in no delta: {string.Join(", ", missing)}");
        var entryFields = typeof(ExportEntry).GetProperties().Where(p => p.GetCustomAttribute<Orleans.IdAttribute>() is not null).ToList();
        Assert.Contains(entryFields, p => p.Name == nameof(ExportEntry.CarrierSeq)); // entries travel whole (copied)
    }

    private static void Run(Task t) => t.GetAwaiter().GetResult();

    private static T Run<T>(Task<T> t) => t.GetAwaiter().GetResult();

    /// <summary>Reads the rows without changing them (a load that would finish a compaction must not, while a test looks).</summary>
    private sealed class ReadOnly(SimRows rows) : IPairRows
    {
        public Task<PairState?> ReadSnapshotAsync() => rows.ReadSnapshotAsync();

        public Task<PairDelta?> ReadEntryAsync(long number) => rows.ReadEntryAsync(number);

        public Task WriteSnapshotAsync(PairState state) => Task.CompletedTask;

        public Task DeleteSnapshotAsync() => Task.CompletedTask;

        public Task WriteEntryAsync(long number, PairDelta delta) => Task.CompletedTask;

        public Task DeleteEntryAsync(long number) => Task.CompletedTask;

        public Task<bool> IsCurrentAsync() => Task.FromResult(true);
    }
}
