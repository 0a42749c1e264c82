using System.Net;
using System.Net.Sockets;

namespace OcapDgc.Tests.Cluster;

/// <summary>
/// A TCP proxy on loopback between two hosts that can partition them: while partitioned it resets every
/// connection it carries and every new one, so nothing gets through in either direction; healed, it
/// forwards bytes untouched (TLS runs end to end through it).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accepting;
    private bool _partitioned;

    /// <summary>Starts forwarding from a free loopback port to <paramref name="targetPort"/>.</summary>
    public FaultProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The port to connect to instead of the target.</summary>
    public int Port { get; }

    /// <summary>Connections refused or cut while partitioned.</summary>
    public int Cut { get; private set; }

    /// <summary>Cuts every connection, and refuses new ones until <see cref="Heal"/>.</summary>
    public void Partition()
    {
        lock (_gate)
        {
            _partitioned = true;
            foreach (var c in _open)
            {
                Reset(c);
                Cut++;
            }

            _open.Clear();
        }
    }

    /// <summary>Lets connections through again.</summary>
    public void Heal()
    {
        lock (_gate)
        {
            _partitioned = false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Partition();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            bool refuse;
            lock (_gate)
            {
                refuse = _partitioned;
                if (refuse)
                {
                    Cut++;
                }
            }

            if (refuse)
            {
                Reset(inbound);
                continue;
            }

            _ = ForwardAsync(inbound);
        }
    }

    private async Task ForwardAsync(TcpClient inbound)
    {
        using var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            lock (_gate)
            {
                if (_partitioned)
                {
                    Reset(inbound);
                    return;
                }

                _open.Add(inbound);
                _open.Add(outbound);
            }

            var a = inbound.GetStream();
            var b = outbound.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A cut or a closed connection ends the forwarding.
        }
        finally
        {
            lock (_gate)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }

            Reset(inbound);
        }
    }

    private static void Reset(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0); // close with RST, like a failed link
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        client.Dispose();
    }
}
