using System.Diagnostics;
using System.Text.RegularExpressions;
using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;
using static Tandem.EndToEnd.Tests.Cluster.TandemClusterLab;

namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// Failures of a real cluster (<see cref="TandemClusterLab"/>: `tandem run` nodes in namespaces, SIPp
/// in a client namespace talking to the service address) with registrations and calls in flight; after
/// each failure: one holder once settled, every earlier registration on the survivor, the call set up
/// before the failure ended through the survivor with BYE → 200 and a closed CDR there, new REGISTER
/// and INVITE working, and a returning node converging to the same state digest (the
/// "Replication: converged with PEER, digest X" log line of both sides). Gaps are printed, not asserted.
/// </summary>
[Trait("Category", "Cluster")]
[Collection(ClusterCollection.Name)]
public sealed partial class ClusterStateTests(ITestOutputHelper output)
{
    private const int PhonePort = 5070;
    private const int RegistrationPort = 5071;
    private const int CallerPort = 5072;
    private const int LatePort = 5073;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    private static readonly TestUser Alice = new("alice", Domain, "alice-secret-1");
    private static readonly TestUser Bob = new("bob", Domain, "bob-secret-2");
    private static readonly TestUser Carol = new("carol", Domain, "carol-secret-3");

    private static List<TestUser> Subscribers(int count) =>
        [.. Enumerable.Range(1, count).Select(i => new TestUser($"user{i:00}", Domain, $"user{i:00}-secret"))];

    /// <summary>
    /// Two nodes + witness. REGISTERs of 20 users and a call alice → bob through a; kill -9 a; b takes the
    /// address; b has every registration, the call's BYE goes through b and gets 200, b closes the CDR;
    /// new REGISTER and INVITE work; a restarted rejoins (sticky: b keeps the address) and converges.
    /// </summary>
    [Fact]
    public async Task Kill9OfTheHolderKeepsRegistrationsAndCalls()
    {
        var users = Subscribers(20);
        await using var cluster = await CreateAsync(output, ["a", "b"], witness: true, [.. users, Alice, Bob, Carol]);
        using var probe = cluster.CreateProbe();
        await cluster.StartAsync(probe);
        var (a, b) = (cluster["a"], cluster["b"]);

        await RegisterAsync(cluster, [Bob], PhonePort);
        await RegisterAsync(cluster, users, RegistrationPort);
        cluster.Log($"{users.Count + 1} users registered through {Vip} (sync replication)");

        await using (var call = await StartCallAsync(cluster, pauseMs: 4000))
        {
            await Task.Delay(300); // the dialog record reaches b (async, milliseconds)

            var killed = Stopwatch.StartNew();
            a.Kill();
            var gap = await SipOptions.WaitForAnswerAsync(probe, VipSip, TimeSpan.FromSeconds(10));
            Assert.True(gap is not null, $"nobody answered on {Vip} within 10 s of kill -9 a\n{cluster.Logs()}");
            cluster.Log($"kill -9 a -> b answers OPTIONS on {Vip} after {killed.Elapsed.TotalMilliseconds:F0} ms");
            Assert.True(await cluster.WaitForHoldersAsync(["b"], Settle) is not null, $"b is not the only holder\n{cluster.Logs()}");

            await AssertRegisteredAsync(b, [.. users, Bob]);
            await AssertCallEndedThroughAsync(cluster, call, b);
        }

        await RegisterAsync(cluster, [Carol], LatePort);
        await using (var call = await StartCallAsync(cluster, pauseMs: 200))
        {
            await AssertCallEndedThroughAsync(cluster, call, b);
        }

        cluster.Log("after the failover: new REGISTER (carol) and a new call through b work");

        await AssertRejoinsAndConvergesAsync(cluster, a, [b], expectedHolder: "b");
        await AssertRegisteredAsync(a, [.. users, Bob, Carol]);
        cluster.PrintClusterLogs();
    }

    /// <summary>
    /// Two nodes + witness, a holds the address. (1) The link between a and b is cut while both still reach
    /// the witness and the client: nothing moves (never two holders), the service keeps answering, a
    /// registration made meanwhile reaches b after the cut heals. (2) a's switch port goes down: b takes
    /// over, has every registration; a's port comes back: a rejoins, b keeps the address, digests converge.
    /// </summary>
    [Fact]
    public async Task PartitionBetweenNodesAndLinkDownOfTheHolder()
    {
        var users = Subscribers(10);
        await using var cluster = await CreateAsync(output, ["a", "b"], witness: true, [.. users, Alice, Bob, Carol]);
        using var probe = cluster.CreateProbe();
        await cluster.StartAsync(probe);
        var (a, b) = (cluster["a"], cluster["b"]);
        await RegisterAsync(cluster, users, RegistrationPort);

        // (1) Partition between the nodes; the witness relays that each is alive.
        var (markA, markB) = (0, 0);
        var unanswered = 0;
        var probes = 0;
        await using (var sampler = cluster.SampleHolders())
        {
            await SetPartitionAsync(b, a, cut: true);
            cluster.Log("a <-> b cut (nft in b's namespace); both still reach the witness and the client");
            var until = Stopwatch.StartNew();
            while (until.Elapsed < TimeSpan.FromSeconds(3))
            {
                probes++;
                if (await SipOptions.TryAsync(probe, VipSip, TimeSpan.FromMilliseconds(200)) != true)
                {
                    unanswered++;
                }

                await Task.Delay(50);
            }

            await RegisterAsync(cluster, [Carol], LatePort);
            (markA, markB) = (a.OutputMark, b.OutputMark); // agreements logged from here on include carol
            await Task.Delay(500);
            cluster.Log($"during the partition: {sampler.Samples} holder samples, at most {sampler.MaxHolders} holder(s): {string.Join("; ", sampler.Changes)}; " +
                $"{unanswered} of {probes} OPTIONS unanswered");
            Assert.True(sampler.MaxHolders <= 1, $"two holders during a partition with a witness: {string.Join("; ", sampler.Changes)}\n{cluster.Logs()}");
            Assert.Equal(["a"], await cluster.HoldersAsync());
            // Not asserted: with the nodes cut apart, the witness is a's only other vote, and a 120 ms stall
            // of the witness process on a loaded machine makes a let go for a moment (printed above).
            Assert.True(await SipOptions.WaitForAnswerAsync(probe, VipSip, TimeSpan.FromSeconds(2)) is not null, $"a stopped answering during the partition\n{cluster.Logs()}");
        }

        await SetPartitionAsync(b, a, cut: false);
        var healed = Stopwatch.StartNew();
        var (digestA, digestB) = await WaitForConvergenceAsync(a, markA, b, markB, TimeSpan.FromSeconds(20));
        Assert.True(digestA is not null && digestA == digestB, $"a and b did not converge after the partition healed (a: {digestA}, b: {digestB})\n{cluster.Logs()}");
        cluster.Log($"partition healed: a and b converged after {healed.Elapsed.TotalMilliseconds:F0} ms, digest {digestA}");
        await AssertRegisteredAsync(b, [.. users, Carol]);

        // (2) a's cable is cut.
        await cluster.Lab.SetPortAsync(a.Host, up: false);
        var cut = Stopwatch.StartNew();
        var gap = await SipOptions.WaitForAnswerAsync(probe, VipSip, TimeSpan.FromSeconds(10));
        Assert.True(gap is not null, $"nobody answered on {Vip} within 10 s of a's link going down\n{cluster.Logs()}");
        cluster.Log($"a's link down -> b answers OPTIONS on {Vip} after {cut.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(await cluster.WaitForHoldersAsync(["b"], Settle) is not null, $"a (no quorum) did not let go, or b did not take over\n{cluster.Logs()}");
        cluster.Log($"a's link down -> b is the only holder after {cut.Elapsed.TotalMilliseconds:F0} ms");
        await AssertRegisteredAsync(b, [.. users, Carol]);
        await RegisterAsync(cluster, [Alice], LatePort);

        (markA, markB) = (a.OutputMark, b.OutputMark);
        await cluster.Lab.SetPortAsync(a.Host, up: true);
        Assert.True(await b.WaitForLogAsync("peer a up", TimeSpan.FromSeconds(20), markB), $"b did not see a again\n{cluster.Logs()}");
        (digestA, digestB) = await WaitForConvergenceAsync(a, markA, b, markB, TimeSpan.FromSeconds(20));
        Assert.True(digestA is not null && digestA == digestB, $"a and b did not converge after a's link came back (a: {digestA}, b: {digestB})\n{cluster.Logs()}");
        await Task.Delay(500);
        Assert.Equal(["b"], await cluster.HoldersAsync()); // sticky
        await AssertRegisteredAsync(a, [.. users, Carol, Alice]);
        cluster.Log($"a's link up: a rejoined, b keeps {Vip}, digests equal ({digestA})");
        cluster.PrintClusterLogs();
    }

    /// <summary>
    /// Three nodes, no witness (quorum 2 of 3). A call through a; kill -9 a: b (next in the preference)
    /// takes over, has every registration, ends the call and closes its CDR; a restarted rejoins and
    /// converges with b and c; b keeps the address (sticky).
    /// </summary>
    [Fact]
    public async Task ThreeNodesKill9AndRestartOfTheHolder()
    {
        var users = Subscribers(10);
        await using var cluster = await CreateAsync(output, ["a", "b", "c"], witness: false, [.. users, Alice, Bob, Carol]);
        using var probe = cluster.CreateProbe();
        await cluster.StartAsync(probe);
        var (a, b, c) = (cluster["a"], cluster["b"], cluster["c"]);

        await RegisterAsync(cluster, [Bob], PhonePort);
        await RegisterAsync(cluster, users, RegistrationPort);
        await using (var call = await StartCallAsync(cluster, pauseMs: 4000))
        {
            await Task.Delay(300);
            await using var sampler = cluster.SampleHolders();
            var killed = Stopwatch.StartNew();
            a.Kill();
            var gap = await SipOptions.WaitForAnswerAsync(probe, VipSip, TimeSpan.FromSeconds(10));
            Assert.True(gap is not null, $"nobody answered on {Vip} within 10 s of kill -9 a\n{cluster.Logs()}");
            cluster.Log($"kill -9 a -> {Vip} answers OPTIONS after {killed.Elapsed.TotalMilliseconds:F0} ms");
            Assert.True(await cluster.WaitForHoldersAsync(["b"], Settle) is not null, $"b (next in the preference) did not take over alone\n{cluster.Logs()}");
            cluster.Log($"holders after kill -9 a: {string.Join("; ", sampler.Changes)}");

            await AssertRegisteredAsync(b, [.. users, Bob]);
            await AssertRegisteredAsync(c, [.. users, Bob]);
            await AssertCallEndedThroughAsync(cluster, call, b);
        }

        await RegisterAsync(cluster, [Carol], LatePort);
        await AssertRejoinsAndConvergesAsync(cluster, a, [b, c], expectedHolder: "b");
        await AssertRegisteredAsync(a, [.. users, Bob, Carol]);
        cluster.PrintClusterLogs();
    }

    private static async Task RegisterAsync(TandemClusterLab cluster, List<TestUser> users, int port)
    {
        SippResult? result = null;
        // REGISTER is idempotent: one more run when SIPp gave up, which on a loaded machine happens when the
        // 401 to a retransmitted first REGISTER (SIPp retransmits after 500 ms) arrives after the 200.
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            result = await cluster.RunSippAsync(new SippOptions("register-auth")
            {
                Server = VipSip,
                Users = users,
                Calls = users.Count,
                LocalPort = port,
                ExtraArguments = ["-r", "20", "-l", "5"],
            });
            if (result.Succeeded)
            {
                return;
            }

            cluster.Log($"REGISTER run {attempt} failed (exit {result.ExitCode}); {(attempt == 1 ? "retrying" : "giving up")}: {result.ErrorLog[..Math.Min(result.ErrorLog.Length, 300)]}");
        }

        Assert.Fail($"REGISTER of {string.Join(", ", users.Select(u => u.User))} through {Vip} failed:\n{result}\n{cluster.Logs()}");
    }

    /// <summary>bob's phone answers on <see cref="PhonePort"/>; alice calls bob through the service address and, after <paramref name="pauseMs"/>, re-INVITEs and hangs up (both through whichever node holds the address then).</summary>
    private static async Task<CallInProgress> StartCallAsync(TandemClusterLab cluster, int pauseMs)
    {
        var phone = await cluster.StartSippAsync(new SippOptions("uas-answer-reinvite") { LocalPort = PhonePort, TimeoutSeconds = 30 });
        await Task.Delay(300); // SIPp binds its port
        var caller = await cluster.StartSippAsync(new SippOptions("uac-call-reinvite")
        {
            Server = VipSip,
            Users = [Alice],
            LocalPort = CallerPort,
            TimeoutSeconds = 30,
            ExtraArguments = ["-s", Bob.User, "-d", pauseMs.ToString(System.Globalization.CultureInfo.InvariantCulture)],
        });
        var call = new CallInProgress(phone, caller);
        if (!await phone.WaitForMessageAsync("ACK sip:", TimeSpan.FromSeconds(10)))
        {
            var failure = $"the call alice -> bob was not established\n--- caller ---\n{await caller.WaitAsync()}\n--- phone ---\n{await phone.WaitAsync()}\n{cluster.Logs()}";
            await call.DisposeAsync();
            Assert.Fail(failure);
        }

        cluster.Log($"call alice -> bob established (pause {pauseMs} ms before BYE)");
        return call;
    }

    /// <summary>Both SIPps succeed (the BYE got its 200), and <paramref name="survivor"/>'s CDR of the call is closed and answered.</summary>
    private static async Task AssertCallEndedThroughAsync(TandemClusterLab cluster, CallInProgress call, ClusterNode survivor)
    {
        var caller = await call.Caller.WaitAsync();
        var phone = await call.Phone.WaitAsync();
        Assert.True(caller.Succeeded, $"the caller's call (BYE -> 200 through {survivor.Id}) failed:\n{caller}\n{cluster.Logs()}");
        Assert.True(phone.Succeeded, $"bob's phone did not get the BYE:\n{phone}\n{cluster.Logs()}");
        var callId = CallIdHeader().Match(caller.MessageLog) is { Success: true } m ? m.Groups[1].Value.Trim() : throw new InvalidOperationException("no Call-ID in the caller's messages");

        CdrRow? cdr = null;
        var started = Stopwatch.StartNew();
        IReadOnlyList<CdrRow> rows = [];
        while (cdr is null && started.Elapsed < TimeSpan.FromSeconds(5))
        {
            (_, rows) = await CdrsAsync(survivor);
            cdr = rows.FirstOrDefault(r => r.CallId == callId);
            if (cdr is null)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(cdr is not null, $"{survivor.Id} has no CDR for {callId}; it has:\n{string.Join('\n', rows.Select(r => r.Line))}\n{cluster.Logs()}");
        Assert.True(cdr.DispositionIs("answered"), $"CDR on {survivor.Id}: {cdr.Line}");
        Assert.True(cdr.Fields.TryGetValue("end", out var end) && end.Length > 0, $"CDR on {survivor.Id} not closed: {cdr.Line}");
        cluster.Log($"call {callId} ended with BYE -> 200 through {survivor.Id}; its CDR there: {cdr.Line}");
    }

    private static async Task AssertRegisteredAsync(ClusterNode node, List<TestUser> users)
    {
        var list = await RegistrationsAsync(node);
        Assert.True(list.ExitCode == 0, $"registrations list on {node.Id} failed:\n{list}");
        var missing = users.Where(u => !list.Stdout.Contains($"sip:{u.Aor} ", StringComparison.Ordinal)).Select(u => u.Aor).ToList();
        Assert.True(missing.Count == 0, $"{node.Id} lacks the registrations of {string.Join(", ", missing)}:\n{list.Stdout}\n--- {node.Id} ---\n{node.Output[^Math.Min(node.Output.Length, 5000)..]}");
    }

    /// <summary>Restarts <paramref name="node"/>; it must see the others, converge with each (same digest logged on both sides) and leave the address where it is.</summary>
    private static async Task AssertRejoinsAndConvergesAsync(TandemClusterLab cluster, ClusterNode node, IReadOnlyList<ClusterNode> others, string expectedHolder)
    {
        var markNode = node.OutputMark;
        var marks = others.ToDictionary(o => o.Id, o => o.OutputMark);
        var restarted = Stopwatch.StartNew();
        node.Start();
        foreach (var other in others)
        {
            var (mine, theirs) = await WaitForConvergenceAsync(node, markNode, other, marks[other.Id], TimeSpan.FromSeconds(30));
            Assert.True(mine is not null && mine == theirs, $"{node.Id} restarted did not converge with {other.Id} ({node.Id}: {mine}, {other.Id}: {theirs})\n{cluster.Logs()}");
            cluster.Log($"{node.Id} restarted: converged with {other.Id} after {restarted.Elapsed.TotalMilliseconds:F0} ms, digest {mine}");
        }

        await Task.Delay(500);
        Assert.Equal([expectedHolder], await cluster.HoldersAsync());
    }

    [GeneratedRegex(@"Call-ID:\s*(\S+)", RegexOptions.IgnoreCase)]
    private static partial Regex CallIdHeader();

    private sealed record CallInProgress(NetnsSipp Phone, NetnsSipp Caller) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Caller.DisposeAsync();
            await Phone.DisposeAsync();
        }
    }
}
