using System.Diagnostics;
using System.Runtime;

namespace OcapDgc.Benchmarks;

/// <summary>Resident and managed memory after a full, compacting, decommitting collection.</summary>
internal readonly record struct MemorySnapshot(long ResidentBytes, long ManagedBytes)
{
    public static MemorySnapshot Take()
    {
        // Aggressive mode compacts and returns free regions to the OS, so the working set shows what is
        // really still held rather than what the GC kept for later.
        for (var i = 0; i < 2; i++)
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        using var me = Process.GetCurrentProcess();
        me.Refresh();
        return new MemorySnapshot(me.WorkingSet64, GC.GetTotalMemory(forceFullCollection: false));
    }
}
