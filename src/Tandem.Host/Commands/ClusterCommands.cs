using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Tandem.Server.Admin;

namespace Tandem.Host.Commands;

internal static class ClusterCommands
{
    public static readonly CommandSpec Status = new(
        "cluster status",
        "Show the running node's view of the cluster: members, links, quorum, addresses, replication, digests, recent events.",
        [],
        [new("json", null, "print the status as JSON (the admin API's GET /v1/status; fields in docs/cluster.md)")],
        StatusAsync,
        "Asks the node that runs with this configuration's data directory, over its admin socket\n" +
        "<data-dir>/admin.sock. Exits 1 when no node is running there. On a standalone node it shows\n" +
        "'standalone' and the SIP summary.");

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private static async Task<int> StatusAsync(ParsedArgs args, CliContext context)
    {
        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        var dataDir = Path.GetFullPath(config.Options!.DataDir);
        var socket = AdminServer.SocketPath(dataDir);
        var (json, error) = await AdminClient.GetAsync(socket, "/v1/status", RequestTimeout);
        if (json is null)
        {
            await context.Stderr.WriteLineAsync($"tandem cluster status: no Tandem node running with data dir {dataDir}: {error}");
            return CliApp.Failed;
        }

        if (args.Has("json"))
        {
            await context.Stdout.WriteLineAsync(json.TrimEnd());
            return CliApp.Ok;
        }

        AdminStatus? status;
        try
        {
            status = JsonSerializer.Deserialize(json, AdminJsonContext.Default.AdminStatus);
        }
        catch (JsonException e)
        {
            await context.Stderr.WriteLineAsync($"tandem cluster status: the node's answer is not a status document: {e.Message}");
            return CliApp.Failed;
        }

        if (status is null)
        {
            await context.Stderr.WriteLineAsync("tandem cluster status: the node sent an empty status");
            return CliApp.Failed;
        }

        await StatusPrinter.WriteAsync(context.Stdout, status);
        return CliApp.Ok;
    }
}

/// <summary>A GET over the admin Unix socket (HTTP/1.1).</summary>
internal static class AdminClient
{
    /// <summary>Returns the body of a 200 answer, or null and why not.</summary>
    public static async Task<(string? Body, string Error)> GetAsync(string socketPath, string path, TimeSpan timeout)
    {
        if (!File.Exists(socketPath))
        {
            return (null, $"{socketPath} not found");
        }

        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var client = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(new Uri("http://tandem" + path));
            var body = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode ? (body, "") : (null, $"{socketPath} answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException s)
        {
            return (null, $"{socketPath} refuses connections ({s.SocketErrorCode}; left by a node that crashed?)");
        }
        catch (HttpRequestException e)
        {
            return (null, $"{socketPath}: {e.Message}");
        }
        catch (TaskCanceledException)
        {
            return (null, $"{socketPath} did not answer within {timeout.TotalSeconds:0} s");
        }
    }
}

/// <summary>The human-readable form of <see cref="AdminStatus"/>.</summary>
internal static class StatusPrinter
{
    public static async Task WriteAsync(TextWriter output, AdminStatus status)
    {
        await output.WriteLineAsync(
            $"node {status.Node} ({status.Mode}), tandem {status.Version}, up {Duration(status.UptimeSeconds)}, at {Utc(status.At)}, data {status.DataDir}");
        var sip = status.Sip;
        await output.WriteLineAsync(
            $"sip: {sip.Bindings} binding(s) of {sip.Aors} AoR(s), {sip.ActiveDialogs} active dialog(s), {sip.RequestsReceived} request(s) received, {sip.PacketsDropped} dropped; listening on {string.Join(", ", sip.Listening)}");

        if (status.Cluster is { } cluster)
        {
            await output.WriteLineAsync();
            await output.WriteLineAsync(
                $"quorum: {(cluster.Quorum.Has ? "yes" : "NO")}, {cluster.Quorum.VotesSeen} of {cluster.Quorum.Voters} voters seen, {cluster.Quorum.Needed} needed; " +
                $"this node {(cluster.Healthy ? "healthy" : "UNHEALTHY")} ({cluster.HealthScore}){(cluster.Leaving ? ", leaving" : "")}, view epoch {cluster.Epoch}" +
                (cluster.FencingConfigured ? ", fencing on" : ""));
            await output.WriteLineAsync();
            await output.WriteLineAsync("members:");
            await Table.WriteAsync(output, ["  MEMBER", "ROLE", "STATE", "HEALTH", "LAST HEARD", "LINKS", "CLAIMS", "FENCE"],
                [
                    ["  " + cluster.Self + " (this node)", status.Mode == "witness" ? "witness" : "node", cluster.Leaving ? "leaving" : "up", cluster.HealthScore.ToString(CultureInfo.InvariantCulture), "-", "-",
                        Join(cluster.Addresses.Where(a => a.HeldHere).Select(a => a.Address)), "-"],
                    .. cluster.Members.Select(m => new[]
                    {
                        "  " + m.Id, m.Role, m.State, m.HealthScore.ToString(CultureInfo.InvariantCulture),
                        m.LastHeardMsAgo is { } ms ? $"{ms} ms ago" : "never",
                        string.Join(' ', m.Links.Select(l => $"{l.Index}:{(l.Up ? "up" : "down")}")),
                        Join(m.Claims),
                        m.Fence == "none" ? "-" : m.Fence + (m.FenceDetail is { } d ? $" ({d})" : ""),
                    }),
                ]);

            if (cluster.Addresses.Count > 0)
            {
                await output.WriteLineAsync();
                await output.WriteLineAsync("service addresses:");
                await Table.WriteAsync(output, ["  ADDRESS", "INTERFACE", "HOLDER", "HERE", "PEERS CLAIMING", "PREFERENCE"],
                    cluster.Addresses.Select(a => new[]
                    {
                        "  " + a.Address, a.Interface ?? "-", a.Holder ?? "(nobody)",
                        a.HeldHere ? "held" : a.OwnedHere ? "owned, not yet added" : "-",
                        Join(a.ClaimedBy), string.Join(" > ", a.Preference),
                    }));
            }
        }

        if (status.Replication is { } replication)
        {
            await output.WriteLineAsync();
            await output.WriteLineAsync(
                $"replication ({replication.Mode}, listening on {replication.Listen ?? "-"}): converged {(replication.Converged ? "yes" : "NO")}; " +
                $"sync REGISTERs acked {replication.RegistersAcknowledged}, degraded {replication.RegistersDegraded}, timed out {replication.RegistersTimedOut}");
            await Table.WriteAsync(output, ["  PEER", "CONNECTED", "INBOUND", "SENT", "ACKED", "LAG", "LAST ACK", "CONVERGED"],
                replication.Peers.Select(p => new[]
                {
                    "  " + p.Peer, YesNo(p.Connected), YesNo(p.InboundConnected),
                    p.RecordsSent.ToString(CultureInfo.InvariantCulture), p.RecordsAcked.ToString(CultureInfo.InvariantCulture),
                    p.Lag.ToString(CultureInfo.InvariantCulture), p.LastAckMsAgo is { } ms ? $"{ms} ms ago" : "never", YesNo(p.Converged),
                }));
            await output.WriteLineAsync();
            await output.WriteLineAsync($"state digest {replication.Digest.Combined}:");
            var peers = replication.Peers.Select(p => p.Peer).ToList();
            await Table.WriteAsync(output, ["  KIND", "LIVE", "HASH", .. peers.Select(p => p.ToUpperInvariant())],
                replication.Digest.Kinds.Select(k => (string[])
                [
                    "  " + k.Kind, k.Count.ToString(CultureInfo.InvariantCulture), k.Hash[..8],
                    .. peers.Select(p => PeerDigest(k, p)),
                ]));
        }

        if (status.History.Count > 0)
        {
            await output.WriteLineAsync();
            await output.WriteLineAsync($"last {status.History.Count} event(s), UTC:");
            foreach (var e in status.History)
            {
                await output.WriteLineAsync($"  {Utc(e.At)}  {e.Kind}{(e.Subject.Length > 0 ? " " + e.Subject : "")}: {e.Reason}");
            }
        }
    }

    private static string PeerDigest(KindDigestStatus kind, string peer) => kind.Peers.FirstOrDefault(x => x.Peer == peer) switch
    {
        null => "-",
        { Count: null } => "no digest yet",
        { Matches: true } => "same",
        var d => $"DIFFERS ({d.Count} live, {d.Hash![..8]})",
    };

    private static string Join(IEnumerable<string> items)
    {
        var text = string.Join(", ", items);
        return text.Length == 0 ? "-" : text;
    }

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Duration(double seconds) => seconds < 120 ? $"{seconds:0.0} s" : seconds < 7200 ? $"{seconds / 60:0.0} min" : $"{seconds / 3600:0.0} h";
}
