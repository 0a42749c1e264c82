using OcapDgc.Internal;
using OcapDgc.Observability;

namespace OcapDgc.Host.Observability;

/// <summary>
/// The DGC view beside the Orleans Dashboard: a page at <c>/dgc</c> and the JSON it reads under
/// <c>/dgc/api</c>. Everything comes from read-only, interleaving grain calls (<see cref="DgcInspector"/>)
/// and the silo's sampler; nothing pauses the protocol.
/// </summary>
public static class DgcView
{
    /// <summary>The page's path.</summary>
    public const string Path = "/dgc";

    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(DgcView).Assembly.GetManifestResourceStream("OcapDgc.Host.Observability.dgc.html")
            ?? throw new InvalidOperationException("The DGC view's page is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>
    /// Maps the page and its API. Returns the route group, so a host that protects its dashboard adds the same
    /// policy here (<c>.RequireAuthorization(...)</c>); by default, like the dashboard, it is served on the
    /// host's <c>Urls</c>, which bind to loopback.
    /// </summary>
    public static RouteGroupBuilder MapDgcView(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var group = endpoints.MapGroup(Path);
        group.MapGet("", () => Results.Content(Page.Value, "text/html; charset=utf-8"));
        group.MapGet("/api/overview", OverviewAsync);
        group.MapGet("/api/why", WhyAsync);
        group.MapGet("/api/samples", (DgcSampler sampler) => Results.Json(Samples(sampler)));
        return group;
    }

    /// <summary>The page's URL on <paramref name="app"/>'s first address.</summary>
    public static string Url(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return $"{(app.Urls.FirstOrDefault() ?? "http://127.0.0.1:8080").TrimEnd('/')}{Path}";
    }

    /// <summary>Says what the owning kernel holds of a kref when it is a reference kernel (the demo's); null otherwise.</summary>
    public static async Task<string?> DescribeLocalAsync(IGrainFactory grains, string kernel, string kref)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var registered = await grains.GetGrain<IRemoteManagerInternal>(kernel).GetKernelAsync();
        var reference = grains.GetGrain<IReferenceKernelGrain>(kernel);
        return registered is not null && registered.GetGrainId() == reference.GetGrainId()
            ? await reference.DescribeRefAsync(kref)
            : null;
    }

    private static async Task<IResult> OverviewAsync(IGrainFactory grains, DgcSiloStats stats, string? kernels)
    {
        var inspector = new DgcInspector(grains);
        var known = (kernels ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(IsKernelId);
        var names = await inspector.ListKernelsAsync(known);
        var reports = await Task.WhenAll(names.Select(inspector.InspectKernelAsync));
        var totals = stats.Read();
        return Results.Json(new
        {
            silo = stats.Silo,
            now = DateTimeOffset.UtcNow,
            totals,
            kernels = reports.Select(r => new
            {
                kernel = r.Kernel,
                remotes = r.Remotes.Select(Row),
            }),
        });
    }

    private static object Row(RemoteStatus r)
    {
        var f = r.Figures;
        return new
        {
            remote = f.RemoteKernel,
            exports = f.Exports,
            imports = f.Imports,
            reachableImports = f.ReachableImports,
            revokedImports = f.RevokedImports,
            queued = f.QueuedOps,
            unacked = f.UnackedBatches,
            leaseAgeSeconds = r.LeaseAge.TotalSeconds,
            leaseSeconds = r.Lease.TotalSeconds,
            lapsing = r.LeaseLapsing,
            incarnation = f.Incarnation,
            epoch = f.Epoch,
            peerIncarnation = r.PeerIncarnation,
            peerEpoch = f.PeerEpoch,
            lastContactSecondsAgo = r.LastFrameReceived is { } at ? (r.Now - at).TotalSeconds : (double?)null,
            lastPingSecondsAgo = r.LastPingSent is { } p ? (r.Now - p).TotalSeconds : (double?)null,
            batchesSent = f.BatchesSent,
            batchesApplied = f.BatchesApplied,
            rejected = f.RejectedOps,
            pingsSent = f.PingsSent,
            leaseExpiries = f.LeaseExpiries,
            reconciliations = f.Reconciliations,
        };
    }

    private static async Task<IResult> WhyAsync(IGrainFactory grains, string? kernel, string? kref)
    {
        WhyAlive why;
        try
        {
            why = await new DgcInspector(grains).WhyAliveAsync(kernel ?? "", kref ?? "", (k, r) => DescribeLocalAsync(grains, k, r));
        }
        catch (DgcException e)
        {
            return Results.BadRequest(new { error = e.Message });
        }

        return Results.Json(new
        {
            kernel = why.Kernel,
            kref = why.Kref,
            verdict = why.Verdict,
            reachable = why.Reachable,
            recognizable = why.Recognizable,
            holders = why.Holders.Select(h => new
            {
                remote = h.Remote,
                count = h.Count,
                confirmed = h.Confirmed,
                wireRef = h.Trace?.WireRef,
                epoch = h.Trace?.Epoch,
                reachable = h.Trace?.Reachable,
                lastSentSecondsAgo = h.Trace?.LastSentAt is { } at ? (h.Trace.Now - at).TotalSeconds : (double?)null,
                lastSentInMessage = h.Trace?.LastSentInMessage,
            }),
            imports = why.Imports.Select(i => new
            {
                remote = i.RemoteKernel,
                role = i.Role.ToString(),
                wireRef = i.WireRef,
                receipts = i.Receipts,
                reachable = i.Reachable,
                peerEpoch = i.PeerEpoch,
            }),
            localHold = why.LocalHold,
            text = DgcInspector.FormatWhyAlive(why),
        });
    }

    private static object Samples(DgcSampler sampler)
    {
        var samples = sampler.Snapshot();
        return new
        {
            periodSeconds = sampler.Period.TotalSeconds,
            samples = samples.Select((s, i) => new
            {
                t = s.At.ToUnixTimeMilliseconds(),
                exports = s.Exports,
                imports = s.Imports,
                queued = s.QueuedOps,
                unacked = s.UnackedBatches,
                lapsing = s.LapsingLeases,
                retired = s.Retired,
                reclaimRate = i == 0 ? 0 : Rate(samples[i - 1], s),
            }),
        };

        static double Rate(DgcSample a, DgcSample b)
        {
            var dt = (b.At - a.At).TotalSeconds;
            return dt > 0 ? (b.Retired - a.Retired) / dt : 0;
        }
    }

    private static bool IsKernelId(string id)
    {
        try
        {
            DgcIds.ValidateKernelId(id);
            return true;
        }
        catch (DgcException)
        {
            return false;
        }
    }
}
