using System.Globalization;
using Microsoft.Extensions.Logging;
using Tandem.Sip.Auth;
using Tandem.Storage;

namespace Tandem.Server.Config;

/// <summary>The table of every configuration key. docs/configuration.md documents each one.</summary>
internal static class ConfigSchema
{
    // Declared before Keys: static fields initialise in textual order.
    private static readonly (string Name, StorageMode Value)[] StorageModes =
        [("write-behind", StorageMode.WriteBehind), ("write-through", StorageMode.WriteThrough)];

    private static readonly (string Name, LogLevel Value)[] LogLevels =
    [
        ("trace", LogLevel.Trace), ("debug", LogLevel.Debug), ("information", LogLevel.Information),
        ("warning", LogLevel.Warning), ("error", LogLevel.Error), ("critical", LogLevel.Critical), ("none", LogLevel.None),
    ];

    public static readonly IReadOnlyList<string> Sections = ["sip", "registrar", "auth", "storage", "logging", "routing", "cluster", "admin"];

    public static readonly IReadOnlyList<ConfigKey> Keys =
    [
        new("listen", "list of listen endpoints", ApplyListen, o => string.Join(", ", o.Listen)),
        Text("data-dir", required: true, o => o.DataDir, (o, v) => o with { DataDir = v! }),

        new("sip.domains", "list of domain names", ApplyDomains, o => o.Sip.Domains.Count == 0 ? "[] (any)" : string.Join(", ", o.Sip.Domains)),
        Text("sip.server-header", required: false, o => o.Sip.ServerHeader, (o, v) => o with { Sip = o.Sip with { ServerHeader = v ?? "" } }, checkHeader: true),
        Int("sip.max-message-size", 1024, 1_048_576, o => o.Sip.MaxMessageSize, (o, v) => o with { Sip = o.Sip with { MaxMessageSize = v } }),
        Int("sip.t1-ms", 1, 60_000, o => o.Sip.T1Ms, (o, v) => o with { Sip = o.Sip with { T1Ms = v } }),
        Int("sip.t2-ms", 1, 600_000, o => o.Sip.T2Ms, (o, v) => o with { Sip = o.Sip with { T2Ms = v } }),
        Int("sip.t4-ms", 1, 600_000, o => o.Sip.T4Ms, (o, v) => o with { Sip = o.Sip with { T4Ms = v } }),
        Int("sip.tcp-idle-timeout-s", 1, 86_400, o => o.Sip.TcpIdleTimeoutS, (o, v) => o with { Sip = o.Sip with { TcpIdleTimeoutS = v } }),
        Int("sip.receive-loops", 1, 256, o => o.Sip.ReceiveLoops, (o, v) => o with { Sip = o.Sip with { ReceiveLoops = v } }),
        Int("sip.max-transactions", 100, 10_000_000, o => o.Sip.MaxTransactions, (o, v) => o with { Sip = o.Sip with { MaxTransactions = v } }),
        Int("sip.max-calls", 1, 10_000_000, o => o.Sip.MaxCalls, (o, v) => o with { Sip = o.Sip with { MaxCalls = v } }),

        Int("registrar.min-expires", 1, 86_400 * 365, o => o.Registrar.MinExpires, (o, v) => o with { Registrar = o.Registrar with { MinExpires = v } }),
        Int("registrar.max-expires", 1, 86_400 * 365, o => o.Registrar.MaxExpires, (o, v) => o with { Registrar = o.Registrar with { MaxExpires = v } }),
        Int("registrar.default-expires", 1, 86_400 * 365, o => o.Registrar.DefaultExpires, (o, v) => o with { Registrar = o.Registrar with { DefaultExpires = v } }),
        Int("registrar.max-contacts", 1, 1000, o => o.Registrar.MaxContactsPerAor, (o, v) => o with { Registrar = o.Registrar with { MaxContactsPerAor = v } }),
        Int("registrar.nat-keepalive-interval-s", 0, 3600, o => o.Registrar.NatKeepAliveIntervalS, (o, v) => o with { Registrar = o.Registrar with { NatKeepAliveIntervalS = v } }),

        Bool("auth.enabled", o => o.Auth.Enabled, (o, v) => o with { Auth = o.Auth with { Enabled = v } }),
        new("auth.algorithms", "list of SHA-256, MD5", ApplyAlgorithms, o => string.Join(", ", o.Auth.Algorithms.Select(DigestHash.Token))),
        Int("auth.nonce-lifetime-s", 1, 86_400, o => o.Auth.NonceLifetimeS, (o, v) => o with { Auth = o.Auth with { NonceLifetimeS = v } }),
        new("auth.shared-secret", "string of at least 16 characters", ApplySecret, o => o.Auth.SharedSecret is null ? "(from <data-dir>/secret)" : "(set)"),

        Choice("storage.mode", StorageModes, o => o.Storage.Mode, (o, v) => o with { Storage = o.Storage with { Mode = v } }),
        Int("storage.flush-interval-ms", 1, 60_000, o => o.Storage.FlushIntervalMs, (o, v) => o with { Storage = o.Storage with { FlushIntervalMs = v } }),
        Int("storage.max-batch-size", 1, 100_000, o => o.Storage.MaxBatchSize, (o, v) => o with { Storage = o.Storage with { MaxBatchSize = v } }),

        Choice("logging.level", LogLevels, o => o.Logging.Level, (o, v) => o with { Logging = o.Logging with { Level = v } }),

        .. RoutingSchema.Keys,

        .. ClusterSchema.Keys,

        new("admin.listen", "address:port", ApplyAdminListen, o => o.Admin.Listen?.ToString() ?? "(unset: Unix socket only)"),
    ];

    private static ParseResult ApplyAdminListen(TandemOptions options, ConfigValue value)
    {
        var text = value.Items is null ? value.Scalar?.Trim() : null;
        if (value.Items is not null)
        {
            return ParseResult.Fail("must be one address:port, not a list");
        }

        if (string.IsNullOrEmpty(text))
        {
            return ParseResult.Ok(options with { Admin = options.Admin with { Listen = null } });
        }

        // IPEndPoint.TryParse takes "1.2.3.4" as port 0: insist on an explicit port.
        if (!System.Net.IPEndPoint.TryParse(text, out var endpoint) || endpoint.Port == 0
            || !(text.EndsWith(":" + endpoint.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)))
        {
            return ParseResult.Fail($"must be an IP address and a port 1-65535, e.g. 127.0.0.1:9060 or [::1]:9060 (got '{text}')");
        }

        return ParseResult.Ok(options with { Admin = options.Admin with { Listen = endpoint } });
    }

    public static ConfigKey? Find(string path) => Keys.FirstOrDefault(k => k.Path == path);

    /// <summary>The closest known name within two edits, for "did you mean" hints.</summary>
    public static string? Suggest(string unknown, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = 3;
        foreach (var candidate in known)
        {
            var distance = EditDistance(unknown, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best;
    }

    internal static ConfigKey Int(string path, int min, int max, Func<TandemOptions, int> get, Func<TandemOptions, int, TandemOptions> set) =>
        new(path, "integer", (o, v) =>
        {
            var text = v.Items is null ? v.Scalar?.Trim() : null;
            if (string.IsNullOrEmpty(text) || !int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            {
                return ParseResult.Fail($"must be an integer (got {Show(v)})");
            }

            if (n < min || n > max)
            {
                return ParseResult.Fail($"must be between {min} and {max} (got {n})");
            }

            return ParseResult.Ok(set(o, n));
        }, o => ConfigKey.FormatInt(get(o)));

    internal static ConfigKey Bool(string path, Func<TandemOptions, bool> get, Func<TandemOptions, bool, TandemOptions> set) =>
        new(path, "boolean", (o, v) =>
        {
            var text = v.Items is null ? v.Scalar?.Trim() : null;
            if (string.Equals(text, "true", StringComparison.OrdinalIgnoreCase))
            {
                return ParseResult.Ok(set(o, true));
            }

            if (string.Equals(text, "false", StringComparison.OrdinalIgnoreCase))
            {
                return ParseResult.Ok(set(o, false));
            }

            return ParseResult.Fail($"must be true or false (got {Show(v)})");
        }, o => get(o) ? "true" : "false");

    internal static ConfigKey Text(
        string path, bool required, Func<TandemOptions, string> get, Func<TandemOptions, string?, TandemOptions> set, bool checkHeader = false) =>
        new(path, "string", (o, v) =>
        {
            if (v.Items is not null)
            {
                return ParseResult.Fail("must be a single value, not a list");
            }

            if (required && string.IsNullOrWhiteSpace(v.Scalar))
            {
                return ParseResult.Fail("must not be empty");
            }

            // The value goes into a SIP header: CR/LF would let it inject headers (RFC 3261 §25.1 TEXT-UTF8).
            if (checkHeader && v.Scalar is { } header && header.Any(char.IsControl))
            {
                return ParseResult.Fail("must not contain control characters");
            }

            return ParseResult.Ok(set(o, v.Scalar));
        }, o => get(o) is { Length: > 0 } s ? s : "\"\"");

    private static ConfigKey Choice<T>(string path, (string Name, T Value)[] choices, Func<TandemOptions, T> get, Func<TandemOptions, T, TandemOptions> set)
        where T : struct =>
        new(path, "one of " + string.Join(", ", choices.Select(c => c.Name)), (o, v) =>
        {
            var text = v.Items is null ? v.Scalar?.Trim() : null;
            foreach (var (name, value) in choices)
            {
                if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                {
                    return ParseResult.Ok(set(o, value));
                }
            }

            return ParseResult.Fail($"must be one of {string.Join(", ", choices.Select(c => c.Name))} (got {Show(v)})");
        }, o => choices.First(c => EqualityComparer<T>.Default.Equals(c.Value, get(o))).Name);

    private static ParseResult ApplyListen(TandemOptions options, ConfigValue value)
    {
        var endpoints = new List<ListenEndpoint>();
        foreach (var item in value.AsList())
        {
            if (!ListenEndpoint.TryParse(item, out var endpoint, out var error))
            {
                return ParseResult.Fail(error);
            }

            if (endpoints.Contains(endpoint))
            {
                return ParseResult.Fail($"{endpoint} is listed twice");
            }

            endpoints.Add(endpoint);
        }

        return endpoints.Count == 0
            ? ParseResult.Fail("must list at least one endpoint, e.g. udp:0.0.0.0:5060")
            : ParseResult.Ok(options with { Listen = endpoints });
    }

    private static ParseResult ApplyDomains(TandemOptions options, ConfigValue value)
    {
        var domains = new List<string>();
        foreach (var item in value.AsList())
        {
            var domain = item.Trim().ToLowerInvariant();
            if (!IsDomainName(domain))
            {
                return ParseResult.Fail($"'{item}' is not a domain name or IP address");
            }

            if (domains.Contains(domain))
            {
                return ParseResult.Fail($"'{domain}' is listed twice");
            }

            domains.Add(domain);
        }

        return ParseResult.Ok(options with { Sip = options.Sip with { Domains = domains } });
    }

    private static ParseResult ApplyAlgorithms(TandemOptions options, ConfigValue value)
    {
        var algorithms = new List<DigestAlgorithm>();
        foreach (var item in value.AsList())
        {
            DigestAlgorithm algorithm;
            if (item.Equals("SHA-256", StringComparison.OrdinalIgnoreCase))
            {
                algorithm = DigestAlgorithm.Sha256;
            }
            else if (item.Equals("MD5", StringComparison.OrdinalIgnoreCase))
            {
                algorithm = DigestAlgorithm.Md5;
            }
            else
            {
                return ParseResult.Fail($"unknown algorithm '{item}' (expected SHA-256 or MD5)");
            }

            if (algorithms.Contains(algorithm))
            {
                return ParseResult.Fail($"{DigestHash.Token(algorithm)} is listed twice");
            }

            algorithms.Add(algorithm);
        }

        return algorithms.Count == 0
            ? ParseResult.Fail("must list at least one algorithm (SHA-256, MD5)")
            : ParseResult.Ok(options with { Auth = options.Auth with { Algorithms = algorithms } });
    }

    private static ParseResult ApplySecret(TandemOptions options, ConfigValue value)
    {
        if (value.Items is not null)
        {
            return ParseResult.Fail("must be a single value, not a list");
        }

        if (string.IsNullOrEmpty(value.Scalar))
        {
            return ParseResult.Ok(options with { Auth = options.Auth with { SharedSecret = null } });
        }

        return value.Scalar.Length < SharedSecretFile.MinimumLength
            ? ParseResult.Fail($"must be at least {SharedSecretFile.MinimumLength} characters (got {value.Scalar.Length})")
            : ParseResult.Ok(options with { Auth = options.Auth with { SharedSecret = value.Scalar } });
    }

    private static bool IsDomainName(string text)
    {
        if (text.Length is 0 or > 253)
        {
            return false;
        }

        if (System.Net.IPAddress.TryParse(text.Trim('[', ']'), out _) && text.Any(c => c is '.' or ':'))
        {
            return true;
        }

        return text.Split('.').All(label =>
            label.Length is >= 1 and <= 63 &&
            label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') &&
            label[0] != '-' && label[^1] != '-');
    }

    private static string Show(ConfigValue value) =>
        value.Items is not null ? "a list" : value.Scalar is null ? "nothing" : $"'{value.Scalar}'";

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
