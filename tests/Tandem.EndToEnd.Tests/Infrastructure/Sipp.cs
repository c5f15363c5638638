using System.Net;
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
        var binary = Binary;
        var work = Directory.CreateTempSubdirectory("tandem-sipp-");
        try
        {
            var localPort = FreePorts.Next();
            var errorFile = Path.Combine(work.FullName, "errors.log");
            var messageFile = Path.Combine(work.FullName, "messages.log");
            var args = new List<string>
            {
                $"{server.Address}:{server.Port}",
                "-sf", RepoPaths.Scenario(scenario),
                "-i", "127.0.0.1",
                "-p", localPort.ToString(),
                "-t", transport == SipTransport.Udp ? "u1" : "t1",
                "-m", calls.ToString(),
                "-timeout", $"{timeoutSeconds}s",
                "-timeout_error",
                "-nostdin",
                "-trace_err", "-error_file", errorFile,
                "-trace_msg", "-message_file", messageFile,
            };
            if (users is { Count: > 0 })
            {
                var csv = Path.Combine(work.FullName, "users.csv");
                await File.WriteAllTextAsync(csv, InjectionFile(users));
                args.AddRange(["-inf", csv]);
            }
            if (extraArguments is not null)
            {
                args.AddRange(extraArguments);
            }

            var psi = Processes.StartInfo(binary, args, work.FullName);
            var result = await Processes.RunAsync(psi, TimeSpan.FromSeconds(timeoutSeconds + 15));
            return new SippResult(result, ReadIfExists(errorFile), ReadIfExists(messageFile), localPort);
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temp directory is harmless.
            }
        }
    }

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}
