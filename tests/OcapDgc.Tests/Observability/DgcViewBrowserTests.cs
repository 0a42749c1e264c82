using Microsoft.Playwright;
using Xunit.Abstractions;

namespace OcapDgc.Tests.Observability;

/// <summary>
/// The DGC view in a real browser: Debian's chromium (<c>/usr/bin/chromium</c>, which <c>scripts/test.sh</c>
/// installs when missing) driven by Playwright, against the host's web application with live references.
/// Saves a screenshot under the test's output folder (<c>artifacts/dgc-view.png</c>) and prints its path.
/// </summary>
public sealed class DgcViewBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_view_shows_each_remote_and_answers_why_a_kref_is_alive()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (scripts/test.sh does).");
        await using var host = await ObservedHost.StartAsync();
        var objects = await host.ShareSomeAsync(count: 20);
        var kref = objects[0]; // sent to bob twice

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1000 } });
        await page.GotoAsync($"{host.Url}/dgc");

        // The per-remote table: alice lends 20 exports to bob and holds 3 imports from him.
        var aliceRemotes = page.Locator("#remotes-alice");
        await aliceRemotes.WaitForAsync();
        var bobRow = aliceRemotes.Locator("tr", new LocatorLocatorOptions { HasText = "bob" });
        var cells = await bobRow.Locator("td").AllInnerTextsAsync();
        Assert.Equal("bob", cells[0]);
        Assert.Equal("20", cells[1]);
        Assert.StartsWith("3", cells[2], StringComparison.Ordinal);
        Assert.Contains("/ 120 s", cells[6], StringComparison.Ordinal); // lease age against the lease

        // "Why is it alive?": bob holds it, twice, confirmed by his addRef; alice keeps no local reference.
        await page.FillAsync("#why-kernel", "alice");
        await page.FillAsync("#why-kref", kref);
        await page.ClickAsync("#why-button");
        var verdict = page.Locator("#why-verdict");
        await verdict.WaitForAsync();
        Assert.Equal($"alice/{kref} is alive: 1 remote(s) can reach it: bob (count 2).", await verdict.InnerTextAsync());
        var holder = await page.Locator("#why-holders tr", new PageLocatorOptions { HasText = "bob" }).Locator("td").AllInnerTextsAsync();
        Assert.Equal(["bob", "2", "yes"], holder.Take(3));
        Assert.StartsWith("ro+", holder[3], StringComparison.Ordinal);
        Assert.StartsWith("message ", holder[7], StringComparison.Ordinal);
        Assert.Contains("holds no local reference", await page.Locator("#why-owner").InnerTextAsync(), StringComparison.Ordinal);

        // The chart has drawn its lines once two samples are in.
        await page.Locator("#chart polyline").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });

        var shot = Path.Combine(AppContext.BaseDirectory, "artifacts", "dgc-view.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        output.WriteLine($"screenshot: {shot}");
        Assert.True(new FileInfo(shot).Length > 10_000);
    }
}
