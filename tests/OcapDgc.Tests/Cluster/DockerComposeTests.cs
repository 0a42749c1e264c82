using OcapDgc.Testing;
using System.Text.Json;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// docker-compose.yml describes the cluster profile's topology: PostgreSQL with the schema scripts, two
/// or more silos built from the repository's Dockerfile, each dashboard published on the host's loopback only
/// (no silo or gateway port published). No Docker engine runs
/// here, so this checks the file as `docker-compose config` resolves it (scripts/test.sh installs
/// docker-compose when missing).
/// </summary>
public sealed class DockerComposeTests
{
    private const string Password = "test-only-password";

    [Fact]
    public async Task Compose_file_runs_postgres_with_the_schema_and_two_or_more_silos_of_the_cluster_profile()
    {
        var root = PostgresServer.FindRepositoryRoot();
        using var config = await ResolvedConfigAsync(root);
        var services = config.RootElement.GetProperty("services");

        var postgres = services.GetProperty("postgres");
        Assert.StartsWith("postgres:", postgres.GetProperty("image").GetString(), StringComparison.Ordinal);
        Assert.Equal(Password, postgres.GetProperty("environment").GetProperty("POSTGRES_PASSWORD").GetString());
        Assert.Contains(
            $"{Path.Combine(root, "silo-config", "postgresql")}:/docker-entrypoint-initdb.d:ro",
            postgres.GetProperty("volumes").EnumerateArray().Select(v => v.GetString()));
        Assert.True(postgres.TryGetProperty("healthcheck", out _), "postgres has a health check the silos wait for");

        var silos = services.EnumerateObject().Where(s => s.Name != "postgres").ToList();
        Assert.True(silos.Count >= 2, $"two or more silos, found {silos.Count}");
        var published = new List<int>();
        foreach (var silo in silos.Select(s => s.Value))
        {
            Assert.Equal(root, silo.GetProperty("build").GetProperty("context").GetString());
            Assert.True(File.Exists(Path.Combine(root, "Dockerfile")));
            var command = silo.GetProperty("command").EnumerateArray().Select(a => a.GetString()).ToList();
            Assert.Contains("--serve", command);
            Assert.Equal("postgres", command[command.IndexOf("--profile") + 1]);
            Assert.Equal("service_healthy", silo.GetProperty("depends_on").GetProperty("postgres").GetProperty("condition").GetString());

            var connection = silo.GetProperty("environment").GetProperty("OCAPDGC_PG_CONNECTION").GetString()!;
            Assert.Contains("Host=postgres;", connection, StringComparison.Ordinal);
            Assert.Contains($"Password={Password}", connection, StringComparison.Ordinal);

            // Only the dashboard is published, and only on the host's loopback: nothing unauthenticated is reachable from outside.
            var port = Assert.Single(silo.GetProperty("ports").EnumerateArray());
            var (hostIp, hostPort, target) = Published(port);
            Assert.Equal(8080, target);
            Assert.Equal("127.0.0.1", hostIp);
            published.Add(hostPort);
        }

        Assert.Equal(published.Count, published.Distinct().Count());
    }

    /// <summary>
    /// A resolved port entry: the long form (<c>published</c>, <c>target</c>, <c>host_ip</c>) or the short one
    /// that docker-compose keeps when a host address is given (<c>127.0.0.1:8081:8080/tcp</c>).
    /// </summary>
    private static (string? HostIp, int Published, int Target) Published(JsonElement port)
    {
        if (port.ValueKind == JsonValueKind.Object)
        {
            var ip = port.TryGetProperty("host_ip", out var h) ? h.GetString() : null;
            return (ip, port.GetProperty("published").GetInt32(), port.GetProperty("target").GetInt32());
        }

        var parts = port.GetString()!.Split('/')[0].Split(':');
        Assert.Equal(3, parts.Length);
        return (parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>`docker-compose config` with the password from the environment, turned into JSON.</summary>
    private static async Task<JsonDocument> ResolvedConfigAsync(string root)
    {
        var compose = Path.Combine(root, "docker-compose.yml");
        var script = $"set -o pipefail; docker-compose -f '{compose}' config "
            + "| python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'";
        var environment = new Dictionary<string, string> { ["OCAPDGC_PG_PASSWORD"] = Password };
        string json;
        try
        {
            json = await ThrowawayPostgres.RunAsync("bash", ["-c", script], environment);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                "docker-compose config failed; install docker-compose (apt-get install -y docker-compose, as scripts/test.sh does).", e);
        }

        return JsonDocument.Parse(json);
    }
}
