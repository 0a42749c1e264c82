using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OcapDgc.Testing;

namespace OcapDgc.Tests.Cluster;

/// <summary>With Dgc:Dashboard:User and Password set, the operator pages need them; /healthz stays open for probes.</summary>
public sealed class DashboardSignInTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task With_credentials_configured_the_dashboard_and_the_DGC_view_require_them()
    {
        var web = ThrowawayPostgres.FindFreeLoopbackPort();
        string[] ports = ["--silo-port", Free(), "--gateway-port", Free(), $"--Orleans:ClusterId=signin-{Guid.NewGuid():N}"];
        await using var host = HostProcess.Start(
            ["--serve", "--urls", $"http://127.0.0.1:{web}", .. ports],
            new Dictionary<string, string> { ["Dgc__Dashboard__User"] = "operator", ["Dgc__Dashboard__Password"] = "correct horse battery" });
        await host.WaitForLineAsync("ocap-dgc silo ready", Timeout);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{web}") };
        foreach (var page in new[] { "/dashboard/", "/dgc" }) // /dashboard redirects there; HttpClient drops credentials on redirects
        {
            using var anonymous = await http.GetAsync(new Uri(page, UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("Basic", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

            Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, page, "operator:wrong password!!")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await Get(http, page, "operator:correct horse battery")).StatusCode);
        }

        using var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_user_without_a_long_enough_password_stops_the_host()
    {
        await using var host = HostProcess.Start(["--serve"], new Dictionary<string, string> { ["Dgc__Dashboard__User"] = "operator", ["Dgc__Dashboard__Password"] = "short" });

        Assert.Equal(2, await host.WaitForExitAsync(Timeout));
        Assert.Contains("Dgc:Dashboard:User and Dgc:Dashboard:Password must be set together", host.Output, StringComparison.Ordinal);
    }

    private static string Free() => ThrowawayPostgres.FindFreeLoopbackPort().ToString(CultureInfo.InvariantCulture);

    private static async Task<HttpResponseMessage> Get(HttpClient http, string page, string credentials)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(page, UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        return await http.SendAsync(request);
    }
}
