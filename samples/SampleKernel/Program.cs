using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OcapDgc.Hosting;
using SampleKernel;

// One silo with the DGC from the packages, two kernels: alice shares objects with bob, bob forgets them,
// and alice hears that every one was retired.
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Orleans.Runtime.SiloOptionsLogger", LogLevel.Information); // the options, DGC's included, at start-up
builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort(), clusterId: "sample");
    silo.UseDgcInMemoryStorage();
    silo.UseInMemoryReminderService();
    silo.AddDistributedGc(
        batching => batching.Configure(o => o.FlushInterval = TimeSpan.FromMilliseconds(50)),
        lease => lease.Configure(o => o.Duration = TimeSpan.FromMinutes(5)));
});
using var host = builder.Build();
await host.StartAsync();

var grains = host.Services.GetRequiredService<IGrainFactory>();
var alice = grains.GetGrain<IEchoKernel>("alice");
var bob = grains.GetGrain<IEchoKernel>("bob");
await alice.StartAsync();
await bob.StartAsync();
var shared = await alice.ShareAsync("bob", 10);
var forgotten = 0;
var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
while (await alice.RetiredAsync() < shared.Length && DateTime.UtcNow < deadline)
{
    forgotten += await bob.ForgetAsync("alice");
    await Task.Delay(50);
}

var retired = await alice.RetiredAsync();
Console.WriteLine($"sample: shared={shared.Length} forgotten={forgotten} retired={retired}");
await host.StopAsync();
return retired == shared.Length ? 0 : 1;

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}
