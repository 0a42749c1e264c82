using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace OcapDgc.Benchmarks;

/// <summary>
/// What one durable write of a remote handle costs when its c-list holds N refs: every kernel API
/// call on a handle writes its whole state, so this is the per-call floor at that size.
/// </summary>
internal static class HandleStateProbe
{
    public sealed record Result(int Refs, int Bytes, TimeSpan SerializeTime);

    public static Result Measure(IServiceProvider services, int refs)
    {
        var serializer = services.GetRequiredService<Serializer>();
        var state = new PairState { NextExportId = refs + 1 };
        for (var i = 1; i <= refs; i++)
        {
            // A pair that exchanged N refs each way: N exports and N imports.
            state.Exports[i] = new ExportEntry { Kref = DgcIds.Kref(i), Reachable = true };
            state.Imports[i] = new ImportEntry { Kref = DgcIds.Kref(refs + i), Receipts = 1, Reachable = true };
        }

        var bytes = serializer.SerializeToArray(state).Length;
        const int rounds = 10;
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < rounds; r++)
        {
            _ = serializer.SerializeToArray(state);
        }

        return new Result(refs, bytes, clock.Elapsed / rounds);
    }
}
