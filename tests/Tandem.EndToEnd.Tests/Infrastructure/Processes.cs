using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>What a finished command did.</summary>
public sealed record CommandResult(string Command, int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    public override string ToString() =>
        $"$ {Command}\nexit code: {(TimedOut ? "timed out (killed)" : ExitCode.ToString())}\n" +
        $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Collects the output of a process line by line, thread-safely, with a cap so that a chatty
/// server cannot exhaust memory during a long test.
/// </summary>
public sealed class OutputBuffer
{
    private const int MaxChars = 4 * 1024 * 1024;
    private readonly StringBuilder _text = new();
    private readonly Lock _gate = new();
    private bool _truncated;

    public void Append(string prefix, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            if (_text.Length > MaxChars)
            {
                _truncated = true;
                return;
            }
            _text.Append(prefix).Append(line).Append('\n');
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return _truncated ? _text + "[... output truncated ...]\n" : _text.ToString();
        }
    }

    /// <summary>The last <paramref name="maxChars"/> characters, for assertion messages.</summary>
    public string Tail(int maxChars = 6000)
    {
        var all = ToString();
        return all.Length <= maxChars ? all : "[...]\n" + all[^maxChars..];
    }
}

/// <summary>Starting, stopping and signalling child processes.</summary>
public static partial class Processes
{
    private const int SIGTERM = 15;

    /// <summary>
    /// The dotnet host that runs this test (the SDK sets DOTNET_HOST_PATH for `dotnet test`),
    /// so `tandem.dll` runs on the same runtime; plain "dotnet" from PATH otherwise.
    /// </summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : "dotnet";

    /// <summary>Finds a program on PATH (and the sbin directories, where Debian puts daemons).</summary>
    public static string? FindOnPath(string program)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/sbin", "/usr/sbin", "/sbin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        return psi;
    }

    public static string Describe(ProcessStartInfo psi) =>
        string.Join(' ', new[] { psi.FileName }.Concat(psi.ArgumentList.Select(a => a.Contains(' ') ? $"'{a}'" : a)));

    /// <summary>Runs a command to completion; kills it (and its children) after <paramref name="timeout"/>.</summary>
    public static async Task<CommandResult> RunAsync(ProcessStartInfo psi, TimeSpan timeout)
    {
        using var process = new Process { StartInfo = psi };
        var stdout = new OutputBuffer();
        var stderr = new OutputBuffer();
        process.OutputDataReceived += (_, e) => stdout.Append("", e.Data);
        process.ErrorDataReceived += (_, e) => stderr.Append("", e.Data);
        process.Start();
        process.StandardInput.Close(); // nothing to read: a prompt must not hang a test
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        return new CommandResult(Describe(psi), timedOut ? -1 : process.ExitCode, stdout.ToString(), stderr.ToString(), timedOut);
    }

    /// <summary>Asks a process to stop (SIGTERM), as systemd or an operator would.</summary>
    public static void Terminate(int pid)
    {
        if (kill(pid, SIGTERM) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new InvalidOperationException($"kill({pid}, SIGTERM) failed with errno {errno}");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}

/// <summary>
/// A long-running child process (a SIP server) whose stdout and stderr are captured. Disposing
/// it kills the process and its children by PID, so a failed test never leaves a server behind.
/// </summary>
public sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BackgroundProcess(Process process, string command)
    {
        _process = process;
        Command = command;
    }

    public string Command { get; }

    public int Pid => _process.Id;

    public OutputBuffer Output { get; } = new();

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static BackgroundProcess Start(ProcessStartInfo psi)
    {
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var background = new BackgroundProcess(process, Processes.Describe(psi));
        process.OutputDataReceived += (_, e) => background.Output.Append("", e.Data);
        process.ErrorDataReceived += (_, e) => background.Output.Append("[stderr] ", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return background;
    }

    /// <summary>Waits for the process to exit; returns its exit code, or null on timeout (it keeps running).</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Writes one line to the process's standard input (e.g. a command for baresip).</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Sends SIGTERM and waits for the process to exit; returns its exit code, or null on timeout.</summary>
    public async Task<int?> StopGracefullyAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            Processes.Terminate(_process.Id);
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped: nothing left to kill.
        }
        catch (OperationCanceledException)
        {
            // It ignored SIGKILL for 10 s (zombie parent?): nothing more a test can do.
        }
        _process.Dispose();
    }
}
