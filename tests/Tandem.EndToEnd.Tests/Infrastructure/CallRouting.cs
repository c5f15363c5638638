using System.Globalization;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Call-routing rules a call test needs from the server: trusted peers that are not challenged,
/// per-user forwarding, gateways and outbound routes. <see cref="TandemCallConfig"/> turns them
/// into Tandem's YAML; Kamailio's reference config supports only <see cref="TrustedPeers"/>.
/// </summary>
public sealed record CallRouting
{
    /// <summary>Source IP addresses whose INVITEs are routed without a digest challenge.</summary>
    public IReadOnlyList<string> TrustedPeers { get; init; } = [];

    /// <summary>Forwarding rules by AOR (user@domain).</summary>
    public IReadOnlyDictionary<string, UserForwarding> Users { get; init; } = new Dictionary<string, UserForwarding>();

    /// <summary>Gateways by name.</summary>
    public IReadOnlyDictionary<string, Gateway> Gateways { get; init; } = new Dictionary<string, Gateway>();

    public IReadOnlyList<OutboundRoute> OutboundRoutes { get; init; } = [];

    /// <summary>True when only <see cref="TrustedPeers"/> is used (what every proxy can do).</summary>
    public bool IsPlainProxy => Users.Count == 0 && Gateways.Count == 0 && OutboundRoutes.Count == 0;
}

/// <param name="ForwardBusy">AOR (user@domain) that gets the call when the user's phones answer 486/600.</param>
/// <param name="ForwardNoAnswer">AOR that gets the call when nobody answers within <paramref name="NoAnswerTimeoutS"/>.</param>
public sealed record UserForwarding(string? ForwardBusy = null, string? ForwardNoAnswer = null, int? NoAnswerTimeoutS = null);

/// <param name="Uri">Where INVITEs go, e.g. sip:127.0.0.1:PORT.</param>
/// <param name="ResponseTimeoutMs">No response at all (not even 100) after this long: try the next gateway.</param>
public sealed record Gateway(string Uri, int? ResponseTimeoutMs = null);

/// <param name="Pattern">Asterisk-style dial pattern, e.g. "_9X." (9 then at least two digits).</param>
/// <param name="Gateways">Gateway names, tried in order.</param>
/// <param name="Strip">Leading digits removed before the call goes to a gateway.</param>
public sealed record OutboundRoute(string Name, string Pattern, IReadOnlyList<string> Gateways, int Strip = 0);

/// <summary>
/// EVERY assumption the call tests make about Tandem's configuration file and CLI, in one place,
/// so the integrator adjusts them here when the real schema differs. Assumed YAML:
/// <code>
/// routing:
///   trusted-peers: [127.0.0.2]
///   users:
///     bob@example.com:
///       forward-busy: carol@example.com
///       forward-no-answer: carol@example.com
///       no-answer-timeout-s: 3
///   gateways:
///     gw1:
///       uri: "sip:127.0.0.1:PORT"
///       response-timeout-ms: 1000
///   outbound-routes:
///     - name: pstn
///       pattern: "_9X."
///       gateways: [gw1, gw2]
///       strip: 1
/// </code>
/// and `tandem cdr list --format csv --data-dir DIR` printing a header row naming (at least)
/// the columns in <see cref="CdrCallIdColumns"/>, <see cref="CdrDispositionColumns"/> and
/// <see cref="CdrFinalStatusColumns"/>, then one row per call.
/// </summary>
public static class TandemCallConfig
{
    public const string Section = "routing";
    public const string TrustedPeersKey = "trusted-peers";
    public const string UsersKey = "users";
    public const string ForwardBusyKey = "forward-busy";
    public const string ForwardNoAnswerKey = "forward-no-answer";
    public const string NoAnswerTimeoutKey = "no-answer-timeout-s";
    public const string GatewaysKey = "gateways";
    public const string GatewayUriKey = "uri";
    public const string GatewayResponseTimeoutKey = "response-timeout-ms";
    public const string OutboundRoutesKey = "outbound-routes";

    /// <summary>`tandem ...` arguments that print the CDRs as CSV (--data-dir is appended).</summary>
    public static readonly IReadOnlyList<string> CdrListArguments = ["cdr", "list", "--format", "csv"];

    /// <summary>Accepted header names per column (compared case-insensitively, '-' and ' ' as '_').</summary>
    public static readonly IReadOnlyList<string> CdrCallIdColumns = ["call_id", "callid"];

    public static readonly IReadOnlyList<string> CdrDispositionColumns = ["disposition", "status"];

    public static readonly IReadOnlyList<string> CdrFinalStatusColumns = ["final_status", "sip_status", "final_code", "status_code"];

    /// <summary>The YAML for <paramref name="routing"/>: "" when there is nothing to configure.</summary>
    public static string ToYaml(CallRouting routing)
    {
        var yaml = new StringBuilder();
        if (routing.TrustedPeers.Count > 0)
        {
            yaml.Append("  ").Append(TrustedPeersKey).Append(": [")
                .AppendJoin(", ", routing.TrustedPeers.Select(Quote)).Append("]\n");
        }
        if (routing.Users.Count > 0)
        {
            yaml.Append("  ").Append(UsersKey).Append(":\n");
            foreach (var (aor, forwarding) in routing.Users)
            {
                yaml.Append("    ").Append(Quote(aor)).Append(":\n");
                AppendIf(yaml, 6, ForwardBusyKey, forwarding.ForwardBusy);
                AppendIf(yaml, 6, ForwardNoAnswerKey, forwarding.ForwardNoAnswer);
                AppendIf(yaml, 6, NoAnswerTimeoutKey, forwarding.NoAnswerTimeoutS);
            }
        }
        if (routing.Gateways.Count > 0)
        {
            yaml.Append("  ").Append(GatewaysKey).Append(":\n");
            foreach (var (name, gateway) in routing.Gateways)
            {
                yaml.Append("    ").Append(name).Append(":\n");
                AppendIf(yaml, 6, GatewayUriKey, gateway.Uri);
                AppendIf(yaml, 6, GatewayResponseTimeoutKey, gateway.ResponseTimeoutMs);
            }
        }
        if (routing.OutboundRoutes.Count > 0)
        {
            yaml.Append("  ").Append(OutboundRoutesKey).Append(":\n");
            foreach (var route in routing.OutboundRoutes)
            {
                yaml.Append("    - name: ").Append(Quote(route.Name)).Append('\n')
                    .Append("      pattern: ").Append(Quote(route.Pattern)).Append('\n')
                    .Append("      gateways: [").AppendJoin(", ", route.Gateways).Append("]\n")
                    .Append("      strip: ").Append(route.Strip.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        return yaml.Length == 0 ? "" : $"{Section}:\n{yaml}";
    }

    private static void AppendIf(StringBuilder yaml, int indent, string key, string? value)
    {
        if (value is not null)
        {
            yaml.Append(' ', indent).Append(key).Append(": ").Append(Quote(value)).Append('\n');
        }
    }

    private static void AppendIf(StringBuilder yaml, int indent, string key, int? value)
    {
        if (value is not null)
        {
            yaml.Append(' ', indent).Append(key).Append(": ").Append(value.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
