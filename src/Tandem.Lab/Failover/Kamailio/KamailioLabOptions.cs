using System.Globalization;
using System.Net;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover.Kamailio;

/// <summary>
/// Settings of the classic design in the lab (<see cref="KamailioKeepalivedSystem"/>): Kamailio registrar/proxy with
/// DMQ usrloc replication on nodes a and b, keepalived VRRP moving <see cref="ServiceAddress"/> between them.
/// Defaults follow the keepalived setup of the theses (advert_int 1, VRRPv2, multicast, preempt, priorities 200/100).
/// </summary>
public sealed record KamailioLabOptions
{
    /// <summary>The smallest advert interval keepalived 2.2 accepts: 0.01 s, and only with VRRPv3
    /// (it rejects 0.001–0.009 as "outside range [0.01, 255]"; VRRPv2 rounds any fraction to whole seconds).</summary>
    public static readonly TimeSpan MinimumAdvertInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>The theses' setting (digest 001: <c>advert_int 1</c>).</summary>
    public static readonly TimeSpan ThesisAdvertInterval = TimeSpan.FromSeconds(1);

    /// <summary>VRRP advertisement interval: whole seconds use VRRPv2 (as the theses), anything else VRRPv3
    /// (centisecond resolution, at least <see cref="MinimumAdvertInterval"/>).</summary>
    public TimeSpan AdvertInterval { get; init; } = ThesisAdvertInterval;

    /// <summary>true (the theses' default, keepalived's too): a returning higher-priority node takes the address back.
    /// false: <c>nopreempt</c>, the address stays where it is.</summary>
    public bool Preempt { get; init; } = true;

    /// <summary>false: adverts to the VRRP multicast group 224.0.0.18 (the theses); true: unicast to the peer's address.</summary>
    public bool Unicast { get; init; }

    public IPAddress ServiceAddress { get; init; } = IPAddress.Parse("198.18.0.100");

    public int PrefixLength { get; init; } = 24;

    public int SipPort { get; init; } = 5060;

    public int VirtualRouterId { get; init; } = 51;

    /// <summary>VRRP priorities of a and b (a is preferred); the thesis configured 200 and 50 but observed 100 on the backup.</summary>
    public (int A, int B) Priorities { get; init; } = (200, 100);

    /// <summary>SIP domain of the users, also the digest realm.</summary>
    public string Domain { get; init; } = "lab.example";

    public IReadOnlyList<(string User, string Password)> Users { get; init; } = DefaultUsers(16);

    /// <summary>Whether an initial INVITE must carry Proxy-Authorization (407 challenge), as Tandem asks.</summary>
    public bool AuthenticateInvites { get; init; } = true;

    /// <summary>Kamailio worker processes on each UDP socket.</summary>
    public int Children { get; init; } = 2;

    /// <summary>Name in reports; default "kamailio-vrrp-" plus the advert interval ("1s", "10ms").</summary>
    public string? Name { get; init; }

    /// <summary>Where the per-run configs, password tables and pid files go (a fresh temp directory if null).</summary>
    public string? WorkDirectory { get; init; }

    public string KamailioBinary { get; init; } = "kamailio";

    public string KeepalivedBinary { get; init; } = "keepalived";

    public string KamcmdBinary { get; init; } = "kamcmd";

    public string EffectiveName => Name ?? "kamailio-vrrp-" + FormatInterval(AdvertInterval);

    /// <summary>"1s", "10ms", "1.5s".</summary>
    public static string FormatInterval(TimeSpan interval) =>
        interval.TotalSeconds >= 1
            ? interval.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture) + "s"
            : interval.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture) + "ms";

    /// <summary>u01..uNN with password "lab-pw-uNN".</summary>
    public static IReadOnlyList<(string User, string Password)> DefaultUsers(int count) =>
        [.. Enumerable.Range(1, count).Select(i => ($"u{i:00}", $"lab-pw-u{i:00}"))];

    /// <summary>Throws with the option name and reason when a value cannot work.</summary>
    public void Validate()
    {
        var centiseconds = AdvertInterval.TotalMilliseconds / 10;
        if (AdvertInterval < MinimumAdvertInterval || AdvertInterval > TimeSpan.FromSeconds(255) || centiseconds != Math.Floor(centiseconds))
        {
            throw new ArgumentException($"{nameof(AdvertInterval)} {AdvertInterval.TotalSeconds} s: keepalived accepts 0.01 s to 255 s in steps of 0.01 s");
        }
        if (!NetnsLab.IsLabAddress(ServiceAddress))
        {
            throw new ArgumentException($"{nameof(ServiceAddress)} {ServiceAddress}: the lab uses addresses from 198.18.0.0/15 only");
        }
        if (Priorities.A <= Priorities.B || Priorities.B < 1 || Priorities.A > 254)
        {
            throw new ArgumentException($"{nameof(Priorities)} {Priorities}: need 254 >= a > b >= 1 (a is the preferred node)");
        }
        if (Users.Count == 0)
        {
            throw new ArgumentException($"{nameof(Users)}: at least one user is needed");
        }
        foreach (var (user, password) in Users)
        {
            // db_text separates columns with ':'; keep the table and SIP URIs simple.
            if (user.Length == 0 || password.Length == 0 || user.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.')) || password.Contains(':') || password.Contains('\n'))
            {
                throw new ArgumentException($"{nameof(Users)}: user '{user}' or its password has characters the Kamailio password table cannot hold");
            }
        }
    }
}
