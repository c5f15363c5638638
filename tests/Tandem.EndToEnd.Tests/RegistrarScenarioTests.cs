using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>
/// The registrar behaviour every server under test must show, driven by the SIPp scenarios in
/// tests/sipp. Each test starts its own server (fresh state, own port) and stops it by PID
/// afterwards; the server's output is written to the test output. Subclasses choose the server:
/// Kamailio proves the scenarios and the harness, Tandem is what they are for.
/// </summary>
public abstract class RegistrarScenarioTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<ISipServer> _servers = [];

    protected ITestOutputHelper TestOutput { get; } = output;

    protected abstract Task<ISipServer> CreateServerAsync(ServerSettings settings);

    protected async Task<ISipServer> StartAsync(ServerSettings settings)
    {
        var server = await CreateServerAsync(settings);
        _servers.Add(server);
        return server;
    }

    protected Task<ISipServer> StartAsync(params TestUser[] users) => StartAsync(new ServerSettings(users));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            TestOutput.WriteLine($"===== {server.Name} output =====\n{server.Output()}");
            await server.DisposeAsync();
        }
    }

    protected async Task<SippResult> SippAsync(
        ISipServer server, string scenario, SipTransport transport, IReadOnlyList<TestUser>? users = null, params string[] extra)
    {
        var result = await Sipp.RunAsync(scenario, server.Endpoint, transport, users, extra);
        TestOutput.WriteLine($"sipp {scenario} over {transport}: exit code {result.ExitCode}");
        return result;
    }

    protected static void AssertPassed(SippResult result, ISipServer server, string what) =>
        Assert.True(result.Succeeded,
            $"{what}: SIPp failed against {server.Name} (exit code {result.ExitCode}).\n{result}\n" +
            $"--- {server.Name} output ---\n{server.OutputTail()}");

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Options_is_answered_with_200(SipTransport transport)
    {
        var server = await StartAsync();
        AssertPassed(await SippAsync(server, "options", transport), server, "OPTIONS -> 200");
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Register_is_challenged_then_accepted_and_lists_the_contact(SipTransport transport)
    {
        var server = await StartAsync(TestUser.Alice);
        var result = await SippAsync(server, "register-auth", transport, [TestUser.Alice]);
        AssertPassed(result, server, "REGISTER -> 401 -> REGISTER with credentials -> 200 listing the contact");
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Register_with_a_wrong_password_is_refused(SipTransport transport)
    {
        var server = await StartAsync(TestUser.Alice);
        var result = await SippAsync(server, "register-wrong-password", transport, [TestUser.Alice],
            "-au", TestUser.Alice.User, "-ap", "not-" + TestUser.Alice.Password);
        AssertPassed(result, server, "REGISTER with a wrong password -> 401/403, never 200");
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Refresh_replaces_the_binding(SipTransport transport)
    {
        var server = await StartAsync(TestUser.Alice);
        var result = await SippAsync(server, "register-refresh", transport, [TestUser.Alice]);
        AssertPassed(result, server, "refresh keeps one binding with the new lifetime");
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Expires_zero_removes_the_binding(SipTransport transport)
    {
        var server = await StartAsync(TestUser.Alice);
        var result = await SippAsync(server, "unregister", transport, [TestUser.Alice]);
        AssertPassed(result, server, "Expires: 0 -> 200 without the binding");
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Binding_disappears_after_it_expires(SipTransport transport)
    {
        var server = await StartAsync(new ServerSettings([TestUser.Alice], ShortMinExpires: true));
        var result = await SippAsync(server, "register-expiry", transport, [TestUser.Alice]);
        AssertPassed(result, server, "a 2 s binding is gone 4 s later");
    }

    [Fact]
    public async Task Query_lists_a_binding_made_earlier()
    {
        var server = await StartAsync(TestUser.Alice, TestUser.Bob);
        AssertPassed(await SippAsync(server, "register-auth", SipTransport.Udp, [TestUser.Alice]), server, "register");
        AssertPassed(await SippAsync(server, "register-query", SipTransport.Tcp, [TestUser.Alice]), server,
            "REGISTER without Contact lists the binding made earlier");
    }
}
