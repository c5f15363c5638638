using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

/// <summary>
/// A real DNS server for end-to-end tests: dnsmasq in the foreground on a free loopback port,
/// answering only from the records given on its command line (no upstream, no /etc/hosts, no
/// config file). Its query log is captured. Disposing kills it by PID.
/// </summary>
public sealed class DnsmasqServer : IDisposable
{
    public const string MissingMessage =
        "dnsmasq is not installed (Debian package 'dnsmasq-base'). The RFC 3263 end-to-end tests need a real " +
        "DNS server on loopback: run ./scripts/test.sh, which installs it, or apt-get install dnsmasq-base.";

    private const int MaxLogChars = 1 << 20;

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly Lock _logGate = new();

    private DnsmasqServer(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public string Log
    {
        get
        {
            lock (_logGate)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Starts dnsmasq with these record options (--host-record=…, --srv-host=…, --naptr-record=…);
    /// names under <paramref name="localDomain"/> it does not know answer NXDOMAIN.
    /// </summary>
    public static DnsmasqServer Start(string localDomain, IEnumerable<string> recordOptions, string readyName)
    {
        var binary = FindBinary() ?? throw new InvalidOperationException(MissingMessage);
        var records = recordOptions.ToList();
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var port = FreePort();
            var psi = new ProcessStartInfo(binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
                "--no-resolv", "--no-hosts", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--listen-address", "127.0.0.1", "--bind-interfaces",
                $"--local=/{localDomain}/", "--log-queries", "--log-facility=-",
            }.Concat(records))
            {
                psi.ArgumentList.Add(argument);
            }

            var process = new Process { StartInfo = psi };
            var server = new DnsmasqServer(process, new IPEndPoint(IPAddress.Loopback, port));
            process.OutputDataReceived += (_, e) => server.Append(e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                server.WaitUntilAnswering(readyName);
                return server;
            }
            catch (Exception e)
            {
                last = e;
                server.Dispose();
            }
        }

        throw new InvalidOperationException($"dnsmasq did not start: {last?.Message}", last);
    }

    private static string? FindBinary()
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/sbin", "/usr/sbin", "/sbin"]);
        return dirs.Select(d => Path.Combine(d, "dnsmasq")).FirstOrDefault(File.Exists);
    }

    /// <summary>A port free for both UDP and TCP on 127.0.0.1 (dnsmasq serves both).</summary>
    private static int FreePort()
    {
        while (true)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(udp.LocalEndPoint!);
                return ((IPEndPoint)udp.LocalEndPoint!).Port;
            }
            catch (SocketException)
            {
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logGate)
        {
            if (_log.Length < MaxLogChars)
            {
                _log.Append(line).Append('\n');
            }
        }
    }

    private void WaitUntilAnswering(string readyName)
    {
        var client = new DnsClient(new DnsClientOptions { Servers = [EndPoint], Timeout = TimeSpan.FromMilliseconds(200), Attempts = 1, CacheCapacity = 0 });
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"dnsmasq exited with {_process.ExitCode}:\n{Log}");
            }

            var result = client.QueryAsync(readyName, DnsRecordType.A, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (result.Status == DnsQueryStatus.Success)
            {
                return;
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"dnsmasq did not answer for {readyName} within 10 s:\n{Log}");
    }

    /// <summary>How many queries of this type for this name dnsmasq logged ("query[SRV] name from …").</summary>
    public int LoggedQueries(string type, string name)
    {
        var marker = $"query[{type}] {name} from";
        return Log.Split('\n').Count(line => line.Contains(marker, StringComparison.Ordinal));
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Never started: nothing to kill.
        }

        _process.Dispose();
    }
}
