using System.Globalization;
using OcapDgc.Observability;

namespace OcapDgc.Host.Observability;

/// <summary>
/// Records the silo's live and reclaimed refs every 100 ms while the demo runs, and writes them as an SVG
/// chart next to the run (<c>Demo:ChartFolder</c>, <c>demo-runs</c> by default).
/// </summary>
public sealed class DemoRecording : IAsyncDisposable
{
    private readonly DgcSampler _sampler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    private DemoRecording(DgcSiloStats stats)
    {
        _sampler = new DgcSampler(stats, TimeSpan.FromMilliseconds(100), capacity: 36_000);
        _run = _sampler.RunAsync(_stop.Token);
    }

    /// <summary>Starts recording the silo of <paramref name="services"/>.</summary>
    public static DemoRecording Start(IServiceProvider services) => new(services.GetRequiredService<DgcSiloStats>());

    /// <summary>Stops recording, writes the chart to <paramref name="folder"/> and returns its full path.</summary>
    public async Task<string> WriteChartAsync(string folder, string title)
    {
        await StopAsync();
        _sampler.Sample();
        Directory.CreateDirectory(folder);
        var path = Path.GetFullPath(Path.Combine(folder, $"demo-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.svg"));
        await File.WriteAllTextAsync(path, SvgChart.Render(_sampler.Snapshot(), title));
        return path;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        await _run;
    }
}
