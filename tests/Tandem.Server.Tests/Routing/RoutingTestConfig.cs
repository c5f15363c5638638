using Tandem.Server.Config;

namespace Tandem.Server.Tests.Routing;

/// <summary>Loads routing YAML through the real config loader, as the server does.</summary>
internal static class RoutingTestConfig
{
    public const string Pbx = """
        sip:
          domains: [example.com]
        routing:
          trusted-peers: [198.18.0.0/15]
          users:
            alice@example.com: { forward-busy: "200", forward-no-answer: "tel:+4917012345", no-answer-timeout-s: 15 }
            bob@example.com: { forward-always: carol@example.com }
            carol@example.com: { forward-no-answer: voicemail }
            dave@example.com: { forward-busy: voicemail, forward-no-answer: "voicemail@example.com" }
            erin@example.com: { forward-busy: "sip:erin@mobile.example.net" }
          ring-groups:
            sales@example.com: { strategy: simultaneous, members: [alice, "bob@example.com", "sip:partner@other.example.net"], ring-timeout-s: 30 }
            support@example.com: { strategy: sequential, members: [carol, dave], ring-timeout-s: 15 }
          gateways:
            carrier-a: { uri: "sip:gw1.example.net;transport=udp", response-timeout-ms: 1500 }
            carrier-b: { uri: "sip:203.0.113.10:5080" }
          outbound-routes:
            - { name: emergency, pattern: "112", gateways: [carrier-b, carrier-a], allow-trusted-peers: true }
            - { name: national, pattern: "_0ZX.", gateways: [carrier-a], strip: 1, prepend: "+49" }
            - { name: international, pattern: "_+X.", gateways: [carrier-a, carrier-b] }
            - { name: shadowed, pattern: "_+49X.", gateways: [carrier-b] }
        """;

    public static ConfigResult Load(TempDirectory dir, string yaml, string name = "tandem.yaml", Dictionary<string, string>? environment = null)
    {
        var path = dir.Combine(name);
        File.WriteAllText(path, yaml);
        return ConfigLoader.Load(path, environment ?? []);
    }

    public static TandemOptions Options(TempDirectory dir, string yaml)
    {
        var result = Load(dir, yaml);
        Assert.Empty(result.Errors.Select(e => e.ToString()));
        return result.Options!;
    }
}
