using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>What the server should record for a call (checked where the server keeps CDRs).</summary>
/// <param name="Disposition">"answered", "busy", "no-answer", "failed" or "cancelled".</param>
/// <param name="FinalStatus">The final response the caller got for its (last) INVITE.</param>
public sealed record ExpectedCdr(string Disposition, int FinalStatus);

/// <summary>A call made by a SIPp UAC; <see cref="CallIdToken"/> is in its Call-ID (-cid_str).</summary>
public sealed record PlacedCall(SippResult Result, string CallIdToken);

/// <summary>
/// Calls through a registrar + record-routing proxy, with real SIPp user agents on both sides:
/// phones REGISTER (tests/sipp/register-auth.xml from the port they then answer on) and answer
/// with a uas-*.xml scenario; callers run a uac-*.xml scenario. Every test starts its own
/// server (users alice, bob and carol; 127.0.0.2 is a trusted peer) and checks both ends, so a
/// call only passes when caller and callee each saw exactly what they expected. Subclasses
/// choose the server: Kamailio (tests/kamailio/proxy.cfg.in) proves the scenarios and this
/// harness; Tandem is what they are for. Calls use UDP.
/// </summary>
public abstract class CallScenarioTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>A trunk/gateway that the server trusts by source address (SIPp runs with -i 127.0.0.2).</summary>
    protected const string TrustedPeerIp = "127.0.0.2";

    /// <summary>How long a caller lets an answered call last before BYE (-d).</summary>
    private const int CallDurationMs = 500;

    protected static readonly TestUser Alice = TestUser.Alice;
    protected static readonly TestUser Bob = TestUser.Bob;
    protected static readonly TestUser Carol = TestUser.Carol;

    /// <summary>The caller identity a trusted trunk uses: not a local account (it never authenticates).</summary>
    protected static readonly TestUser Trunk = new("15551234567", "example.com", "never-used");

    private readonly List<ISipServer> _servers = [];
    private readonly List<(string Name, RunningSipp Sipp)> _agents = [];
    private readonly List<BaresipPhone> _softphones = [];

    protected ITestOutputHelper TestOutput { get; } = output;

    protected abstract Task<ISipServer> CreateServerAsync(ServerSettings settings);

    /// <summary>Checks the call detail record of a call; servers without CDRs (Kamailio here) check nothing.</summary>
    protected virtual Task AssertCdrAsync(ISipServer server, PlacedCall call, ExpectedCdr expected) => Task.CompletedTask;

    protected async Task<ISipServer> StartServerAsync(CallRouting? routing = null)
    {
        routing ??= new CallRouting { TrustedPeers = [TrustedPeerIp] };
        var server = await CreateServerAsync(new ServerSettings([Alice, Bob, Carol], Routing: routing));
        _servers.Add(server);
        return server;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var phone in _softphones)
        {
            TestOutput.WriteLine($"===== baresip {phone.User.Aor} output =====\n{phone.Output()}");
            await phone.DisposeAsync();
        }
        foreach (var (name, sipp) in _agents)
        {
            if (!sipp.HasExited)
            {
                TestOutput.WriteLine($"===== {name} (SIPp) still running at the end: killed =====");
            }
            await sipp.DisposeAsync();
        }
        foreach (var server in _servers)
        {
            TestOutput.WriteLine($"===== {server.Name} output =====\n{server.Output()}");
            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// A SIPp phone for <paramref name="user"/>: registers from a free port with
    /// register-auth.xml, then runs <paramref name="scenario"/> (a uas-*.xml) on that port.
    /// </summary>
    protected async Task<RunningSipp> StartPhoneAsync(ISipServer server, TestUser user, string scenario, int timeoutSeconds = 30)
    {
        var port = FreePorts.Next();
        var registration = await Sipp.RunAsync(new SippOptions("register-auth")
        {
            Server = server.Endpoint,
            Users = [user],
            LocalPort = port,
            TimeoutSeconds = 10,
        });
        AssertPassed(registration, server, $"{user.Aor} registers its phone at 127.0.0.1:{port}");
        return await StartAgentAsync($"{user.User}'s phone ({scenario})", scenario, port, timeoutSeconds);
    }

    /// <summary>A SIPp UAS that is not registered (a gateway the server is configured to use).</summary>
    protected async Task<RunningSipp> StartAgentAsync(string name, string scenario, int? port = null, int timeoutSeconds = 30)
    {
        var agent = await Sipp.StartAsync(new SippOptions(scenario) { LocalPort = port, TimeoutSeconds = timeoutSeconds });
        _agents.Add((name, agent));
        await agent.WaitUntilListeningAsync();
        return agent;
    }

    /// <summary>
    /// Runs a caller scenario (uac-*.xml) to <paramref name="callee"/> (the Request-URI user, in
    /// the caller's domain) and returns what it did; the Call-ID carries a fresh token.
    /// </summary>
    protected async Task<PlacedCall> CallAsync(
        ISipServer server, string scenario, TestUser caller, string callee, string localIp = "127.0.0.1", int timeoutSeconds = 30)
    {
        var token = "e2e" + Guid.NewGuid().ToString("N")[..16];
        var result = await Sipp.RunAsync(new SippOptions(scenario)
        {
            Server = server.Endpoint,
            Users = [caller],
            LocalIp = localIp,
            TimeoutSeconds = timeoutSeconds,
            ExtraArguments = ["-s", callee, "-d", CallDurationMs.ToString(System.Globalization.CultureInfo.InvariantCulture), "-cid_str", token + "-%u@%s"],
        });
        TestOutput.WriteLine($"sipp {scenario} {caller.Aor} -> {callee}: exit code {result.ExitCode}");
        return new PlacedCall(result, token);
    }

    protected static void AssertPassed(SippResult result, ISipServer server, string what) =>
        Assert.True(result.Succeeded,
            $"{what}: SIPp failed against {server.Name} (exit code {result.ExitCode}).\n{result}\n" +
            $"--- {server.Name} output ---\n{server.OutputTail()}");

    /// <summary>Waits for a SIPp phone or gateway to finish its scenario and asserts it passed.</summary>
    protected static async Task AssertAgentPassedAsync(RunningSipp agent, ISipServer server, string what) =>
        AssertPassed(await agent.WaitAsync(), server, what);

    protected BaresipPhone StartSoftphone(ISipServer server, TestUser user, bool autoAnswer)
    {
        var phone = BaresipPhone.Start(user, server.Endpoint, autoAnswer);
        _softphones.Add(phone);
        return phone;
    }

    [Fact]
    public async Task Basic_call_is_record_routed_and_ends_with_bye()
    {
        var server = await StartServerAsync();
        var bob = await StartPhoneAsync(server, Bob, "uas-answer");

        var call = await CallAsync(server, "uac-call", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob: 407, INVITE with credentials, 180, 200 with Record-Route, ACK, BYE, 200");
        await AssertAgentPassedAsync(bob, server, "bob's phone: INVITE with Record-Route, answered, ACK and BYE arrive");
        // ACK and BYE carried the Route set learnt from the 200's Record-Route.
        var messages = call.Result.MessageLog;
        Assert.True(messages.Contains("\nRoute: <sip:", StringComparison.OrdinalIgnoreCase),
            $"the caller's ACK/BYE should carry a Route header built from the Record-Route:\n{call.Result}");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Unauthenticated_invite_is_challenged_with_407_then_the_call_connects()
    {
        var server = await StartServerAsync();
        var bob = await StartPhoneAsync(server, Bob, "uas-answer");

        var call = await CallAsync(server, "uac-call", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob");
        await AssertAgentPassedAsync(bob, server, "bob's phone answers");
        var messages = call.Result.MessageLog;
        Assert.True(messages.Contains("SIP/2.0 407", StringComparison.Ordinal) && messages.Contains("Proxy-Authorization:", StringComparison.OrdinalIgnoreCase),
            $"the first INVITE should get 407 and the second carry Proxy-Authorization:\n{call.Result}");
        // The phone saw one INVITE only: the unauthenticated one never left the proxy.
        var phoneLog = (await bob.WaitAsync()).MessageLog;
        Assert.Equal(1, CountRequests(phoneLog, "INVITE"));
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Cancel_while_ringing_reaches_the_callee_and_the_caller_gets_487()
    {
        var server = await StartServerAsync();
        var bob = await StartPhoneAsync(server, Bob, "uas-no-answer");

        var call = await CallAsync(server, "uac-cancel", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob and cancels while it rings: 200 for the CANCEL, 487 for the INVITE");
        await AssertAgentPassedAsync(bob, server, "bob's phone rings, gets the CANCEL, answers 200 + 487, gets the ACK");
        await AssertCdrAsync(server, call, new ExpectedCdr("cancelled", 487));
    }

    [Fact]
    public async Task Call_to_an_unknown_user_gets_404()
    {
        var server = await StartServerAsync();

        var call = await CallAsync(server, "uac-expect-404", Alice, "nobody");

        AssertPassed(call.Result, server, "alice calls a user that does not exist: 404");
        await AssertCdrAsync(server, call, new ExpectedCdr("failed", 404));
    }

    [Fact]
    public async Task Busy_callee_without_forwarding_gives_the_caller_486()
    {
        var server = await StartServerAsync();
        var bob = await StartPhoneAsync(server, Bob, "uas-busy");

        var call = await CallAsync(server, "uac-expect-busy", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob, who is busy: 486 reaches alice");
        await AssertAgentPassedAsync(bob, server, "bob's phone answers 486 and gets the ACK");
        await AssertCdrAsync(server, call, new ExpectedCdr("busy", 486));
    }

    [Fact]
    public async Task Trusted_peer_calls_a_user_without_a_challenge()
    {
        var server = await StartServerAsync();
        var bob = await StartPhoneAsync(server, Bob, "uas-answer");

        var call = await CallAsync(server, "uac-call-noauth", Trunk, Bob.User, localIp: TrustedPeerIp);

        AssertPassed(call.Result, server, $"a trunk at {TrustedPeerIp} calls bob with no credentials and is not challenged");
        await AssertAgentPassedAsync(bob, server, "bob's phone answers the trunk's call");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Two_contacts_ring_in_parallel_and_the_other_is_cancelled_when_one_answers()
    {
        var server = await StartServerAsync();
        // Both of bob's phones are registered before the call; one rings forever, the other answers.
        var ringing = await StartPhoneAsync(server, Bob, "uas-no-answer");
        var answering = await StartPhoneAsync(server, Bob, "uas-answer");

        var call = await CallAsync(server, "uac-call", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob, who has two phones: the call connects");
        await AssertAgentPassedAsync(answering, server, "bob's answering phone: INVITE, 200, ACK, BYE");
        await AssertAgentPassedAsync(ringing, server, "bob's other phone rang in parallel and got a CANCEL when the first answered");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Two_baresip_softphones_register_and_call_each_other()
    {
        var server = await StartServerAsync();
        var timeout = TimeSpan.FromSeconds(15);
        var bob = StartSoftphone(server, Bob, autoAnswer: true);
        var alice = StartSoftphone(server, Alice, autoAnswer: false);
        await bob.WaitForAsync("registered successfully", timeout, "bob registered");
        await alice.WaitForAsync("registered successfully", timeout, "alice registered");

        await alice.CommandAsync($"/dial sip:{Bob.Aor}");
        await alice.WaitForAsync("Call established", timeout, "alice's call to bob is established");
        await bob.WaitForAsync("Call established", timeout, "bob (auto-answer) has the call established");

        await Task.Delay(1000); // a moment of (silent) media
        await alice.CommandAsync("/hangup");
        await alice.WaitForAsync(@"Call with sip:bob@example\.com terminated", timeout, "alice's call ended");
        await bob.WaitForAsync(@"Call with sip:alice@example\.com terminated", timeout, "bob saw the BYE (through the proxy)");
    }

    private static int CountRequests(string messageLog, string method) =>
        messageLog.Split('\n').Count(line => line.StartsWith(method + " sip:", StringComparison.Ordinal));
}
