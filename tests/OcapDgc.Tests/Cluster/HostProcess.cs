using System.Diagnostics;
using System.Text;
using OcapDgc.Tests.Postgres;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// One run of the built host (<c>dotnet OcapDgc.Host.dll ...</c>) as a child process, with its output
/// collected so a test can await a line instead of sleeping. Disposing kills it (SIGKILL) if it still runs.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];

    private HostProcess(Process process) => _process = process;

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>Everything the process wrote so far, stdout and stderr interleaved by line.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The exit code, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>
    /// The host built beside this test assembly's configuration:
    /// <c>src/OcapDgc.Host/bin/&lt;Configuration&gt;/&lt;tfm&gt;/OcapDgc.Host.dll</c>. The test project references
    /// the host project, so building the tests builds it.
    /// </summary>
    public static string HostDll
    {
        get
        {
            var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var tfm = testBin.Name;
            var configuration = testBin.Parent!.Name;
            var root = PostgresServer.FindRepositoryRoot();
            var dll = Path.Combine(root, "src", "OcapDgc.Host", "bin", configuration, tfm, "OcapDgc.Host.dll");
            return File.Exists(dll)
                ? dll
                : throw new FileNotFoundException($"The host is not built at {dll}; build the solution in {configuration} first.", dll);
        }
    }

    /// <summary>Starts the host with <paramref name="arguments"/> and extra environment variables.</summary>
    public static HostProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(HostDll)!,
        };
        start.ArgumentList.Add(HostDll);
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        // The test runner's own settings must not leak into the host.
        foreach (var inherited in IsolatedVariables)
        {
            start.Environment.Remove(inherited);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var host = new HostProcess(process);
        process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    /// <summary>Waits for a line containing <paramref name="text"/>; fails early, with the output, if the process exits first.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            var existing = _output.ToString().Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (existing is not null)
            {
                return existing;
            }

            _waiters.Add((l => l.Contains(text, StringComparison.Ordinal), done));
        }

        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(done.Task, exited, Task.Delay(timeout));
        if (first == done.Task)
        {
            return await done.Task;
        }

        var why = first == exited ? $"exited with {_process.ExitCode}" : $"did not print it within {timeout}";
        throw new TimeoutException($"Host pid {Id} {why} while a line with '{text}' was awaited. Output:{Environment.NewLine}{Output}");
    }

    /// <summary>Waits for the process to exit on its own and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Host pid {Id} did not exit within {timeout}. Output:{Environment.NewLine}{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process at once: on Linux this is SIGKILL, the crash the durability property is about.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static readonly string[] IsolatedVariables = ["Dgc__Profile", "OCAPDGC_PG_CONNECTION", "ConnectionStrings__OcapDgc"];

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        List<TaskCompletionSource<string>> matched = [];
        lock (_gate)
        {
            _output.Append(line).Append('\n');
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(line))
                {
                    matched.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var m in matched)
        {
            m.TrySetResult(line);
        }
    }
}
