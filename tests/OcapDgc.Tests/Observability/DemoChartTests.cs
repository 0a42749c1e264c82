using OcapDgc.Host.Observability;

namespace OcapDgc.Tests.Observability;

/// <summary>The demo's chart: recorded from the silo's registry while kernels work, written as a standalone SVG.</summary>
public sealed class DemoChartTests
{
    [Fact]
    public async Task The_recording_writes_an_svg_of_live_and_reclaimed_refs()
    {
        await using var host = await ObservedHost.StartAsync();
        await using var recording = DemoRecording.Start(host.Services);
        await host.ShareSomeAsync(count: 50);
        await Task.Delay(300); // a few 100 ms samples with the refs held

        var folder = Path.Combine(Path.GetTempPath(), "dgc-chart-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var path = await recording.WriteChartAsync(folder, "test run");
            Assert.StartsWith(folder, path, StringComparison.Ordinal);
            var svg = await File.ReadAllTextAsync(path);
            Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg, StringComparison.Ordinal);
            Assert.Contains("test run", svg, StringComparison.Ordinal);
            Assert.Contains("live refs (exports + imports)", svg, StringComparison.Ordinal);
            Assert.Equal(3, svg.Split("<polyline").Length - 1); // live, reclaimed, reclaim rate
            Assert.Contains(">100<", svg, StringComparison.Ordinal); // the left axis reaches the 53 + 53 live refs
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
