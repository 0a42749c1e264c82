using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace OcapDgc.Host.Network;

/// <summary>
/// The demo's and the tests' control of a host's reference kernels, over the peer endpoint (so over mutual
/// TLS, for the peers named in <see cref="NetworkOptions.DemoControl"/> only): start a kernel, have it create
/// and send objects, send imports back, drop everything, read its ground truth (<see cref="KernelLedger"/>),
/// answer another host's premature-release check, run one round of settling, and report counts. Only kernels
/// this host serves can be named. A production host leaves <c>DemoControl</c> empty, which turns all of it off.
/// </summary>
public sealed class DemoControl(IGrainFactory grains, PeerDirectory directory, NetworkCounters counters, RemoteGroundTruth groundTruth, IServiceProvider services)
{
    /// <summary>Where the control endpoints live on the peer endpoint.</summary>
    public const string PathPrefix = "/dgc/demo/";

    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Serves one control request; <paramref name="action"/> is the path after <see cref="PathPrefix"/>.</summary>
    public async Task HandleAsync(HttpContext context, string action)
    {
        ArgumentNullException.ThrowIfNull(context);
        var q = context.Request.Query;
        try
        {
            object? result = (action, context.Request.Method) switch
            {
                ("stats", "GET") => await StatsAsync(),
                ("settle-step", "POST") => await SettleStepAsync(),
                ("start", "POST") => await StartAsync(Kernel(q["kernel"])),
                ("send-new", "POST") => await SendNewAsync(Kernel(q["kernel"]), Id(q["to"]), Count(q["count"])),
                ("send-back", "POST") => await SendBackAsync(Kernel(q["kernel"]), Id(q["to"]), Count(q["count"])),
                ("drop-all", "POST") => await Ref(Kernel(q["kernel"])).DropAllAsync(Id(q["from"]), retire: true),
                ("ledger", "GET") => await Ref(Kernel(q["kernel"])).GetLedgerAsync(),
                ("figures", "GET") => await grains.GetGrain<IRemoteHandleGrain>(DgcIds.HandleKey(Kernel(q["kernel"]), Id(q["remote"]))).GetFiguresAsync(),
                ("which-held", "POST") => await Ref(Kernel(q["kernel"])).WhichHeldAsync(
                    await context.Request.ReadFromJsonAsync<string[]>(context.RequestAborted) ?? [], Id(q["exporter"]), Long(q["epoch"])),
                _ => NotFound.Instance,
            };
            if (result is NotFound)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await context.Response.WriteAsJsonAsync(result, result?.GetType() ?? typeof(object), context.RequestAborted);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or JsonException or DgcException)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync(e.Message, context.RequestAborted);
        }
    }

    private string Kernel(string? kernel) =>
        kernel is not null && directory.LocalKernels.Contains(kernel)
            ? kernel
            : throw new ArgumentException($"This host serves {string.Join(", ", directory.LocalKernels)}, not '{kernel}'.");

    private static string Id(string? kernel) => DgcIds.ValidateKernelId(kernel);

    private static int Count(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= RemoteManagerGrain.MaxAllocation
            ? n
            : throw new ArgumentException($"count must be 1-{RemoteManagerGrain.MaxAllocation} (got '{value}').");

    private static long Long(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"'{value}' is not a number.");

    private IReferenceKernelGrain Ref(string kernel) => grains.GetGrain<IReferenceKernelGrain>(kernel);

    private async Task<object> StartAsync(string kernel)
    {
        await Ref(kernel).StartAsync();
        return new { kernel };
    }

    private async Task<int> SendNewAsync(string kernel, string to, int count)
    {
        var k = Ref(kernel);
        var objects = await k.CreateObjectsAsync(count);
        await k.SendAsync(to, objects);
        return objects.Length;
    }

    private async Task<int> SendBackAsync(string kernel, string to, int count)
    {
        var k = Ref(kernel);
        var held = await k.GetHeldImportsAsync(to);
        var back = held.Take(count).ToArray();
        if (back.Length > 0)
        {
            await k.SendAsync(to, back);
        }

        return back.Length;
    }

    /// <summary>One round of settling this host's side: bring out your dead, wait until every frame sent was processed, and say whether work is left.</summary>
    private async Task<SettleStep> SettleStepAsync()
    {
        foreach (var kernel in directory.LocalKernels)
        {
            await grains.GetGrain<IRemoteManagerGrain>(kernel).BringOutYourDeadAsync();
        }

        await services.GetRequiredService<NetworkTransport>().WhenIdleAsync(IdleTimeout);
        var busy = false;
        foreach (var kernel in directory.LocalKernels)
        {
            busy |= (await grains.GetGrain<IRemoteManagerGrain>(kernel).GetRemoteFiguresAsync()).Any(f => f.QueuedOps > 0 || f.UnackedBatches > 0);
        }

        return new SettleStep(busy);
    }

    private async Task<HostStats> StatsAsync()
    {
        var stats = await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        var activations = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var type in new[] { nameof(RemoteHandleGrain), nameof(ExportGrain), nameof(RemoteManagerGrain), "ReferenceKernelGrain" })
        {
            activations[type] = stats.Where(s => s.GrainType.Contains(type, StringComparison.Ordinal)).Sum(s => s.ActivationCount);
        }

        return new HostStats(activations, counters.Snapshot(), groundTruth.Snapshot());
    }

    private sealed class NotFound
    {
        public static readonly NotFound Instance = new();
    }
}

/// <summary>The answer of <c>settle-step</c>.</summary>
/// <param name="Busy">Some handle of this host still had queued operations or unacknowledged batches.</param>
public sealed record SettleStep(bool Busy);

/// <summary>The answer of <c>stats</c>: activations of the DGC's grains and the reference kernels, network counts, and remote ground-truth checks.</summary>
public sealed record HostStats(Dictionary<string, int> Activations, Dictionary<string, long> Network, GroundTruthFigures GroundTruth);

/// <summary>A client of another host's <see cref="DemoControl"/>, over that peer's mutual-TLS client.</summary>
public sealed class DemoControlClient(HttpClient http)
{
    private const string Prefix = "dgc/demo/";

    /// <summary>A control request that takes longer fails (settling waits up to a minute on the other side).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Registers the kernel with its DGC.</summary>
    public Task StartAsync(string kernel) => PostAsync<JsonElement>($"start?kernel={kernel}");

    /// <summary>The kernel creates <paramref name="count"/> objects and sends them to <paramref name="to"/> in one message.</summary>
    public Task<int> SendNewAsync(string kernel, string to, int count) => PostAsync<int>($"send-new?kernel={kernel}&to={to}&count={count}");

    /// <summary>The kernel sends up to <paramref name="count"/> of its imports from <paramref name="to"/> back to it.</summary>
    public Task<int> SendBackAsync(string kernel, string to, int count) => PostAsync<int>($"send-back?kernel={kernel}&to={to}&count={count}");

    /// <summary>The kernel drops and retires everything it holds from <paramref name="from"/>.</summary>
    public Task<int> DropAllAsync(string kernel, string from) => PostAsync<int>($"drop-all?kernel={kernel}&from={from}");

    /// <summary>The kernel's ground truth.</summary>
    public Task<KernelLedger> LedgerAsync(string kernel) => GetAsync<KernelLedger>($"ledger?kernel={kernel}");

    /// <summary>The figures of the kernel's handle towards <paramref name="remote"/> (read from the handle itself, so also once it cleared).</summary>
    public Task<RemoteFigures> FiguresAsync(string kernel, string remote) => GetAsync<RemoteFigures>($"figures?kernel={kernel}&remote={remote}");

    /// <summary>Which of <paramref name="labels"/> the kernel holds as live imports from <paramref name="exporter"/> (see <see cref="IReferenceKernelGrain.WhichHeldAsync"/>).</summary>
    public Task<string[]> WhichHeldAsync(string kernel, string[] labels, string exporter, long epoch, CancellationToken cancellationToken = default) =>
        PostAsync<string[]>($"which-held?kernel={kernel}&exporter={exporter}&epoch={epoch.ToString(CultureInfo.InvariantCulture)}", labels, cancellationToken);

    /// <summary>One round of settling on that host; true when it had work left.</summary>
    public async Task<bool> SettleStepAsync() => (await PostAsync<SettleStep>("settle-step")).Busy;

    /// <summary>That host's activations and counts.</summary>
    public Task<HostStats> StatsAsync() => GetAsync<HostStats>("stats");

    private async Task<T> GetAsync<T>(string path)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var response = await http.GetAsync(new Uri(Prefix + path, UriKind.Relative), timeout.Token);
        return await ReadAsync<T>(response, path, timeout.Token);
    }

    private async Task<T> PostAsync<T>(string path, object? body = null, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var content = body is null ? null : JsonContent.Create(body);
        using var response = await http.PostAsync(new Uri(Prefix + path, UriKind.Relative), content, timeout.Token);
        return await ReadAsync<T>(response, path, timeout.Token);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, string path, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{path}: {(int)response.StatusCode} {response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}", null, response.StatusCode);
        }

        return await response.Content.ReadFromJsonAsync<T>(cancellationToken) ?? throw new InvalidOperationException($"{path}: empty answer");
    }
}
