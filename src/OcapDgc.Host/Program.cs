using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Host;
using OcapDgc.Host.Observability;
using OcapDgc.Host.Network;
using OcapDgc.Host.Soak;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.Dashboard;

if (args is ["inspect", ..])
{
    return await InspectCommand.RunAsync(args[1..], Console.Out, Console.Error); // an Orleans client, no silo (docs/observability.md)
}

if (args is ["soak-driver", ..])
{
    return await SoakCommand.RunAsync(args[1..], Console.Out, Console.Error); // scripts/soak.sh's traffic driver, an Orleans client (README, "Kill soak")
}

// Flags without a value; everything else is configuration (see docs/configuration.md).
var keepRunning = args.Contains("--keep-running");
var serve = args.Contains("--serve");
var chaos = args.Contains("--chaos");
var cycles = args.Contains("--cycles");
var configArgs = args.Where(a => a is not ("--keep-running" or "--serve" or "--chaos" or "--cycles")).ToArray();
var refsGiven = configArgs.Contains("--refs");
var switches = new Dictionary<string, string>
{
    ["--refs"] = "Demo:Refs",
    ["--profile"] = HostProfiles.ProfileKey,
    ["--silo-port"] = "Orleans:SiloPort",
    ["--gateway-port"] = "Orleans:GatewayPort",
};

var builder = WebApplication.CreateBuilder(configArgs);
var configDir = Path.Combine(AppContext.BaseDirectory, "silo-config");
builder.Configuration.AddJsonFile(Path.Combine(configDir, "appsettings.json"), optional: false);

// The profile is chosen by the environment or the command line, so read it from those before the profile's file.
var chosen = new ConfigurationBuilder()
    .AddJsonFile(Path.Combine(configDir, "appsettings.json"), optional: false)
    .AddEnvironmentVariables()
    .AddCommandLine(configArgs, switches)
    .Build()[HostProfiles.ProfileKey];
if (!HostProfiles.TryParse(chosen, out var profile, out var profileError))
{
    Console.Error.WriteLine(profileError);
    return 2;
}

builder.Configuration.AddJsonFile(Path.Combine(configDir, $"appsettings.{profile}.json"), optional: profile == HostProfile.Embedded);

if (cycles)
{
    // The cycles demo traces at once (its cycles are built moments before) and gives up on a stuck round after
    // two seconds rather than thirty; environment and command line still win.
    builder.Configuration.AddInMemoryCollection([new("Dgc:Cycles:SuspectAfter", "00:00:00"), new("Dgc:Cycles:TraceTimeout", "00:00:02")]);
}

// Environment and command line win over the files.
builder.Configuration.AddEnvironmentVariables();
builder.Configuration.AddCommandLine(configArgs, switches);
builder.Services.AddOptions<DemoOptions>().BindConfiguration("Demo");
if (builder.Configuration["Dgc:Lease:Lease"] is not null)
{
    // The key was renamed; a value under the old name would be ignored without a word.
    Console.Error.WriteLine("Dgc:Lease:Lease was renamed Dgc:Lease:Duration; set that instead.");
    return 2;
}

var chaosOptions = chaos ? builder.Configuration.GetSection("Demo:Chaos").Get<ChaosOptions>() ?? new ChaosOptions() : null;

string? connectionString = null;
if (profile == HostProfile.Postgres)
{
    if (!HostProfiles.TryGetConnectionString(builder.Configuration, out var cs, out var csError))
    {
        Console.Error.WriteLine(csError);
        return 2;
    }

    // Before anything starts: a silo that cannot reach its database or lacks the schema would only retry.
    var problem = await PostgresConnection.CheckAsync(cs);
    if (problem is not null)
    {
        Console.Error.WriteLine(problem);
        return 3;
    }

    connectionString = cs;
}

// The demo counts what the DGC leaves in storage; a silo that only serves does not.
builder.UseOrleans(silo => SiloSetup.Configure(silo, builder.Configuration, profile, connectionString, chaosOptions, trackStorage: !serve));

builder.AddDgcObservability();
// Mutual TLS between silos (Orleans:Tls) and with kernels of other clusters (Dgc:Network); each off unless configured (docs/security.md).
if (NetworkSetup.Add(builder, profile, chaos) is { } networkProblem)
{
    Console.Error.WriteLine(networkProblem);
    return 2;
}

if (DashboardAuthorization.Add(builder, out var signIn) is { } signInProblem)
{
    Console.Error.WriteLine(signInProblem);
    return 2;
}

var app = builder.Build();
if (signIn)
{
    app.UseAuthentication();
    app.UseAuthorization();
}

var operatorPages = app.MapOrleansDashboard(routePrefix: "/dashboard");
var dgcView = app.MapDgcObservability();
if (signIn)
{
    // The operator pages need the configured credentials (docs/security.md); /healthz stays open for probes.
    operatorPages.RequireAuthorization();
    dgcView.RequireAuthorization();
}
app.MapGet("/", () => Results.Redirect("/dashboard"));

var demo = app.Services.GetRequiredService<IOptions<DemoOptions>>().Value;
var problems = demo.Validate().Concat(chaosOptions?.Validate() ?? []).ToList();
if (cycles && (chaos || serve || NetworkSetup.IsEnabled(app.Configuration)))
{
    problems.Add("--cycles runs with the one-cluster demo only: not with --chaos, --serve or Dgc:Network:Listen.");
}

if (problems.Count > 0)
{
    Console.Error.WriteLine(string.Join(Environment.NewLine, problems));
    return 2;
}

try
{
    await app.StartAsync();
}
catch (OptionsValidationException e)
{
    // DGC options are validated as the silo starts: name every bad value, then stop without a stack trace.
    Console.Error.WriteLine(string.Join(Environment.NewLine, e.Failures));
    return 2;
}

var dashboard = $"{app.Urls.FirstOrDefault() ?? "http://127.0.0.1:8080"}/dashboard";
if (serve)
{
    // A cluster member: no demo, serve until stopped (scripts/cluster.sh and the tests wait for this line).
    var orleans = builder.Configuration.GetSection("Orleans");
    Console.WriteLine($"ocap-dgc silo ready: profile={profile} silo-port={orleans["SiloPort"]} gateway-port={orleans["GatewayPort"]} dashboard={dashboard}");
    await app.WaitForShutdownAsync();
    return 0;
}

await using var recording = DemoRecording.Start(app.Services); // the chart written after the run (docs/observability.md)
if (NetworkSetup.IsEnabled(app.Configuration))
{
    // The demo across two clusters: this host's kernel and a peer's (scripts/two-clusters.sh).
    return await NetworkDemoRunner.RunAsync(app, demo, keepRunning);
}

var grains = app.Services.GetRequiredService<IGrainFactory>();
var transport = app.Services.GetRequiredService<InClusterTransport>();
var storage = app.Services.GetRequiredService<DgcStorageTracker>();
var result = chaosOptions is not null
    ? await new ChaosRunner(
        grains,
        transport,
        app.Services.GetRequiredService<FaultInjectingTransport>(),
        storage,
        app.Services.GetRequiredService<IOptions<LeaseOptions>>().Value,
        Console.Out).RunAsync(refsGiven ? demo.Refs : chaosOptions.Refs, chaosOptions)
    : await new DemoRunner(grains, transport, storage, Console.Out).RunAsync(demo.Refs, demo.MessageSize);
var cycleResult = cycles ? await new CycleDemoRunner(grains, transport, Console.Out).RunAsync(demo.Cycles) : null;
Console.WriteLine($"Chart of live and reclaimed refs: {await recording.WriteChartAsync(demo.ChartFolder, chaosOptions is null ? "ocap-dgc demo" : "ocap-dgc demo under chaos")}");
var clean = result.Clean && cycleResult?.Clean != false;
Console.WriteLine(clean
    ? "Every exported reference was reclaimed once nobody could use it; none was released while its holder could still use it."
    : "PROBLEM: some references leaked or were released while still held (see the figures above).");
Console.WriteLine(cycleResult is null ? result.SummaryLine : $"{result.SummaryLine} cycles={cycleResult.Cycles} reclaimed_cycles={cycleResult.Reclaimed}");

if (keepRunning)
{
    Console.WriteLine($"Silo still running; dashboard at {dashboard}, DGC view at {DgcView.Url(app)} (Ctrl+C to stop).");
    await app.WaitForShutdownAsync();
}
else
{
    await app.StopAsync();
}

return clean ? 0 : 1;
