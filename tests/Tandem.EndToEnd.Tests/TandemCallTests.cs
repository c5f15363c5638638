using System.Diagnostics;
using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>
/// The call scenarios against the real `tandem` program, plus what only Tandem has: call
/// forwarding on busy and on no answer, outbound routes with gateway failover, and a call
/// detail record with the right disposition for every call. The config keys and the CDR CLI
/// these assume are all in <see cref="TandemCallConfig"/>; the server contract is in
/// <see cref="TandemServer"/>. Feature=Calls lets CI leave them out until the proxy exists:
/// dotnet test --filter "Feature!=Calls".
/// </summary>
[Trait("Category", "EndToEnd")]
[Trait("Feature", "Calls")]
public sealed class TandemCallTests(ITestOutputHelper output) : CallScenarioTests(output)
{
    private static readonly TimeSpan CdrTimeout = TimeSpan.FromSeconds(10);

    protected override async Task<ISipServer> CreateServerAsync(ServerSettings settings) =>
        await TandemServer.StartAsync(settings);

    /// <summary>
    /// Polls `tandem cdr list --format csv` until a row whose Call-ID holds the call's token
    /// appears with a disposition (CDRs may be written shortly after the call), then checks it.
    /// </summary>
    protected override async Task AssertCdrAsync(ISipServer server, PlacedCall call, ExpectedCdr expected)
    {
        var tandem = (TandemServer)server;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (command, rows) = await tandem.ListCdrsAsync();
            Assert.True(command.ExitCode == 0, $"`tandem {string.Join(' ', TandemCallConfig.CdrListArguments)}` failed:\n{command}");
            var row = rows.FirstOrDefault(r => r.CallId?.Contains(call.CallIdToken, StringComparison.Ordinal) == true);
            if (row is { Disposition.Length: > 0 })
            {
                TestOutput.WriteLine($"CDR after {clock.ElapsedMilliseconds} ms: {row.Line}");
                Assert.True(row.DispositionIs(expected.Disposition),
                    $"CDR of call {call.CallIdToken}: disposition should be {expected.Disposition}, is '{row.Disposition}'.\n{command.Stdout}");
                if (expected.FinalStatus != 0)
                {
                    Assert.True(row.FinalStatus?.Trim() == expected.FinalStatus.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        $"CDR of call {call.CallIdToken}: final status should be {expected.FinalStatus}, is '{row.FinalStatus}'.\n{command.Stdout}");
                }
                return;
            }
            if (clock.Elapsed > CdrTimeout)
            {
                Assert.Fail($"No CDR with a disposition for call {call.CallIdToken} within {CdrTimeout.TotalSeconds} s.\n" +
                    $"{command}\n--- tandem output ---\n{server.OutputTail()}");
            }
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task Busy_callee_forwards_to_the_forward_busy_target()
    {
        var server = await StartServerAsync(new CallRouting
        {
            TrustedPeers = [TrustedPeerIp],
            Users = new Dictionary<string, UserForwarding> { [Bob.Aor] = new(ForwardBusy: Carol.Aor) },
        });
        var bob = await StartPhoneAsync(server, Bob, "uas-busy");
        var carol = await StartPhoneAsync(server, Carol, "uas-answer");

        var call = await CallAsync(server, "uac-call", Alice, Bob.User);

        AssertPassed(call.Result, server, "alice calls bob, who is busy; the call is forwarded to carol and connects");
        await AssertAgentPassedAsync(bob, server, "bob's phone answered 486");
        await AssertAgentPassedAsync(carol, server, "carol's phone got the forwarded call, answered, got ACK and BYE");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Unanswered_call_forwards_after_the_no_answer_timeout()
    {
        const int timeoutS = 3;
        var server = await StartServerAsync(new CallRouting
        {
            TrustedPeers = [TrustedPeerIp],
            Users = new Dictionary<string, UserForwarding> { [Bob.Aor] = new(ForwardNoAnswer: Carol.Aor, NoAnswerTimeoutS: timeoutS) },
        });
        var bob = await StartPhoneAsync(server, Bob, "uas-no-answer");
        var carol = await StartPhoneAsync(server, Carol, "uas-answer");

        var clock = Stopwatch.StartNew();
        var call = await CallAsync(server, "uac-call", Alice, Bob.User);
        clock.Stop();

        AssertPassed(call.Result, server, $"alice calls bob, who does not answer; after {timeoutS} s the call goes to carol and connects");
        await AssertAgentPassedAsync(bob, server, "bob's phone rang and got a CANCEL at the no-answer timeout");
        await AssertAgentPassedAsync(carol, server, "carol's phone got the forwarded call and answered");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(timeoutS - 0.5),
            $"the forward should happen after the {timeoutS} s no-answer timeout, the whole call took {clock.ElapsedMilliseconds} ms");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }

    [Fact]
    public async Task Outbound_call_fails_over_to_the_second_gateway()
    {
        using var deadGateway = new SilentUdpPeer();
        var gatewayPort = FreePorts.Next();
        var server = await StartServerAsync(new CallRouting
        {
            TrustedPeers = [TrustedPeerIp],
            Gateways = new Dictionary<string, Gateway>
            {
                ["gw1"] = new($"sip:127.0.0.1:{deadGateway.Endpoint.Port}", ResponseTimeoutMs: 1000),
                ["gw2"] = new($"sip:127.0.0.1:{gatewayPort}", ResponseTimeoutMs: 1000),
            },
            OutboundRoutes = [new OutboundRoute("pstn", "_9X.", ["gw1", "gw2"], Strip: 1)],
        });
        var gateway = await StartAgentAsync("gateway gw2 (uas-answer)", "uas-answer", gatewayPort);

        var call = await CallAsync(server, "uac-call", Alice, "95551234");

        AssertPassed(call.Result, server, "alice dials 9 5551234: gw1 never answers, gw2 takes the call");
        await AssertAgentPassedAsync(gateway, server, "gw2 answered the call, got ACK and BYE");
        Assert.True(deadGateway.Received.Any(line => line.StartsWith("INVITE ", StringComparison.Ordinal)),
            $"gw1 should have been tried first (it received: {string.Join(" | ", deadGateway.Received)})");
        var gatewayLog = (await gateway.WaitAsync()).MessageLog;
        Assert.True(gatewayLog.Contains("INVITE sip:5551234@", StringComparison.Ordinal),
            $"gw2 should get the number with the leading 9 stripped (sip:5551234@...):\n{gatewayLog}");
        await AssertCdrAsync(server, call, new ExpectedCdr("answered", 200));
    }
}
