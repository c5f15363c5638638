using System.Globalization;
using System.Text;

namespace Tandem.Lab.Failover;

/// <summary>The failures the lab injects into the node holding the service address.</summary>
public enum FailureKind
{
    /// <summary>kill -9 of the holder's processes.</summary>
    Kill,

    /// <summary>The holder's switch port down (a cut cable), up again to restore.</summary>
    Linkdown,

    /// <summary>Graceful stop (SIGTERM).</summary>
    Stop,

    /// <summary>SIGSTOP of the holder, SIGCONT to restore.</summary>
    Freeze,

    /// <summary>Traffic between the nodes dropped while both still reach the client and the witness.</summary>
    Partition,
}

public static class FailureKinds
{
    public static IReadOnlyList<FailureKind> All { get; } = Enum.GetValues<FailureKind>();

    public static string Name(FailureKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>"kill", "linkdown", …, or "all"; a comma-separated list works too.</summary>
    public static bool TryParse(string text, out IReadOnlyList<FailureKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = new List<FailureKind>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part == "all")
            {
                list.AddRange(All);
            }
            else if (All.FirstOrDefault(k => Name(k) == part) is var kind && Name(kind) == part)
            {
                list.Add(kind);
            }
            else
            {
                kinds = [];
                return false;
            }
        }
        kinds = list.Distinct().ToList();
        return kinds.Count > 0;
    }
}

/// <summary>One measured failover: a row of runs.csv.</summary>
public sealed record FailoverRun
{
    public required string System { get; init; }

    public required FailureKind Failure { get; init; }

    public required int Run { get; init; }

    /// <summary>When the failure was injected (UTC).</summary>
    public required DateTimeOffset FailureAt { get; init; }

    public required string HolderBefore { get; init; }

    /// <summary>Who serves the service address at the end of the observation window: the nodes that have it configured,
    /// without the failed node (a killed, stopped, frozen or cut-off node's kernel may keep its copy but it serves
    /// nothing); "a+b" is a split brain of two live nodes (partition), "none" nobody. See <see cref="LiveHolders"/>.</summary>
    public required string HolderAfter { get; init; }

    /// <summary>Every node whose namespace had the service address configured at the end of the window ("a+b", "none").</summary>
    public string AddressConfiguredOn { get; init; } = "";

    /// <summary>The node the client's ARP entry for the service address pointed to at the end of the window (who its
    /// packets reach), "" when it had none or a MAC of no node.</summary>
    public string ClientArpTo { get; init; } = "";

    /// <summary>
    /// <see cref="HolderAfter"/> from the nodes that have the address configured: a node that failed by kill, stop,
    /// freeze or link down cannot serve until it is restored, so its leftover copy does not count. After a partition
    /// both nodes run, so two holders stay a split brain.
    /// </summary>
    public static string LiveHolders(IReadOnlyList<string> configured, FailureKind failure, string failedNode)
    {
        ArgumentNullException.ThrowIfNull(configured);
        var live = failure == FailureKind.Partition ? configured : [.. configured.Where(n => n != failedNode)];
        return live.Count == 0 ? "none" : string.Join('+', live);
    }

    public required GapResult Gap { get; init; }

    /// <summary>Sentinel users registered before the failure that the holder afterwards did not know; -1 when not asked.</summary>
    public int RegistrationsLost { get; init; }

    public int Sentinels { get; init; }

    /// <summary>Calls in progress at the failure whose BYE got no 200.</summary>
    public int CallsDropped { get; init; }

    public int CallsInProgress { get; init; }

    public LoopSummary? RegisterLoop { get; init; }

    public LoopSummary? CallLoop { get; init; }

    /// <summary>The theses' downtime formula over the REGISTER loop (c = 1), seconds.</summary>
    public double? ThesisDowntimeRegisterSeconds { get; init; }

    /// <summary>The theses' downtime formula over the call loop (c = 3), seconds.</summary>
    public double? ThesisDowntimeCallSeconds { get; init; }

    public string Note { get; init; } = "";
}

/// <summary>runs.csv: one row per run, invariant culture, a header row first.</summary>
public static class RunsCsv
{
    public static readonly string[] Columns =
    [
        "system", "failure", "run", "gap_ms", "requests_lost", "registrations_lost", "calls_dropped", "holder_after",
        "holder_before", "failure_at_utc", "recovered", "recovered_after_ms", "requests_sent", "sentinels", "calls_in_progress",
        "register_iterations", "register_failed", "call_iterations", "call_failed",
        "thesis_downtime_register_s", "thesis_downtime_call_s", "address_configured_on", "client_arp_to", "note",
    ];

    public static string Header => string.Join(',', Columns);

    public static string Row(FailoverRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        string[] fields =
        [
            run.System, FailureKinds.Name(run.Failure), Int(run.Run), Number(run.Gap.GapMs), Int(run.Gap.RequestsLost),
            Int(run.RegistrationsLost), Int(run.CallsDropped), run.HolderAfter,
            run.HolderBefore, run.FailureAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            run.Gap.Recovered ? "true" : "false", Number(run.Gap.RecoveredAfterMs), Int(run.Gap.RequestsSent), Int(run.Sentinels),
            Int(run.CallsInProgress),
            Int(run.RegisterLoop?.Started), Int(run.RegisterLoop?.Failed), Int(run.CallLoop?.Started), Int(run.CallLoop?.Failed),
            Number(run.ThesisDowntimeRegisterSeconds), Number(run.ThesisDowntimeCallSeconds), run.AddressConfiguredOn, run.ClientArpTo, run.Note,
        ];
        return string.Join(',', fields.Select(Escape));
    }

    public static string Write(IEnumerable<FailoverRun> runs)
    {
        var text = new StringBuilder().Append(Header).Append('\n');
        foreach (var run in runs)
        {
            text.Append(Row(run)).Append('\n');
        }
        return text.ToString();
    }

    private static string Int(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string Number(double? value) => value?.ToString("0.###", CultureInfo.InvariantCulture) ?? "";

    private static string Escape(string field)
        => field.AsSpan().IndexOfAny(",\"\n\r") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
