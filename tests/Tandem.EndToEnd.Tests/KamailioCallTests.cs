using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>
/// The call scenarios against Kamailio 5.6 from Debian as registrar + record-routing proxy with
/// proxy authentication (tests/kamailio/proxy.cfg.in): they pass today, which proves the SIPp
/// scenarios, the baresip setup and the harness, so a Tandem failure is Tandem's. Forwarding,
/// gateway failover and CDRs are Tandem features and are tested in <see cref="TandemCallTests"/> only.
/// </summary>
[Trait("Category", "Kamailio")]
public sealed class KamailioCallTests(ITestOutputHelper output) : CallScenarioTests(output)
{
    protected override async Task<ISipServer> CreateServerAsync(ServerSettings settings) =>
        await KamailioServer.StartAsync(settings);
}
