using System.Globalization;
using System.Net;

namespace Tandem.Server.Resolution.Dns;

/// <summary>
/// The parts of resolv.conf(5) a stub resolver needs: "nameserver" lines (port 53) and the
/// "timeout:n" and "attempts:n" options. Search domains and ndots are ignored: SIP URIs name
/// fully qualified hosts.
/// </summary>
public sealed record ResolvConf(IReadOnlyList<IPEndPoint> Servers, TimeSpan? Timeout, int? Attempts)
{
    public const string DefaultPath = "/etc/resolv.conf";

    // glibc caps the list at three servers (MAXNS); more lines are ignored there too.
    private const int MaxServers = 3;

    /// <summary>Reads the file; a missing file behaves like an empty one.</summary>
    public static ResolvConf Load(string path = DefaultPath) =>
        Parse(File.Exists(path) ? File.ReadAllText(path) : string.Empty);

    /// <summary>
    /// Parses the text. Like glibc, no usable nameserver line means the local server
    /// (127.0.0.1); unparsable lines are skipped.
    /// </summary>
    public static ResolvConf Parse(string text)
    {
        var servers = new List<IPEndPoint>();
        TimeSpan? timeout = null;
        int? attempts = null;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.AsSpan();
            var comment = line.IndexOfAny('#', ';');
            if (comment >= 0)
            {
                line = line[..comment];
            }

            var words = line.ToString().Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2)
            {
                continue;
            }

            if (words[0] == "nameserver" && servers.Count < MaxServers && IPAddress.TryParse(words[1], out var address))
            {
                servers.Add(new IPEndPoint(address, 53));
            }
            else if (words[0] == "options")
            {
                foreach (var option in words.AsSpan(1))
                {
                    if (TryOption(option, "timeout:", out var seconds) && seconds > 0)
                    {
                        timeout = TimeSpan.FromSeconds(Math.Min(seconds, 30));
                    }
                    else if (TryOption(option, "attempts:", out var count) && count > 0)
                    {
                        attempts = Math.Min(count, 5);
                    }
                }
            }
        }

        if (servers.Count == 0)
        {
            servers.Add(new IPEndPoint(IPAddress.Loopback, 53));
        }

        return new ResolvConf(servers, timeout, attempts);
    }

    private static bool TryOption(string option, string prefix, out int value)
    {
        value = 0;
        return option.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(option.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
