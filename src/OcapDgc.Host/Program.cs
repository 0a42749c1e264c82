using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Host;
using OcapDgc.Storage;
using OcapDgc.Transport;
using Orleans.Dashboard;

var keepRunning = args.Contains("--keep-running");
var builder = WebApplication.CreateBuilder(args.Where(a => a != "--keep-running").ToArray());
builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "silo-config", "appsettings.json"), optional: false);
builder.Configuration.AddCommandLine(args.Where(a => a != "--keep-running").ToArray(), new Dictionary<string, string> { ["--refs"] = "Demo:Refs" });
builder.Services.AddOptions<DemoOptions>().BindConfiguration("Demo");

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
    silo.AddDistributedGc();
    silo.AddDashboard();
});

var app = builder.Build();
app.MapOrleansDashboard(routePrefix: "/dashboard");
app.MapGet("/", () => Results.Redirect("/dashboard"));

var demo = app.Services.GetRequiredService<IOptions<DemoOptions>>().Value;
var problems = demo.Validate().ToList();
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
var result = await runner.RunAsync(demo.Refs, demo.MessageSize);
Console.WriteLine(result.Clean
    ? "Every exported reference was reclaimed once both kernels dropped it; none was released while still held."
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
