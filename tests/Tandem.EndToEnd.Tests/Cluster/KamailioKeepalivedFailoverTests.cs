using System.Diagnostics;
using System.Globalization;
using System.Net;
using Tandem.Cluster.Addresses;
using Tandem.EndToEnd.Tests.Infrastructure;
using Tandem.Lab.Failover.Kamailio;
using Tandem.Lab.Netns;
using Xunit.Abstractions;
using LabCommandResult = Tandem.Cluster.Addresses.CommandResult;

namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// The classic design of the failover lab (src/Tandem.Lab/Failover/Kamailio): Kamailio with DMQ usrloc replication
/// on nodes a and b behind keepalived VRRP, in network namespaces. A client registers through the VIP with digest
/// auth (real SIPp), the holder a is killed (kill -9 of keepalived and every Kamailio process), b takes the VIP and
/// a REGISTER query sent to b's own address shows the binding DMQ replicated. Then a restarts, copies the
/// registrations back from b (DMQ sync) and, with preempt on as in the theses, takes the VIP back. Runs at the
/// theses' advert interval (1 s, VRRPv2) and at the smallest keepalived accepts (10 ms, VRRPv3); the gap from
/// the kill to the first answered OPTIONS is printed, not asserted tightly.
/// </summary>
[Trait("Category", "Lab")]
public sealed class KamailioKeepalivedFailoverTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1000)]
    [InlineData(10)]
    public async Task Kill9OfTheHolderMovesTheVipToBWhichHasTheReplicatedBinding(int advertMs)
    {
        var overall = Stopwatch.StartNew();
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var client = await lab.AddHostAsync("client", "198.18.0.2/24");
        var options = new KamailioLabOptions { AdvertInterval = TimeSpan.FromMilliseconds(advertMs), Users = KamailioLabOptions.DefaultUsers(2) };
        await using var system = await KamailioKeepalivedSystem.CreateAsync(lab, options, output.WriteLine);
        await lab.WaitForLinksAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        await system.StartAsync(timeout.Token);
        // Contains, not Equal: at 10 ms adverts a busy machine can make b take over for a moment (see the transitions printed at the end).
        Assert.Contains("a", await system.HoldersAsync(timeout.Token));
        output.WriteLine($"[{overall.Elapsed.TotalSeconds:F1} s] {system.Name}: a holds {system.ServiceAddress}");

        var (user, password) = system.Users[0];
        var vip = new IPEndPoint(system.ServiceAddress, system.SipPort);
        var register = await RunSippAsync(client, "register-auth", vip, user, password, system.Domain);
        Assert.True(register.Succeeded, $"REGISTER with digest auth via the VIP failed:\n{register}\n{system.Output("a")}");
        Assert.True(await WaitForContactsAsync(system, "b", 1, TimeSpan.FromSeconds(3)), $"DMQ did not replicate the binding to b\n{system.Output("a")}\n{system.Output("b")}");
        output.WriteLine($"[{overall.Elapsed.TotalSeconds:F1} s] {user} registered through the VIP (digest auth); DMQ copied the binding to b");

        // kill -9 of a while OPTIONS go to the VIP every 10 ms: the gap is from the last answered OPTIONS sent before
        // the kill to the first answered one sent after it.
        using var ping = new SipOptionsPing(client);
        Assert.True(await ping.TryAsync(vip, TimeSpan.FromSeconds(1)), "the VIP does not answer OPTIONS before the kill");
        using var stopPinging = new CancellationTokenSource();
        var answers = new List<(long Sent, bool Answered)>();
        var pinger = Task.Run(async () =>
        {
            while (!stopPinging.IsCancellationRequested)
            {
                var sent = Stopwatch.GetTimestamp();
                var answered = await ping.TryAsync(vip, TimeSpan.FromMilliseconds(20));
                lock (answers)
                {
                    answers.Add((sent, answered));
                }
                if (!answered)
                {
                    continue;
                }
                await Task.Delay(10);
            }
        });
        await Task.Delay(200);
        var crashStarted = Stopwatch.GetTimestamp();
        await system.CrashAsync("a");
        var crashReturned = Stopwatch.GetTimestamp();
        // From this moment every process of a is stopped (then killed): an answer to anything sent later is b's.
        var crashAt = system.LastCrashStoppedAt;
        var recovered = Stopwatch.StartNew();
        while (recovered.Elapsed < TimeSpan.FromSeconds(15) && !HasAnswerAfter(answers, crashAt))
        {
            await Task.Delay(10);
        }
        await stopPinging.CancelAsync();
        await pinger;
        Assert.True(HasAnswerAfter(answers, crashAt), $"nobody answered on {vip} within 15 s of kill -9 a\n{system.Output("b")}");
        var lastBefore = answers.Last(x => x.Answered && x.Sent < crashAt).Sent;
        var firstAfter = answers.First(x => x.Answered && x.Sent > crashAt).Sent;
        var gap = Stopwatch.GetElapsedTime(lastBefore, firstAfter);
        var sinceKill = Stopwatch.GetElapsedTime(crashAt, firstAfter);
        output.WriteLine($"CrashAsync stopped a's processes after {Stopwatch.GetElapsedTime(crashStarted, crashAt).TotalMilliseconds:F0} ms and returned after {Stopwatch.GetElapsedTime(crashStarted, crashReturned).TotalMilliseconds:F0} ms");
        // a's namespace keeps its copy of the VIP (nobody removed it: its keepalived died), but b's gratuitous ARP
        // pointed the client at b.
        var holders = await system.HoldersAsync(timeout.Token);
        Assert.Contains("b", holders);
        output.WriteLine($"[{overall.Elapsed.TotalSeconds:F1} s] {system.Name}: kill -9 a -> b answers OPTIONS sent {sinceKill.TotalMilliseconds:F0} ms after a stopped (service gap {gap.TotalMilliseconds:F0} ms); VIP configured on [{string.Join(", ", holders)}]");

        // The binding made through a is on b: a REGISTER query (no Contact) to b's own address lists it.
        var query = await RunSippAsync(client, "register-query", new IPEndPoint(IPAddress.Parse("198.18.0.12"), system.SipPort), user, password, system.Domain);
        Assert.True(query.Succeeded, $"REGISTER query on b does not list the binding made through a:\n{query}\n{system.Output("b")}");
        output.WriteLine($"[{overall.Elapsed.TotalSeconds:F1} s] b lists the binding registered through a (DMQ usrloc)");

        // a restarts: DMQ sync copies the binding back, then keepalived (preempt) moves the VIP back to a.
        var restart = Stopwatch.StartNew();
        await system.RestartAsync("a", timeout.Token);
        Assert.Contains("a", await system.HoldersAsync(timeout.Token));
        Assert.True(await system.ContactCountAsync("a", timeout.Token) >= 1, "restarted a did not get the binding back from b");
        var back = await RunSippAsync(client, "register-query", vip, user, password, system.Domain);
        Assert.True(back.Succeeded, $"REGISTER query via the VIP after a's return:\n{back}\n{system.Output("a")}");
        foreach (var node in system.Nodes)
        {
            // VRRP state changes: at 10 ms adverts a loaded machine can make the backup miss 3 adverts and flap.
            var states = system.Output(node).Split('\n').Where(l => l.Contains("Entering", StringComparison.Ordinal) && l.Contains("STATE", StringComparison.Ordinal)).ToList();
            output.WriteLine($"keepalived {node} (current process): {states.Count} VRRP state changes\n  {string.Join("\n  ", states.Take(8))}");
        }
        output.WriteLine($"[{overall.Elapsed.TotalSeconds:F1} s] a restarted in {restart.ElapsedMilliseconds} ms, synced its registrations from b and holds the VIP again");
    }

    /// <summary>The other failures the lab injects, at the smallest advert interval (fast): SIGSTOP of the holder
    /// (b takes over; after SIGCONT a preempts back), graceful stop (keepalived's priority-0 advert hands over and a
    /// removes its VIP), restart.</summary>
    [Fact]
    public async Task FreezeThawStopAndRestartMoveTheVipAsVrrpSays()
    {
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var client = await lab.AddHostAsync("client", "198.18.0.2/24");
        var options = new KamailioLabOptions { AdvertInterval = KamailioLabOptions.MinimumAdvertInterval, Users = KamailioLabOptions.DefaultUsers(1) };
        await using var system = await KamailioKeepalivedSystem.CreateAsync(lab, options, output.WriteLine);
        await lab.WaitForLinksAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await system.StartAsync(timeout.Token);
        using var ping = new SipOptionsPing(client);
        var vip = new IPEndPoint(system.ServiceAddress, system.SipPort);

        await system.FreezeAsync("a");
        var frozen = Stopwatch.StartNew();
        Assert.True(await WaitForHoldersAsync(system, h => h.Contains("b"), TimeSpan.FromSeconds(5)), $"b did not take the VIP from frozen a\n{system.Output("b")}");
        Assert.True(await ping.WaitForAnswerAsync(vip, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20), timeout.Token) is not null, "nobody answers on the VIP while a is frozen");
        output.WriteLine($"SIGSTOP a -> b holds and answers after {frozen.ElapsedMilliseconds} ms; holders [{string.Join(", ", await system.HoldersAsync(timeout.Token))}]");

        await system.ThawAsync("a");
        Assert.True(await WaitForHoldersAsync(system, h => h.SequenceEqual(["a"]), TimeSpan.FromSeconds(5)), $"a did not take the VIP back after SIGCONT\n{system.Output("a")}\n{system.Output("b")}");
        Assert.True(await ping.WaitForAnswerAsync(vip, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20), timeout.Token) is not null, "nobody answers on the VIP after a was thawed");
        output.WriteLine("SIGCONT a -> a (higher priority, preempt) holds the VIP again");

        var stopping = Stopwatch.StartNew();
        await system.StopAsync("a", timeout.Token);
        Assert.True(await WaitForHoldersAsync(system, h => h.SequenceEqual(["b"]), TimeSpan.FromSeconds(5)), $"after a graceful stop of a only b should hold the VIP\n{system.Output("b")}");
        Assert.True(await ping.WaitForAnswerAsync(vip, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20), timeout.Token) is not null, "nobody answers on the VIP after a stopped");
        output.WriteLine($"SIGTERM a -> only b holds the VIP, answered {stopping.ElapsedMilliseconds} ms after the stop began");

        await system.RestartAsync("a", timeout.Token);
        Assert.Contains("a", await system.HoldersAsync(timeout.Token));
        output.WriteLine("a restarted and holds the VIP again");
    }

    /// <summary>The call loop's path: a call set up through a (INVITE with proxy auth, lookup, record-route) is hung up
    /// after a crashed and b took the VIP: the BYE follows the Record-Route (the VIP) to b, which relays it.</summary>
    [Fact]
    public async Task CallSetUpThroughAIsHungUpThroughBAfterACrash()
    {
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var client = await lab.AddHostAsync("client", "198.18.0.2/24");
        var options = new KamailioLabOptions { AdvertInterval = KamailioLabOptions.MinimumAdvertInterval, Users = KamailioLabOptions.DefaultUsers(2) };
        await using var system = await KamailioKeepalivedSystem.CreateAsync(lab, options, output.WriteLine);
        await lab.WaitForLinksAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await system.StartAsync(timeout.Token);
        var vip = new IPEndPoint(system.ServiceAddress, system.SipPort);
        var (caller, callerPassword) = system.Users[0];
        var (callee, calleePassword) = system.Users[1];

        // The callee registers from port 5080 through the VIP, then answers there (SIPp UAS).
        var register = await RunSippAsync(client, "register-auth", vip, callee, calleePassword, system.Domain, localPort: 5080);
        Assert.True(register.Succeeded, $"callee REGISTER failed:\n{register}");
        Assert.True(await WaitForContactsAsync(system, "b", 1, TimeSpan.FromSeconds(3)), "DMQ did not replicate the callee's binding to b");
        var uas = client.Start(Sipp.Binary, ["-sf", RepoPaths.Scenario("uas-answer"), "-i", "198.18.0.2", "-p", "5080", "-t", "u1", "-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"]);

        // The caller holds the call 3 s; a dies 1 s into it.
        var call = RunSippAsync(client, "uac-call", vip, caller, callerPassword, system.Domain, extra: ["-s", callee, "-d", "3000"]);
        await Task.Delay(1000);
        await system.CrashAsync("a");
        var result = await call;
        Assert.True(result.Succeeded, $"the call through a was not hung up through b:\n{result}\n{system.Output("b")}");
        Assert.Equal(0, await uas.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        output.WriteLine("call set up through a, a crashed, BYE relayed by b: both SIPp ends succeeded");
        output.WriteLine(string.Join('\n', result.Messages.Split('\n').Where(l => l.StartsWith("Record-Route", StringComparison.OrdinalIgnoreCase) || l.StartsWith("BYE ", StringComparison.Ordinal) || l.StartsWith("SIP/2.0 ", StringComparison.Ordinal) || l.Contains("message sent", StringComparison.Ordinal) || l.Contains("message received", StringComparison.Ordinal))));
    }

    private static async Task<bool> WaitForHoldersAsync(KamailioKeepalivedSystem system, Func<IReadOnlyList<string>, bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (condition(await system.HoldersAsync(CancellationToken.None)))
            {
                return true;
            }
            await Task.Delay(10);
        }
        return false;
    }

    private static bool HasAnswerAfter(List<(long Sent, bool Answered)> answers, long timestamp)
    {
        lock (answers)
        {
            return answers.Any(x => x.Answered && x.Sent > timestamp);
        }
    }

    private static async Task<bool> WaitForContactsAsync(KamailioKeepalivedSystem system, string node, int count, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await system.ContactCountAsync(node) >= count)
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>SIPp (tests/sipp) from the client's namespace, bounded in time.</summary>
    private static async Task<SippRun> RunSippAsync(NetnsHost client, string scenario, IPEndPoint server, string user, string password, string domain, int localPort = 5070, IReadOnlyList<string>? extra = null)
    {
        var work = Directory.CreateTempSubdirectory("tandem-lab-sipp-");
        try
        {
            var users = Path.Combine(work.FullName, "users.csv");
            await File.WriteAllTextAsync(users, Sipp.InjectionFile([new TestUser(user, domain, password)]));
            var messages = Path.Combine(work.FullName, "messages.log");
            var result = await CommandRunner.Instance.RunAsync("ip",
            [
                "netns", "exec", client.Namespace, Sipp.Binary, $"{server.Address}:{server.Port}",
                "-sf", RepoPaths.Scenario(scenario), "-inf", users, "-i", client.Address!.ToString(), "-p", localPort.ToString(CultureInfo.InvariantCulture),
                "-t", "u1", "-m", "1", "-timeout", "10s", "-timeout_error", "-nostdin", "-trace_msg", "-message_file", messages,
                .. extra ?? [],
            ], TimeSpan.FromSeconds(20));
            return new SippRun(result, File.Exists(messages) ? await File.ReadAllTextAsync(messages) : "");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private sealed record SippRun(LabCommandResult Command, string Messages)
    {
        public bool Succeeded => Command.ExitCode == 0;

        public override string ToString() => $"sipp exit {Command.ExitCode.ToString(CultureInfo.InvariantCulture)}\n{Command.StandardOutput[^Math.Min(2000, Command.StandardOutput.Length)..]}\n--- messages ---\n{Messages}";
    }
}
