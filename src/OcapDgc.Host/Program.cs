using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Host;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.Dashboard;

var keepRunning = args.Contains("--keep-running");
var chaos = args.Contains("--chaos");
var hostArgs = args.Where(a => a is not ("--keep-running" or "--chaos")).ToArray();
var refsGiven = hostArgs.Contains("--refs");
var builder = WebApplication.CreateBuilder(hostArgs);
builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "silo-config", "appsettings.json"), optional: false);
builder.Configuration.AddCommandLine(hostArgs, new Dictionary<string, string> { ["--refs"] = "Demo:Refs" });
builder.Services.AddOptions<DemoOptions>().BindConfiguration("Demo");
var chaosOptions = builder.Configuration.GetSection("Demo:Chaos").Get<ChaosOptions>() ?? new ChaosOptions();

builder.UseOrleans(silo =>
{
    var orleans = builder.Configuration.GetSection("Orleans");
    silo.UseLocalhostClustering(
        siloPort: orleans.GetValue("SiloPort", 11111),
        gatewayPort: orleans.GetValue("GatewayPort", 30000),
        serviceId: orleans["ServiceId"] ?? "ocap-dgc",
        clusterId: orleans["ClusterId"] ?? "ocap-dgc-dev");
    silo.UseDgcInMemoryStorage();
    silo.UseInMemoryReminderService();
    if (chaos)
    {
        // Seconds-long leases, so the run can show a partition longer than the lease.
        silo.AddDistributedGc(lease: l =>
        {
            l.Lease = chaosOptions.Lease;
            l.PingInterval = chaosOptions.PingInterval;
            l.CheckPeriod = chaosOptions.CheckPeriod;
        });
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = chaosOptions.CheckPeriod);
        silo.UseDgcFaultInjection();
    }
    else
    {
        silo.AddDistributedGc();
    }

    silo.AddDashboard();
});

var app = builder.Build();
app.MapOrleansDashboard(routePrefix: "/dashboard");
app.MapGet("/", () => Results.Redirect("/dashboard"));

var demo = app.Services.GetRequiredService<IOptions<DemoOptions>>().Value;
var problems = demo.Validate().Concat(chaos ? chaosOptions.Validate() : []).ToList();
if (problems.Count > 0)
{
    Console.Error.WriteLine(string.Join(Environment.NewLine, problems));
    return 2;
}

await app.StartAsync();
var runner = new DemoRunner(
    app.Services.GetRequiredService<IGrainFactory>(),
    app.Services.GetRequiredService<InClusterTransport>(),
    app.Services.GetRequiredService<DgcStorageTracker>(),
    Console.Out);
var result = chaos
    ? await new ChaosRunner(
        app.Services.GetRequiredService<IGrainFactory>(),
        app.Services.GetRequiredService<InClusterTransport>(),
        app.Services.GetRequiredService<FaultInjectingTransport>(),
        app.Services.GetRequiredService<DgcStorageTracker>(),
        app.Services.GetRequiredService<IOptions<LeaseOptions>>().Value,
        Console.Out).RunAsync(refsGiven ? demo.Refs : chaosOptions.Refs, chaosOptions)
    : await runner.RunAsync(demo.Refs, demo.MessageSize);
Console.WriteLine(result.Clean
    ? "Every exported reference was reclaimed once nobody could use it; none was released while its holder could still use it."
    : "PROBLEM: some references leaked or were released while still held (see the figures above).");
Console.WriteLine(result.SummaryLine);

if (keepRunning)
{
    Console.WriteLine($"Silo still running; dashboard at {app.Urls.FirstOrDefault() ?? "http://127.0.0.1:8080"}/dashboard (Ctrl+C to stop).");
    await app.WaitForShutdownAsync();
}
else
{
    await app.StopAsync();
}

return result.Clean ? 0 : 1;
