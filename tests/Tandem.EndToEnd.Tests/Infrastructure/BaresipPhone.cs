using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real softphone: baresip (Debian package) running headless with a generated config
/// directory, one account registered to the server under test, driven through its stdin
/// (stdio module: "/dial URI", "/hangup", "/quit"). No sound hardware: audio goes through the
/// aubridge module's "nil" device (source and player), G.711 only. Listens on 127.0.0.1 only
/// (UDP/TCP on a free port, TLS on the port after it). Disposing it asks it to quit, then kills
/// it by PID.
/// </summary>
public sealed partial class BaresipPhone : IAsyncDisposable
{
    public const string MissingMessage =
        "baresip is not installed (Debian package 'baresip-core'). The softphone tests need it: " +
        "run ./scripts/test.sh, which installs it, or apt-get install baresip-core.";

    private static readonly string[] ModuleDirectories =
        ["/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules", "/usr/local/lib/baresip/modules"];

    private readonly BackgroundProcess _process;
    private readonly DirectoryInfo _work;

    private BaresipPhone(TestUser user, BackgroundProcess process, DirectoryInfo work, int port)
    {
        User = user;
        _process = process;
        _work = work;
        Port = port;
    }

    public TestUser User { get; }

    /// <summary>Its SIP port on 127.0.0.1 (UDP and TCP).</summary>
    public int Port { get; }

    /// <summary>Everything it printed, without terminal colour codes.</summary>
    public string Output() => AnsiEscape().Replace(_process.Output.ToString(), "");

    /// <summary>
    /// Starts baresip for <paramref name="user"/>, registering to <paramref name="server"/> as its
    /// outbound proxy. <paramref name="autoAnswer"/>: answer incoming calls at once
    /// (account parameter answermode=auto).
    /// </summary>
    public static BaresipPhone Start(TestUser user, IPEndPoint server, bool autoAnswer)
    {
        var binary = Processes.FindOnPath("baresip") ?? throw new InvalidOperationException(MissingMessage);
        var modules = ModuleDirectories.FirstOrDefault(d => File.Exists(Path.Combine(d, "aubridge.so")))
            ?? throw new InvalidOperationException($"baresip modules (aubridge.so, g711.so, stdio.so) not found in {string.Join(", ", ModuleDirectories)}");
        var work = Directory.CreateTempSubdirectory("tandem-baresip-");
        var port = FreePorts.NextPair();
        var config = string.Join('\n',
            "poll_method epoll",
            $"sip_listen 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            "net_interface 127.0.0.1",
            "call_local_timeout 120",
            "audio_player aubridge,nil",
            "audio_source aubridge,nil",
            "audio_alert aubridge,nil",
            $"module_path {modules}",
            "module stdio.so",
            "module g711.so",
            "module aubridge.so",
            "module_app account.so",
            "module_app menu.so",
            "");
        File.WriteAllText(Path.Combine(work.FullName, "config"), config);
        var answer = autoAnswer ? ";answermode=auto" : "";
        File.WriteAllText(Path.Combine(work.FullName, "accounts"),
            $"<sip:{user.Aor}>;auth_pass={user.Password};outbound=\"sip:{server.Address}:{server.Port}\";regint=600{answer}\n");
        File.WriteAllText(Path.Combine(work.FullName, "contacts"), "");

        var psi = Processes.StartInfo(binary, ["-f", work.FullName], work.FullName);
        return new BaresipPhone(user, BackgroundProcess.Start(psi), work, port);
    }

    /// <summary>Types one command into baresip, e.g. "/dial sip:bob@example.com".</summary>
    public Task CommandAsync(string command) => _process.WriteLineAsync(command);

    /// <summary>Waits until its output matches <paramref name="pattern"/> (a regex); fails with the output otherwise.</summary>
    public async Task WaitForAsync(string pattern, TimeSpan timeout, string what)
    {
        var regex = new Regex(pattern, RegexOptions.IgnoreCase);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (regex.IsMatch(Output()))
            {
                return;
            }
            if (_process.HasExited)
            {
                break;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException(
            $"baresip ({User.Aor}) should show that {what} (/{pattern}/) within {timeout.TotalSeconds} s" +
            $"{(_process.HasExited ? $"; it exited with code {_process.ExitCode}" : "")}.\n--- its output ---\n{Tail(Output())}");
    }

    private static string Tail(string text) => text.Length <= 6000 ? text : "[...]\n" + text[^6000..];

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex AnsiEscape();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await CommandAsync("/quit");
                await _process.WaitForExitAsync(TimeSpan.FromSeconds(3));
            }
            catch (IOException)
            {
                // Its stdin is gone: it is exiting anyway.
            }
        }
        await _process.DisposeAsync(); // kills it by PID if /quit did not stop it
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
