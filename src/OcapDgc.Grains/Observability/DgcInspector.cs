using System.Globalization;
using System.Text;
using OcapDgc.Internal;

namespace OcapDgc.Observability;

/// <summary>
/// Answers an operator's questions from grain calls only, so it works in a silo and in a client alike:
/// which kernels there are, what each holds per remote, and why a kref is still alive. Every call it makes
/// is read-only and interleaves (<see cref="IRemoteManagerGrain.GetRemoteStatusAsync"/>,
/// <see cref="IExportGrain.GetSnapshotAsync"/>, <see cref="IRemoteHandleGrain.TraceRefAsync"/>): nothing
/// waits for the protocol, and nothing pauses it.
/// </summary>
/// <remarks>
/// Reading a kernel activates its manager and its remote handles (those it lists) if they were not active.
/// </remarks>
public sealed class DgcInspector(IGrainFactory grains)
{
    /// <summary>
    /// The kernels with an active DGC manager or remote handle anywhere in the cluster, with
    /// <paramref name="known"/> added (a kernel whose grains are all deactivated is not seen otherwise).
    /// </summary>
    public async Task<string[]> ListKernelsAsync(IEnumerable<string>? known = null)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var managerType = grains.GetGrain<IRemoteManagerGrain>("x").GetGrainId().Type;
        var handleType = grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey("x", "y")).GetGrainId().Type;
        var kernels = new SortedSet<string>(known ?? [], StringComparer.Ordinal);
        foreach (var id in await management.GetActiveGrains(managerType))
        {
            kernels.Add(id.Key.ToString()!);
        }

        foreach (var id in await management.GetActiveGrains(handleType))
        {
            kernels.Add(DgcIds.SplitKey(id.Key.ToString()!).First);
        }

        return [.. kernels];
    }

    /// <summary>Every remote of <paramref name="kernel"/> with its figures, lease age and last contact.</summary>
    public async Task<KernelReport> InspectKernelAsync(string kernel)
    {
        DgcIds.ValidateKernelId(kernel, nameof(kernel));
        var remotes = await grains.GetGrain<IRemoteManagerGrain>(kernel).GetRemoteStatusAsync();
        return new KernelReport(kernel, [.. remotes.OrderBy(r => r.Figures.RemoteKernel, StringComparer.Ordinal)]);
    }

    /// <summary>
    /// Why <paramref name="kref"/> of <paramref name="kernel"/> is alive: as an export, which remotes hold it
    /// (count, whether confirmed by <c>dgc:addRef</c>) and what each pair knows of it (wire ref, session, last
    /// send); as an import, which remote it came from. <paramref name="describeLocal"/>, if given, says what the
    /// owning kernel itself holds (the host asks the reference kernel).
    /// </summary>
    public async Task<WhyAlive> WhyAliveAsync(string kernel, string kref, Func<string, string, Task<string?>>? describeLocal = null)
    {
        DgcIds.ValidateKernelId(kernel, nameof(kernel));
        DgcIds.ValidateKref(kref, nameof(kref));
        var snapshot = await grains.GetGrain<IExportGrain>(DgcIds.ExportKey(kernel, kref)).GetSnapshotAsync();
        var listed = await grains.GetGrain<IRemoteManagerGrain>(kernel).GetRemoteFiguresAsync();
        var remotes = new SortedSet<string>(snapshot.CountsByRemote.Keys, StringComparer.Ordinal);
        remotes.UnionWith(listed.Select(f => f.RemoteKernel));
        var traces = await Task.WhenAll(remotes.Select(r => grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(kernel, r)).TraceRefAsync(kref)));
        var byRemote = traces.ToDictionary(t => t.RemoteKernel, StringComparer.Ordinal);
        var holders = snapshot.CountsByRemote
            .OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => new WhyAliveHolder(h.Key, h.Value, byRemote.GetValueOrDefault(h.Key)?.Confirmed == true, byRemote.GetValueOrDefault(h.Key)))
            .ToArray();
        var imports = traces.Where(t => t.Role is RefRole.Import or RefRole.RevokedImport).ToArray();
        var local = describeLocal is null ? null : await describeLocal(kernel, kref);
        return new WhyAlive(kernel, kref, snapshot.Reachable, snapshot.Recognizable, holders, imports, local);
    }

    /// <summary>The per-remote table, as <c>inspect KERNEL</c> prints it.</summary>
    public static string FormatKernel(KernelReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"kernel {report.Kernel}: {report.Remotes.Length} remote(s)").AppendLine();
        if (report.Remotes.Length == 0)
        {
            return text.ToString();
        }

        string[] header = ["remote", "exports", "imports", "queued", "unacked", "lease age/lease", "session inc/epoch", "peer inc/epoch", "last contact"];
        var rows = report.Remotes.Select(r =>
        {
            var f = r.Figures;
            return new[]
            {
                f.RemoteKernel, N(f.Exports), N(f.Imports), N(f.QueuedOps), N(f.UnackedBatches),
                $"{Seconds(r.LeaseAge)} / {Seconds(r.Lease)}{(r.LeaseLapsing ? " LAPSING" : "")}",
                $"{f.Incarnation}/{f.Epoch}", $"{r.PeerIncarnation}/{f.PeerEpoch}",
                r.LastFrameReceived is { } at ? $"{Seconds(r.Now - at)} ago" : "none since activation",
            };
        }).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        foreach (var row in rows.Prepend(header))
        {
            text.AppendJoin("  ", row.Select((c, i) => c.PadRight(widths[i]))).Append('\n');
        }

        return text.ToString().TrimEnd() + Environment.NewLine;
    }

    /// <summary>The "why alive" answer, as <c>inspect KERNEL KREF</c> prints it.</summary>
    public static string FormatWhyAlive(WhyAlive why)
    {
        ArgumentNullException.ThrowIfNull(why);
        var text = new StringBuilder().AppendLine(why.Verdict);
        foreach (var h in why.Holders)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {h.Remote}: count {h.Count}, {(h.Confirmed ? "confirmed (addRef seen)" : "not confirmed (no addRef yet)")}");
            if (h.Trace is { Role: RefRole.Export } t)
            {
                text.Append(CultureInfo.InvariantCulture, $", wire {t.WireRef}, session epoch {t.Epoch}, {(t.Reachable ? "reachable" : "not reachable")} as the pair knows");
                text.Append(t.LastSentAt is { } at
                    ? string.Create(CultureInfo.InvariantCulture, $", last sent {Seconds(t.Now - at)} ago {(t.LastSentInMessage is > 0 ? $"in message {t.LastSentInMessage}" : "(carried by the kernel)")}")
                    : ", last send not known (before the handle's activation)");
            }

            text.Append('\n');
        }

        foreach (var i in why.Imports)
        {
            text.Append(i.Role == RefRole.RevokedImport
                ? $"  import from {i.RemoteKernel}: revoked (its session ended); the kernel has not retired it yet\n"
                : string.Create(CultureInfo.InvariantCulture, $"  import from {i.RemoteKernel}: wire {i.WireRef}, {i.Receipts} receipt(s), {(i.Reachable ? "reachable" : "dropped, still recognized")}, session epoch {i.PeerEpoch}\n"));
        }

        if (why.LocalHold is not null)
        {
            text.Append("  owner: ").Append(why.LocalHold).Append('\n');
        }

        return text.ToString();
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan t) => t.TotalSeconds < 10
        ? t.TotalSeconds.ToString("0.0 s", CultureInfo.InvariantCulture)
        : t.TotalSeconds.ToString("N0", CultureInfo.InvariantCulture) + " s";
}

/// <summary>One kernel's remotes (<see cref="DgcInspector.InspectKernelAsync"/>).</summary>
public sealed record KernelReport(string Kernel, RemoteStatus[] Remotes);

/// <summary>One remote's hold on an export: its count, whether <c>dgc:addRef</c> confirmed it, and the pair's trace.</summary>
public sealed record WhyAliveHolder(string Remote, long Count, bool Confirmed, RefTrace? Trace);

/// <summary>Why a kref is alive (<see cref="DgcInspector.WhyAliveAsync"/>).</summary>
public sealed record WhyAlive(string Kernel, string Kref, bool Reachable, bool Recognizable, WhyAliveHolder[] Holders, RefTrace[] Imports, string? LocalHold)
{
    /// <summary>One sentence: whether remotes keep it alive, and which.</summary>
    public string Verdict
    {
        get
        {
            var name = $"{Kernel}/{Kref}";
            if (Holders.Length > 0)
            {
                var list = string.Join(", ", Holders.Select(h => $"{h.Remote} (count {h.Count})"));
                return Reachable
                    ? $"{name} is alive: {Holders.Count(h => h.Count > 0)} remote(s) can reach it: {list}."
                    : $"{name} is dropped but still recognized by {list}: it is retired once they retire it.";
            }

            return Imports.Length > 0
                ? $"{name} is an import: {string.Join(", ", Imports.Select(i => i.RemoteKernel))} exported it; its own kernel decides when it dies."
                : $"{name}: no remote holds it; the DGC keeps nothing alive for it.";
        }
    }
}
