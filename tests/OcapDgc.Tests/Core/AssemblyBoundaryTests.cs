using System.Reflection;
using OcapDgc.Hosting;
using OcapDgc.Internal;

namespace OcapDgc.Tests.Core;

/// <summary>
/// What kernels see and what ships: the kernel-facing grain interfaces carry none of the DGC's own calls,
/// and the production assemblies neither reference OcapDgc.Testing nor contain its types.
/// </summary>
public sealed class AssemblyBoundaryTests
{
    private static readonly Assembly[] Production =
        [typeof(DgcIds).Assembly, typeof(IRemoteHandleGrain).Assembly, typeof(ExportGrain).Assembly];

    [Fact]
    public void Production_assemblies_hold_no_test_only_code()
    {
        string[] testOnly =
            ["ReferenceKernelGrain", "IReferenceKernelGrain", "KernelLedger", "ReferenceKernelOptions", "FaultInjectingTransport",
             "DgcQuiescence", "TrackingGrainStorage", "TrackingJournalStorage", "DgcStorageTracker"];
        foreach (var assembly in Production)
        {
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name == "OcapDgc.Testing");
            Assert.Empty(assembly.GetTypes().Where(t => testOnly.Contains(t.Name)).Select(t => t.FullName));
        }

        Assert.Equal("OcapDgc.Testing", typeof(IReferenceKernelGrain).Assembly.GetName().Name);
        Assert.Equal("OcapDgc.Testing", typeof(DgcQuiescence).Assembly.GetName().Name);
    }

    [Theory]
    [InlineData(typeof(IRemoteHandleGrain), typeof(IRemoteHandleInternal), new[] { "ReceiveFrameAsync", "CheckLeaseAsync", "ResetAsync", "RetireExportsAsync", "GetCycleFactsAsync", "GetCycleCandidatesAsync", "SendCycleAskAsync", "SendCycleReplyAsync" })]
    [InlineData(typeof(IRemoteManagerGrain), typeof(IRemoteManagerInternal), new[] { "GetKernelAsync", "RegisterRemoteAsync", "NextEpochAsync", "ForgetRemoteAsync", "RememberRemoteAsync", "RecallRemoteAsync", "BeginIncarnationAsync", "FinishRestartAsync", "GetCycleKernelAsync", "SetCycleKernelAsync" })]
    [InlineData(typeof(ICycleCollectorGrain), typeof(ICycleCollectorInternal), new[] { "OnAskAsync", "OnReplyAsync" })]
    public void Kernel_facing_interfaces_carry_none_of_the_DGC_s_own_calls(Type kernelFacing, Type internalCalls, string[] dgcOnly)
    {
        Assert.Empty(kernelFacing.GetMethods().Select(m => m.Name).Intersect(dgcOnly));
        Assert.Equal(dgcOnly.Order(), internalCalls.GetMethods().Select(m => m.Name).Order());
        Assert.Equal("OcapDgc.Internal", internalCalls.Namespace);
        Assert.Equal("OcapDgc.Internal", typeof(IExportGrain).Namespace);
    }
}
