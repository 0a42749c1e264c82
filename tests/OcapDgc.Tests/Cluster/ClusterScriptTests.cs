using System.Diagnostics;
using System.Text.RegularExpressions;
using Npgsql;
using OcapDgc.Host;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// scripts/cluster.sh, as the README documents it: a throwaway PostgreSQL and N silos of the cluster
/// profile on loopback, each dashboard answering; stopping the script stops everything and removes the folder.
/// </summary>
[Collection(PostgresCollectionDefinition.Name)]
public sealed partial class ClusterScriptTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Cluster_script_starts_postgres_and_two_silos_and_removes_everything_when_stopped()
    {
        var root = PostgresServer.FindRepositoryRoot();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(root, "scripts", "cluster.sh"));
        start.ArgumentList.Add("2");
        start.Environment["OCAPDGC_HOST_DLL"] = HostProcess.HostDll;
        using var script = Process.Start(start)!;
        var lines = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        script.OutputDataReceived += (_, e) => OnLine(e.Data);
        script.ErrorDataReceived += (_, e) => OnLine(e.Data);
        script.BeginOutputReadLine();
        script.BeginErrorReadLine();
        try
        {
            var first = await Task.WhenAny(ready.Task, script.WaitForExitAsync(), Task.Delay(Patience));
            Assert.True(first == ready.Task, "cluster.sh reported its silos ready:\n" + Text());

            var output = Text();
            var dataDir = DataDir().Match(output).Groups[1].Value;
            var connection = ConnectionLine().Match(output).Groups[1].Value;
            var dashboards = Dashboard().Matches(output).Select(m => m.Groups[1].Value).ToList();
            Assert.Equal(2, dashboards.Count);
            Assert.True(Directory.Exists(dataDir), dataDir);

            using var http = new HttpClient();
            foreach (var dashboard in dashboards)
            {
                using var response = await http.GetAsync(new Uri(dashboard + "/"));
                Assert.True(response.IsSuccessStatusCode, $"{dashboard}: {response.StatusCode}");
            }

            Assert.True(PostgresConnection.TryNormalize(connection, out var cs, out var error), error);
            await using (var db = new NpgsqlConnection(cs))
            {
                await db.OpenAsync();
                await using var active = new NpgsqlCommand("SELECT count(*) FROM OrleansMembershipTable WHERE Status = 3", db);
                Assert.Equal(2L, await active.ExecuteScalarAsync());
            }

            // Silo-to-silo connections are TLS with the cluster key, and a connection without it is refused.
            var clusterPin = ClusterPin().Match(output).Groups[1].Value;
            var siloPort = int.Parse(SiloPort().Match(output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var (serverPin, refusal) = await ConnectWithoutClusterKeyAsync(siloPort);
            Assert.Equal(clusterPin, serverPin);
            Assert.NotNull(refusal);

            NpgsqlConnection.ClearAllPools();
            using (var term = Process.Start("kill", ["-TERM", script.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var stopped = new CancellationTokenSource(Patience);
            await script.WaitForExitAsync(stopped.Token);
            Assert.Contains("cluster: stopped; removed", Text(), StringComparison.Ordinal);
            Assert.False(Directory.Exists(dataDir), $"{dataDir} was removed");
        }
        finally
        {
            if (!script.HasExited)
            {
                script.Kill(entireProcessTree: true);
            }
        }

        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(line);
            }

            if (line.Contains("silo(s) ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        string Text()
        {
            lock (lines)
            {
                return string.Join('\n', lines);
            }
        }
    }

    /// <summary>
    /// Opens a TLS connection to a silo port presenting no client certificate: returns the pin of the key the
    /// silo presented and how the silo refused the connection (null if it did not; a silo that waited in silence
    /// makes this throw <see cref="OperationCanceledException"/>).
    /// </summary>
    private static async Task<(string? ServerPin, Exception? Refusal)> ConnectWithoutClusterKeyAsync(int port)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        using var tls = new System.Net.Security.SslStream(tcp.GetStream());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string? serverPin = null;
        try
        {
            await tls.AuthenticateAsClientAsync(
                new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = "cluster",
                    RemoteCertificateValidationCallback = (_, c, _, _) =>
                    {
                        serverPin = c is System.Security.Cryptography.X509Certificates.X509Certificate2 x ? OcapDgc.Host.Network.PeerPins.Of(x) : null;
                        return serverPin is not null;
                    },
                },
                timeout.Token);
            // With TLS 1.3 the silo's refusal of a client without a certificate arrives after the handshake.
            var read = await tls.ReadAsync(new byte[1], timeout.Token);
            return (serverPin, read == 0 ? new EndOfStreamException("closed by the silo") : null);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            return (serverPin, e);
        }
    }

    [GeneratedRegex(@"cluster key (sha256/\S+)")]
    private static partial Regex ClusterPin();

    [GeneratedRegex(@"silo-port (\d+)")]
    private static partial Regex SiloPort();

    [GeneratedRegex(@"\(data in (\S+)\)")]
    private static partial Regex DataDir();

    [GeneratedRegex("OCAPDGC_PG_CONNECTION=\"([^\"]+)\"")]
    private static partial Regex ConnectionLine();

    [GeneratedRegex(@"dashboard (http://\S+/dashboard)")]
    private static partial Regex Dashboard();
}
