using OcapDgc.Hosting;

namespace OcapDgc.Benchmarks;

/// <summary>Item 8: the export and bulk-drop figures again, with the DGC's storage on PostgreSQL (Orleans' ADO.NET grain storage).</summary>
internal static class PostgresBenchmark
{
    public static async Task RunAsync(BenchOptions options, string repositoryRoot, BenchReport report)
    {
        string? skipped = null;
        var bin = PostgresInstance.FindBinaries();
        if (!options.Runs("postgres"))
        {
            skipped = options.NotRunReason;
        }
        else if (options.SkipPostgres)
        {
            skipped = "n/a (skipped): --skip-postgres";
        }
        else if (bin is null)
        {
            skipped = "n/a (no PostgreSQL): initdb/pg_ctl not found in /usr/lib/postgresql/*/bin (install with `apt-get install -y postgresql`, or set OCAPDGC_PG_BIN)";
        }

        if (skipped is null)
        {
            Console.WriteLine($"[8] starting a throwaway PostgreSQL from {bin}");
            await using var pg = await PostgresInstance.StartAsync(bin!, Path.Combine(repositoryRoot, "silo-config", "postgresql"));
            // The cluster profile's registration: ADO.NET grain storage as dgc-store-backend, DeleteStateOnClear.
            await using var silo = await BenchSilo.StartAsync(backend: s => s.UseDgcPostgresStorage(pg.ConnectionString));
            (long Rows, long Bytes) stored = default;
            var t = await ThroughputBenchmark.RunAsync(new Workload(silo, options.MessageSize), options.PostgresRefs, "8", async () => stored = await pg.StorageTotalsAsync());
            var n = (double)t.Refs;
            report.Add(new Figure("8", "pg_rows_per_live_ref", "  PostgreSQL: storage rows per live ref (after the exchange)", stored.Rows / n, "rows/ref"));
            report.Add(new Figure("8", "pg_stored_bytes_per_live_ref", "  PostgreSQL: stored payload bytes per live ref (after the exchange)", stored.Bytes / n, "bytes/ref"));
            report.Add(new Figure("8", "pg_reclaim_refs_per_s", $"PostgreSQL: bulk drop of {t.Refs:N0} refs -> export dropped", n / t.ReclaimSeconds, "refs/s", ">= 10,000", n / t.ReclaimSeconds >= 10_000));
            report.Add(new Figure("8", "pg_reclaim_seconds", $"  PostgreSQL: time to reclaim all {t.Refs:N0}", t.ReclaimSeconds, "s"));
            report.Add(new Figure("8", "pg_retire_refs_per_s", "  PostgreSQL: retire -> export retired (rows deleted)", n / t.RetireSeconds, "refs/s"));
            report.Add(new Figure("8", "pg_export_import_refs_per_s", "  PostgreSQL: export+import", n / t.ExchangeSeconds, "refs/s", ">= 10,000", n / t.ExchangeSeconds >= 10_000));
            report.Add(new Figure("8", "pg_wire_messages_per_dropped_ref", "  PostgreSQL: wire frames per dropped ref", t.Drop.Frames / n, "frames/ref"));
            report.Add(new Figure("8", "pg_storage_writes_per_dropped_ref", "  PostgreSQL: storage writes per dropped ref", t.Drop.StorageChanges / n, "writes/ref"));
            report.Add(new Figure("8", "pg_export_entries_left", "  PostgreSQL: export storage entries left after retire", t.ExportEntriesLeft, "entries", "0", t.ExportEntriesLeft == 0));
        }
        else
        {
            Console.WriteLine($"[8] {skipped}");
            report.FillMissing("8", "pg_reclaim_refs_per_s", "PostgreSQL: bulk drop -> export dropped", "refs/s", skipped);
        }
    }
}
