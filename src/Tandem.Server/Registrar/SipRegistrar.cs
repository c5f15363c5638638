using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Tandem.Server.Cluster;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;
using Tandem.Storage;

namespace Tandem.Server.Registrar;

/// <summary>
/// The registrar (RFC 3261 §10.3): checks the domain and credentials, applies the REGISTER to the
/// location service under the AoR's lock, reports every change to the binding store, and answers
/// with all current contacts. In write-through mode the 200 OK waits for the disk.
/// </summary>
public sealed class SipRegistrar
{
    private readonly LocationService _locations;
    private readonly IBindingStore _store;
    private readonly RegistrarSettings _settings;
    private readonly IRequestAuthenticator? _authenticator;
    private long _shedForStorage;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly StringPool _userAgents = new(1024);
    private readonly StringPool _localAddresses = new(256);
    private readonly IBindingReplicator? _replicator;

    /// <param name="replicator">State replication of the bindings; null on a standalone node.</param>
    public SipRegistrar(LocationService locations, IBindingStore store, RegistrarSettings settings, IRequestAuthenticator? authenticator, TimeProvider time, ILogger logger, IBindingReplicator? replicator = null)
    {
        _replicator = replicator;
        _locations = locations;
        _store = store;
        _settings = settings;
        _authenticator = authenticator;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Whether <see cref="HandleAsync"/> can only answer <paramref name="request"/> with a challenge
    /// or an error: authentication is on and the request carries no Authorization header at all
    /// (the authenticator then always challenges). SipServerCore relies on it to answer such
    /// requests statelessly, without a transaction.
    /// </summary>
    public bool WillChallenge(SipMessage request)
        => _authenticator is not null && request.IndexOfHeader(HeaderId.Authorization) < 0;

    /// <summary>REGISTERs answered 503 because too many were waiting for their commit.</summary>
    public long ShedForStorage => Interlocked.Read(ref _shedForStorage);

    public async ValueTask<SipResponse> HandleAsync(SipMessage request, SipFlow flow, CancellationToken cancellationToken)
    {
        if (_store.WaitingForCommit >= _settings.MaxWaitingForCommit)
        {
            // Overload: the disk is behind. Refusing at once keeps the answer time of the accepted
            // REGISTERs below the clients' retransmission timer; queueing would make them all late,
            // and their retransmissions would add load until throughput collapsed.
            if (Interlocked.Increment(ref _shedForStorage) % 1000 == 1)
            {
                ServerLog.ShedForStorage(_logger, _store.WaitingForCommit, ShedForStorage);
            }

            return Respond(request, 503, "Service Unavailable (storage busy)").AddHeader("Retry-After", "1");
        }

        var to = request.To!;
        if (!to.Uri.IsSip || to.Uri.User is null)
        {
            return Respond(request, 404, "Not Found (To is not a SIP address of record)");
        }

        var domain = to.Uri.Host.ToLowerInvariant();
        if (_settings.Domains.Count > 0 && !IsServed(domain))
        {
            return Respond(request, 403, "Forbidden (domain not served here)");
        }

        if (_authenticator is not null)
        {
            var auth = await _authenticator.AuthenticateAsync(request, domain, HeaderId.Authorization, cancellationToken);
            if (auth.Status == AuthStatus.Challenge)
            {
                var challenge = Respond(request, 401, "Unauthorized");
                foreach (var value in auth.Challenges)
                {
                    challenge.AddHeader("WWW-Authenticate", value);
                }

                return challenge;
            }

            // A user may only register their own address of record (RFC 3261 §10.3 step 3).
            if (!string.Equals(auth.Username, UnescapedUser(to.Uri.User), StringComparison.Ordinal))
            {
                return Respond(request, 403, "Forbidden (credentials do not match the address of record)");
            }
        }

        var aor = to.Uri.ToAddressOfRecord();
        RegistrationPlan plan;
        BindingOrigin origin;
        Task? replicated = null;
        var now = _time.GetUtcNow();
        using (await _locations.LockAsync(aor, cancellationToken))
        {
            var existing = _locations.Get(aor);
            origin = Origin(request, flow, existing);
            if (existing.Count > 0)
            {
                // One AoR string per AoR, not one per binding.
                aor = existing[0].Aor;
            }

            plan = RegistrationPlanner.Plan(request, aor, existing, _settings, now, origin);
            if (plan.IsSuccess)
            {
                _locations.Set(aor, plan.Bindings);
                foreach (var binding in plan.Deletes)
                {
                    await _store.DeleteAsync(binding.Aor, binding.ContactUri, cancellationToken);
                }

                foreach (var binding in plan.Upserts)
                {
                    await _store.UpsertAsync(binding, cancellationToken);
                }

                replicated = _replicator?.Publish(plan.Upserts, plan.Deletes, cancellationToken);
            }
        }

        // Sync replication: answer once a peer holds the change (or degraded / timed out).
        if (replicated is not null)
        {
            await replicated;
        }

        var response = Respond(request, plan.StatusCode, plan.Reason);
        foreach (var header in plan.Headers)
        {
            response.AddHeader(header.Key, header.Value);
        }

        if (plan.IsSuccess)
        {
            foreach (var binding in plan.Bindings)
            {
                response.AddHeader("Contact", RegistrationPlanner.FormatContact(binding, now));
            }

            response.AddHeader("Date", now.UtcDateTime.ToString("r", CultureInfo.InvariantCulture));
            ServerLog.Registered(_logger, aor, origin.SourceAddress, plan.Bindings.Length);
        }

        return response;
    }

    /// <summary>Removes expired bindings from memory and the store; returns how many went.</summary>
    public async Task<int> PurgeExpiredAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var purged = 0;
        foreach (var (aor, bindings) in _locations.All)
        {
            if (Array.TrueForAll(bindings, b => b.ExpiresAt > now))
            {
                continue;
            }

            using (await _locations.LockAsync(aor, cancellationToken))
            {
                var current = _locations.Get(aor);
                var alive = current.Where(b => b.ExpiresAt > now).ToArray();
                purged += current.Count - alive.Length;
                _locations.Set(aor, alive);
            }
        }

        if (purged > 0)
        {
            await _store.DeleteExpiredAsync(now, cancellationToken);
            ServerLog.PurgedBindings(_logger, purged);
        }

        return purged;
    }

    /// <summary>
    /// Where the REGISTER came from. The strings are shared where they repeat, as each binding keeps
    /// them for its lifetime: local addresses are a handful, user agents a few models, and a device
    /// refreshing or registering several contacts keeps its source address.
    /// </summary>
    private BindingOrigin Origin(SipMessage request, SipFlow flow, IReadOnlyList<Binding> existing)
    {
        var source = FormatEndPoint(flow.RemoteEndPoint);
        foreach (var binding in existing)
        {
            if (binding.SourceAddress.Equals(source, StringComparison.Ordinal))
            {
                source = binding.SourceAddress;
                break;
            }
        }

        return new BindingOrigin(
            source,
            _localAddresses.Intern(FormatEndPoint(flow.LocalEndPoint))!,
            SipTransportProtocols.Token(flow.Protocol),
            _userAgents.Intern(request.GetHeader(HeaderId.UserAgent)));
    }

    private bool IsServed(string domain)
    {
        foreach (var served in _settings.Domains)
        {
            if (served.Equals(domain, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static string UnescapedUser(string user)
        => Tandem.Sip.Text.SipChars.TryUnescape(user, out var unescaped) ? unescaped : user;

    internal static SipResponse Respond(SipMessage request, int status, string reason)
        => new(request, status, reason) { ToTag = Tags.New() };

    internal static string FormatEndPoint(IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        return new IPEndPoint(address, endPoint.Port).ToString();
    }
}
