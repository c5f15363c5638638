using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Tandem.Lab.Netns;

/// <summary>
/// A process started inside a network namespace with <c>ip netns exec NS cmd …</c>. iproute2 execs the
/// command in place, so <see cref="Pid"/> is the command's own PID: signal it to inject failures
/// (<see cref="Kill"/> = kill -9, <see cref="Stop"/> = SIGSTOP freeze, <see cref="Terminate"/> = graceful SIGTERM).
/// Output is collected in memory. Disposing kills it (SIGKILL) if still running.
/// </summary>
public sealed class NetnsProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();

    private NetnsProcess(Process process, string networkNamespace, string commandLine)
    {
        _process = process;
        Namespace = networkNamespace;
        CommandLine = commandLine;
    }

    public int Pid => _process.Id;

    public string Namespace { get; }

    public string CommandLine { get; }

    public bool HasExited => _disposed ? _exitCodeAtDispose is not null : _process.HasExited;

    /// <summary>The exit code; 128 + signal number when a signal ended it.</summary>
    public int ExitCode => _disposed ? _exitCodeAtDispose ?? throw new InvalidOperationException("it had not exited") : _process.ExitCode;

    private bool _disposed;
    private int? _exitCodeAtDispose;

    /// <summary>Everything written to stdout and stderr so far (interleaved by line).</summary>
    public string Output
    {
        get
        {
            lock (_outputLock)
            {
                return _output.ToString();
            }
        }
    }

    internal static NetnsProcess Start(string networkNamespace, string fileName, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["netns", "exec", networkNamespace, fileName, .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                startInfo.Environment[key] = value;
            }
        }
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var handle = new NetnsProcess(process, networkNamespace, $"ip netns exec {networkNamespace} {fileName} {string.Join(' ', arguments)}");
        process.OutputDataReceived += (_, e) => handle.Append(e.Data);
        process.ErrorDataReceived += (_, e) => handle.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return handle;
    }

    /// <summary>Sends <paramref name="signal"/> to the process (kill(2)).</summary>
    public void Signal(int signal)
    {
        if (kill(Pid, signal) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (!HasExited)
            {
                throw new InvalidOperationException($"kill({Pid}, {signal}) failed with errno {errno}");
            }
        }
    }

    /// <summary>kill -9: a crash.</summary>
    public void Kill() => Signal(SigKill);

    /// <summary>SIGTERM: a graceful stop.</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>SIGSTOP: the process freezes (a hung node that still holds its addresses and sockets).</summary>
    public void Stop() => Signal(SigStop);

    /// <summary>SIGCONT after <see cref="Stop"/>.</summary>
    public void Continue() => Signal(SigCont);

    /// <summary>The state letter from /proc/PID/stat (R, S, T = stopped, Z …), or null once it is gone.</summary>
    public char? ProcState()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var close = stat.LastIndexOf(')');
            return stat[close + 2];
        }
        catch (IOException)
        {
            return null;
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"`{CommandLine}` (pid {Pid}) still running after {timeout.TotalSeconds:0.#} s; output:\n{Output}");
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        try
        {
            if (!_process.HasExited)
            {
                Kill(); // SIGKILL also ends a stopped (SIGSTOP) process
                await WaitForExitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // Best effort: the namespace teardown kills whatever is left in it.
        }
        _exitCodeAtDispose = _process.HasExited ? _process.ExitCode : null;
        _disposed = true;
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_outputLock)
        {
            _output.AppendLine(line);
        }
    }

#pragma warning disable SYSLIB1054
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
}
