namespace OcapDgc.Hosting;

/// <summary>Names of the grain storage the DGC grains use.</summary>
public static class DgcStorage
{
    /// <summary>
    /// The storage every DGC grain persists to. <c>AddDistributedGc</c> makes it the <see cref="Backend"/>
    /// itself; a host may decorate it (the demo and the tests count its entries with OcapDgc.Testing's
    /// <c>UseDgcStorageTracking</c>).
    /// </summary>
    public const string Name = "dgc-store";

    /// <summary>The provider the host registers (in-memory by default, ADO.NET on PostgreSQL in the cluster profile).</summary>
    public const string Backend = "dgc-store-backend";
}
