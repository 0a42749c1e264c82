namespace OcapDgc.Hosting;

/// <summary>Names of the grain storage the DGC grains use.</summary>
public static class DgcStorage
{
    /// <summary>The storage every DGC grain persists to. It is a <see cref="Storage.TrackingGrainStorage"/> over <see cref="Backend"/>.</summary>
    public const string Name = "dgc-store";

    /// <summary>The provider the host registers (in-memory by default, ADO.NET on PostgreSQL in the cluster profile).</summary>
    public const string Backend = "dgc-store-backend";
}
