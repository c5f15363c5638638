using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

public enum SipTransport
{
    Udp,
    Tcp,
}

/// <summary>A SIP account used by a test. The digest realm is the domain.</summary>
public sealed record TestUser(string User, string Domain, string Password)
{
    public string Aor => $"{User}@{Domain}";

    public static TestUser Alice { get; } = new("alice", "example.com", "alice-secret-1");

    public static TestUser Bob { get; } = new("bob", "example.com", "bob-secret-2");

    public static TestUser Carol { get; } = new("carol", "example.com", "carol-secret-3");
}

/// <summary>What one SIPp run did. <see cref="ToString"/> is written for assertion messages.</summary>
public sealed record SippResult(CommandResult Command, string ErrorLog, string MessageLog, int LocalPort)
{
    public int ExitCode => Command.ExitCode;

    /// <summary>SIPp exits 0 only when every call of the scenario succeeded.</summary>
    public bool Succeeded => ExitCode == 0 && !Command.TimedOut;

    public override string ToString() =>
        $"{Command}\n--- sipp error log (-trace_err) ---\n{ErrorLog}\n--- sipp messages (-trace_msg) ---\n{Tail(MessageLog, 8000)}";

    private static string Tail(string text, int max) => text.Length <= max ? text : "[...]\n" + text[^max..];
}

/// <summary>
/// Runs the SIPp scenarios of tests/sipp against a server. Every run is bounded: -m (call
/// count), -timeout with -timeout_error (a run that hangs fails), -nostdin (no keyboard), plus
/// a process-level kill if SIPp itself hangs. Errors and messages go to files in a private
/// directory and come back in the result.
/// </summary>
public static class Sipp
{
    public const string MissingMessage =
        "sipp is not installed (Debian package 'sip-tester'). The end-to-end tests need it: " +
        "run ./scripts/test.sh, which installs it, or apt-get install sip-tester.";

    /// <summary>Path of the sipp binary; throws (the test FAILS, it is not skipped) when missing.</summary>
    public static string Binary =>
        Processes.FindOnPath("sipp") ?? throw new InvalidOperationException(MissingMessage);

    /// <summary>
    /// SIPp injection file for the scenarios: user;domain;[authentication ...]. SIPp 3.6 cannot
    /// nest [field] inside [authentication], so the whole keyword is a field.
    /// </summary>
    public static string InjectionFile(IEnumerable<TestUser> users)
    {
        var text = new StringBuilder("SEQUENTIAL\n");
        foreach (var u in users)
        {
            text.Append(u.User).Append(';').Append(u.Domain)
                .Append(";[authentication username=").Append(u.User).Append(" password=").Append(u.Password).Append("]\n");
        }
        return text.ToString();
    }

    public static async Task<SippResult> RunAsync(
        string scenario,
        IPEndPoint server,
        SipTransport transport,
        IReadOnlyList<TestUser>? users = null,
        IEnumerable<string>? extraArguments = null,
        int calls = 1,
        int timeoutSeconds = 30)
    {
        var options = new SippOptions(scenario)
        {
            Server = server,
            Transport = transport,
            Users = users,
            ExtraArguments = extraArguments?.ToList() ?? [],
            Calls = calls,
            TimeoutSeconds = timeoutSeconds,
        };
        return await RunAsync(options);
    }

    /// <summary>Runs SIPp to completion.</summary>
    public static async Task<SippResult> RunAsync(SippOptions options)
    {
        await using var running = await StartAsync(options);
        return await running.WaitAsync();
    }

    /// <summary>
    /// Starts SIPp in the background (a UAS waiting for calls, or a UAC that runs while the
    /// test does something else). Await <see cref="RunningSipp.WaitAsync"/> for the result;
    /// disposing it kills SIPp by PID if it is still running.
    /// </summary>
    public static async Task<RunningSipp> StartAsync(SippOptions options)
    {
        var binary = Binary;
        var work = Directory.CreateTempSubdirectory("tandem-sipp-");
        var localPort = options.LocalPort ?? FreePorts.Next();
        var errorFile = Path.Combine(work.FullName, "errors.log");
        var messageFile = Path.Combine(work.FullName, "messages.log");
        var args = await ArgumentsAsync(options, work, localPort, errorFile, messageFile);

        var psi = Processes.StartInfo(binary, args, work.FullName);
        var process = BackgroundProcess.Start(psi);
        return new RunningSipp(process, work, errorFile, messageFile, localPort, TimeSpan.FromSeconds(options.TimeoutSeconds + 15));
    }

    /// <summary>
    /// SIPp's command line for <paramref name="options"/> (the injection file, if any, is written
    /// to <paramref name="work"/>). Shared by <see cref="StartAsync"/> and runs inside a namespace.
    /// </summary>
    public static async Task<List<string>> ArgumentsAsync(SippOptions options, DirectoryInfo work, int localPort, string errorFile, string messageFile)
    {
        var args = new List<string>();
        if (options.Server is { } server)
        {
            args.Add($"{server.Address}:{server.Port}");
        }
        args.AddRange(
        [
            "-sf", RepoPaths.Scenario(options.Scenario),
            "-i", options.LocalIp,
            "-p", localPort.ToString(CultureInfo.InvariantCulture),
            "-t", options.Transport == SipTransport.Udp ? "u1" : "t1",
            "-m", options.Calls.ToString(CultureInfo.InvariantCulture),
            "-timeout", $"{options.TimeoutSeconds}s",
            "-timeout_error",
            "-nostdin",
            "-trace_err", "-error_file", errorFile,
            "-trace_msg", "-message_file", messageFile,
        ]);
        if (options.Users is { Count: > 0 })
        {
            var csv = Path.Combine(work.FullName, "users.csv");
            await File.WriteAllTextAsync(csv, InjectionFile(options.Users));
            args.AddRange(["-inf", csv]);
        }
        args.AddRange(options.ExtraArguments);
        return args;
    }

    internal static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}

/// <summary>One SIPp run. <see cref="Server"/> null: SIPp is a server (UAS) waiting for requests.</summary>
public sealed record SippOptions(string Scenario)
{
    public IPEndPoint? Server { get; init; }

    public SipTransport Transport { get; init; } = SipTransport.Udp;

    public IReadOnlyList<TestUser>? Users { get; init; }

    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>-m: calls to make (UAC) or to take (UAS) before SIPp exits.</summary>
    public int Calls { get; init; } = 1;

    /// <summary>-timeout: the whole run fails after this long.</summary>
    public int TimeoutSeconds { get; init; } = 30;

    /// <summary>-p: the local SIP port; null picks a free one.</summary>
    public int? LocalPort { get; init; }

    /// <summary>-i: the local address (any 127.0.0.0/8 address works on Linux, e.g. 127.0.0.2 for a trusted peer).</summary>
    public string LocalIp { get; init; } = "127.0.0.1";
}

/// <summary>A SIPp process started by <see cref="Sipp.StartAsync"/>.</summary>
public sealed class RunningSipp : IAsyncDisposable
{
    private readonly BackgroundProcess _process;
    private readonly DirectoryInfo _work;
    private readonly string _errorFile;
    private readonly string _messageFile;
    private readonly TimeSpan _killAfter;
    private SippResult? _result;

    internal RunningSipp(BackgroundProcess process, DirectoryInfo work, string errorFile, string messageFile, int localPort, TimeSpan killAfter)
    {
        _process = process;
        _work = work;
        _errorFile = errorFile;
        _messageFile = messageFile;
        _killAfter = killAfter;
        LocalPort = localPort;
    }

    public int LocalPort { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>What SIPp has printed to its message log so far (it writes as it goes).</summary>
    public string MessagesSoFar()
    {
        try
        {
            using var stream = new FileStream(_messageFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// Waits until SIPp has bound its UDP port (a server is then ready for requests): binding
    /// the same port fails once SIPp holds it. Throws with SIPp's output if it exits first.
    /// </summary>
    public async Task WaitUntilListeningAsync(string localIp = "127.0.0.1", int timeoutMs = 5000)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < timeoutMs)
        {
            if (_process.HasExited)
            {
                var result = await WaitAsync();
                throw new InvalidOperationException($"SIPp exited before it listened on {localIp}:{LocalPort}.\n{result}");
            }
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                probe.Bind(new IPEndPoint(IPAddress.Parse(localIp), LocalPort));
            }
            catch (SocketException)
            {
                return; // taken: SIPp has it
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"SIPp did not bind udp:{localIp}:{LocalPort} within {timeoutMs} ms.\n{_process.Output.Tail()}");
    }

    /// <summary>Waits for SIPp to finish (killing it after its -timeout plus 15 s) and returns what it did.</summary>
    public async Task<SippResult> WaitAsync()
    {
        if (_result is not null)
        {
            return _result;
        }
        var exit = await _process.WaitForExitAsync(_killAfter);
        var timedOut = exit is null;
        if (timedOut)
        {
            await _process.DisposeAsync(); // kills it by PID
        }
        var output = _process.Output.ToString();
        var command = new CommandResult(_process.Command, timedOut ? -1 : _process.ExitCode, output, "", timedOut);
        _result = new SippResult(command, Sipp.ReadIfExists(_errorFile), Sipp.ReadIfExists(_messageFile), LocalPort);
        return _result;
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory is harmless.
        }
    }
}
