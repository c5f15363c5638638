using System.Net;
using Microsoft.Extensions.Logging;
using Tandem.Server.Config;
using Tandem.Sip.Auth;
using Tandem.Storage;

namespace Tandem.Server.Tests.Config;

public sealed class ConfigLoaderTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteYaml(string yaml)
    {
        var path = _dir.Combine("tandem.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private ConfigResult LoadYaml(string yaml, Dictionary<string, string>? environment = null)
        => ConfigLoader.Load(WriteYaml(yaml), environment ?? NoEnvironment);

    [Fact]
    public void Defaults_are_valid()
    {
        var result = ConfigLoader.Load(null, NoEnvironment);

        Assert.Empty(result.Errors);
        var o = Assert.IsType<TandemOptions>(result.Options);
        Assert.Equal(["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"], o.Listen.Select(e => e.ToString()));
        Assert.Equal("./tandem-data", o.DataDir);
        Assert.Empty(o.Sip.Domains);
        Assert.Equal(65535, o.Sip.MaxMessageSize);
        Assert.Equal(Environment.ProcessorCount, o.Sip.ReceiveLoops);
        Assert.Equal(TimeSpan.FromMilliseconds(500), o.Sip.T1);
        Assert.Equal((60, 3600, 3600, 10), (o.Registrar.MinExpires, o.Registrar.MaxExpires, o.Registrar.DefaultExpires, o.Registrar.MaxContactsPerAor));
        Assert.True(o.Auth.Enabled);
        Assert.Equal([DigestAlgorithm.Md5], o.Auth.Algorithms);
        Assert.Null(o.Auth.SharedSecret);
        Assert.Equal(StorageMode.WriteThrough, o.Storage.Mode);
        Assert.Equal(TimeSpan.FromMilliseconds(200), o.Storage.FlushInterval);
        Assert.Equal(LogLevel.Information, o.Logging.Level);
    }

    [Fact]
    public void Yaml_values_are_bound_to_every_section()
    {
        var result = LoadYaml("""
            listen:
              - udp:127.0.0.1:5070
              - tcp:[::1]:5071
            data-dir: /var/lib/tandem
            sip:
              domains: [Example.COM, 192.0.2.1]
              server-header: "Tandem test"
              max-message-size: 4096
              t1-ms: 100
              t2-ms: 1000
              t4-ms: 2000
              tcp-idle-timeout-s: 30
              receive-loops: 3
            registrar:
              min-expires: 30
              max-expires: 600
              default-expires: 300
              max-contacts: 2
            auth:
              enabled: false
              algorithms: [MD5]
              nonce-lifetime-s: 60
              shared-secret: 0123456789abcdef0123
            storage:
              mode: write-through
              flush-interval-ms: 50
              max-batch-size: 10
            logging:
              level: debug
            """);

        Assert.Empty(result.Errors);
        var o = result.Options!;
        Assert.Equal(new ListenEndpoint(ListenTransport.Tcp, IPAddress.IPv6Loopback, 5071), o.Listen[1]);
        Assert.Equal("/var/lib/tandem", o.DataDir);
        Assert.Equal(["example.com", "192.0.2.1"], o.Sip.Domains);
        Assert.Equal("Tandem test", o.Sip.ServerHeader);
        Assert.Equal((4096, 100, 1000, 2000, 30, 3), (o.Sip.MaxMessageSize, o.Sip.T1Ms, o.Sip.T2Ms, o.Sip.T4Ms, o.Sip.TcpIdleTimeoutS, o.Sip.ReceiveLoops));
        Assert.Equal((30, 600, 300, 2), (o.Registrar.MinExpires, o.Registrar.MaxExpires, o.Registrar.DefaultExpires, o.Registrar.MaxContactsPerAor));
        Assert.False(o.Auth.Enabled);
        Assert.Equal([DigestAlgorithm.Md5], o.Auth.Algorithms);
        Assert.Equal(60, o.Auth.NonceLifetimeS);
        Assert.Equal("0123456789abcdef0123", o.Auth.SharedSecret);
        Assert.Equal((StorageMode.WriteThrough, 50, 10), (o.Storage.Mode, o.Storage.FlushIntervalMs, o.Storage.MaxBatchSize));
        Assert.Equal(LogLevel.Debug, o.Logging.Level);
        Assert.Equal(result.File + ":4", result.Origins["data-dir"].ToString());
    }

    [Fact]
    public void Empty_file_means_defaults()
    {
        var result = LoadYaml("# nothing here\n");

        Assert.True(result.Succeeded);
        Assert.Equal(60, result.Options!.Registrar.MinExpires);
    }

    [Fact]
    public void Cross_key_error_names_file_line_key_and_reason()
    {
        var result = LoadYaml("registrar:\n  min-expires: 7200\n");

        var error = Assert.Single(result.Errors);
        Assert.Null(result.Options);
        Assert.Equal($"{result.File}:2: registrar.min-expires: must be ≤ registrar.max-expires (got 7200 > 3600)", error.ToString());
    }

    [Theory]
    [InlineData("sip:\n  t1-ms: fast\n", "sip.t1-ms", "must be an integer (got 'fast')")]
    [InlineData("sip:\n  max-message-size: 10\n", "sip.max-message-size", "must be between 1024 and 1048576 (got 10)")]
    [InlineData("sip:\n  t1-ms: 5000\n  t2-ms: 4000\n", "sip.t2-ms", "must be ≥ sip.t1-ms (got 4000 < 5000)")]
    [InlineData("sip:\n  domains: [bad_domain!]\n", "sip.domains", "'bad_domain!' is not a domain name")]
    [InlineData("sip:\n  server-header: \"a\\r\\nVia: x\"\n", "sip.server-header", "control characters")]
    [InlineData("registrar:\n  default-expires: 30\n", "registrar.default-expires", "must be between registrar.min-expires and registrar.max-expires (got 30, allowed 60..3600)")]
    [InlineData("auth:\n  enabled: maybe\n", "auth.enabled", "must be true or false (got 'maybe')")]
    [InlineData("auth:\n  algorithms: [SHA-512]\n", "auth.algorithms", "unknown algorithm 'SHA-512'")]
    [InlineData("auth:\n  algorithms: []\n", "auth.algorithms", "at least one algorithm")]
    [InlineData("auth:\n  shared-secret: short\n", "auth.shared-secret", "at least 16 characters (got 5)")]
    [InlineData("storage:\n  mode: sometimes\n", "storage.mode", "must be one of write-behind, write-through (got 'sometimes')")]
    [InlineData("logging:\n  level: loud\n", "logging.level", "must be one of trace, debug")]
    [InlineData("listen: []\n", "listen", "at least one endpoint")]
    [InlineData("listen: [udp:0.0.0.0:5060, UDP:0.0.0.0:5060]\n", "listen", "udp:0.0.0.0:5060 is listed twice")]
    [InlineData("listen: [udp:localhost:5060]\n", "listen", "'localhost' is not an IP address")]
    [InlineData("data-dir:\n", "data-dir", "must not be empty")]
    [InlineData("registrar: 5\n", "registrar", "must be a mapping of keys")]
    [InlineData("registrar:\n  min-expires: {a: 1}\n", "registrar.min-expires", "not a mapping")]
    public void Validation_errors_name_file_key_and_reason(string yaml, string key, string reason)
    {
        var result = LoadYaml(yaml);

        var error = Assert.Single(result.Errors);
        Assert.Equal(result.File, error.Origin.Source);
        Assert.NotNull(error.Origin.Line);
        Assert.Equal(key, error.KeyPath);
        Assert.Contains(reason, error.Reason);
        Assert.StartsWith($"{result.File}:{error.Origin.Line}: {key}: ", error.ToString());
    }

    [Fact]
    public void All_errors_are_reported_together()
    {
        var result = LoadYaml("""
            sip:
              t1-ms: x
            registrar:
              min-expires: 7200
              bogus: 1
            """);

        Assert.Equal(["sip.t1-ms", "registrar.bogus", "registrar.min-expires"], result.Errors.Select(e => e.KeyPath));
    }

    [Fact]
    public void Unknown_keys_are_rejected_with_a_suggestion()
    {
        var result = LoadYaml("registrar:\n  max-expire: 100\nlisten-on: udp:0.0.0.0\n");

        Assert.Equal(2, result.Errors.Count);
        Assert.Equal($"{result.File}:2: registrar.max-expire: unknown key (did you mean 'max-expires'?)", result.Errors[0].ToString());
        Assert.Equal("listen-on", result.Errors[1].KeyPath);
        Assert.StartsWith("unknown key", result.Errors[1].Reason);
    }

    [Fact]
    public void Invalid_yaml_is_an_error_with_a_line()
    {
        var result = LoadYaml("registrar:\n  min-expires: [1,\n");

        var error = Assert.Single(result.Errors);
        Assert.Contains("invalid YAML", error.Reason);
        Assert.NotNull(error.Origin.Line);
    }

    [Fact]
    public void Missing_file_is_an_error()
    {
        var result = ConfigLoader.Load(_dir.Combine("nope.yaml"), NoEnvironment);

        Assert.Contains("cannot read the file", Assert.Single(result.Errors).ToString());
    }

    [Fact]
    public void Environment_overrides_the_file()
    {
        var result = LoadYaml("registrar:\n  min-expires: 120\n", new Dictionary<string, string>
        {
            ["TANDEM_REGISTRAR_MIN_EXPIRES"] = "30",
            ["TANDEM_LISTEN"] = "udp:127.0.0.1:5060, tcp:127.0.0.1:5060",
            ["TANDEM_SIP_DOMAINS"] = "a.example,b.example",
            ["TANDEM_STORAGE_MODE"] = "write-through",
            ["TANDEM_CONFIG"] = "ignored.yaml",
            ["PATH"] = "/usr/bin",
        });

        Assert.Empty(result.Errors);
        var o = result.Options!;
        Assert.Equal(30, o.Registrar.MinExpires);
        Assert.Equal(["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"], o.Listen.Select(e => e.ToString()));
        Assert.Equal(["a.example", "b.example"], o.Sip.Domains);
        Assert.Equal(StorageMode.WriteThrough, o.Storage.Mode);
        Assert.Equal("TANDEM_REGISTRAR_MIN_EXPIRES", result.Origins["registrar.min-expires"].ToString());
    }

    [Fact]
    public void Environment_errors_name_the_variable()
    {
        var result = ConfigLoader.Load(null, new Dictionary<string, string>
        {
            ["TANDEM_SIP_T1_MS"] = "fast",
            ["TANDEM_REGISTRAR_MIN_EXPIRE"] = "30",
        });

        Assert.Equal(
            ["TANDEM_REGISTRAR_MIN_EXPIRE: unknown environment variable (did you mean TANDEM_REGISTRAR_MIN_EXPIRES?)",
             "TANDEM_SIP_T1_MS: sip.t1-ms: must be an integer (got 'fast')"],
            result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Command_line_overrides_beat_the_environment()
    {
        var result = ConfigLoader.Load(
            null,
            new Dictionary<string, string> { ["TANDEM_LISTEN"] = "udp:127.0.0.1:5060", ["TANDEM_DATA_DIR"] = "/from/env" },
            [new ConfigOverride("listen", "tcp:[::1]:6000", "--listen"), new ConfigOverride("data-dir", "/from/cli", "--data-dir")]);

        Assert.Equal("tcp:[::1]:6000", Assert.Single(result.Options!.Listen).ToString());
        Assert.Equal("/from/cli", result.Options.DataDir);
        Assert.Equal("--listen", result.Origins["listen"].ToString());
    }

    [Fact]
    public void A_cross_key_error_on_a_defaulted_key_points_at_the_key_that_was_set()
    {
        var result = ConfigLoader.Load(null, new Dictionary<string, string> { ["TANDEM_REGISTRAR_MAX_EXPIRES"] = "30" });

        Assert.Equal(
            "TANDEM_REGISTRAR_MAX_EXPIRES: registrar.min-expires: must be ≤ registrar.max-expires (got 60 > 30)",
            Assert.Single(result.Errors).ToString());
    }

    [Fact]
    public void Example_file_loads_and_equals_the_defaults()
    {
        var example = ConfigLoader.Load(RepoFiles.Path("config/tandem.example.yaml"), NoEnvironment);
        var defaults = ConfigLoader.Load(null, NoEnvironment);

        Assert.Empty(example.Errors);
        Assert.Equal(
            defaults.Describe().Select(StripOrigin),
            example.Describe().Select(StripOrigin));

        static string StripOrigin(string line) => line[..line.LastIndexOf("  (", StringComparison.Ordinal)];
    }

    [Fact]
    public void Every_key_is_documented_in_the_reference_and_the_example()
    {
        var reference = File.ReadAllText(RepoFiles.Path("docs/configuration.md"));
        var example = File.ReadAllText(RepoFiles.Path("config/tandem.example.yaml"));

        foreach (var key in ConfigSchema.Keys)
        {
            Assert.Contains($"| `{key.Path}` |", reference);
            Assert.Contains(key.EnvironmentVariable, reference);
            Assert.Contains(key.Path.Split('.')[^1] + ":", example);
        }
    }

    [Fact]
    public void Shared_secret_file_is_created_private_and_reused()
    {
        var dataDir = _dir.Combine("data");
        var first = SharedSecretFile.Resolve(new TandemOptions { DataDir = dataDir });
        var second = SharedSecretFile.Resolve(new TandemOptions { DataDir = dataDir });

        Assert.Equal(64, first.Auth.SharedSecret!.Length);
        Assert.Equal(first.Auth.SharedSecret, second.Auth.SharedSecret);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dataDir, "secret")));
        }

        var configured = new TandemOptions { DataDir = _dir.Combine("other"), Auth = new AuthOptions { SharedSecret = "configured-secret-value" } };
        Assert.Equal("configured-secret-value", SharedSecretFile.Resolve(configured).Auth.SharedSecret);
        Assert.False(Directory.Exists(_dir.Combine("other")));
    }
}
