using System.Net;
using Microsoft.Extensions.Logging;
using Tandem.Server.Proxy;
using Tandem.Server.Registrar;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;
using Tandem.Sip.Transactions;

namespace Tandem.Server.Core;

/// <summary>
/// The SIP core between transports and features: parses each message, answers or drops bad input,
/// matches requests to server transactions (absorbing retransmissions, RFC 3261 §17.2.3),
/// validates, and routes REGISTER to the registrar and OPTIONS to a local answer.
/// </summary>
public sealed class SipServerCore : ISipMessageSink, ITransactionSink<SipPacket>
{
    private const string Allow = "REGISTER, OPTIONS";

    private readonly SipParserLimits _limits;
    private readonly SipValidationOptions _validation;
    private readonly SipRegistrar _registrar;
    private readonly TransactionTable<Transaction<SipPacket>> _transactions;
    private readonly TransactionTable<Transaction<SipPacket>> _clients;
    private readonly TransactionContext<SipPacket> _context;
    private readonly CompletedAnswerCache _answers;
    private readonly string _serverHeader;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;

    public SipServerCore(
        SipParserLimits limits,
        SipRegistrar registrar,
        Tandem.Sip.Timers.TimerWheel wheel,
        SipTimerSettings timers,
        int maxTransactions,
        string serverHeader,
        ILogger logger,
        CancellationToken stopping)
    {
        _limits = limits;
        _validation = SipValidationOptions.Default;
        _registrar = registrar;
        _transactions = new TransactionTable<Transaction<SipPacket>>(maxTransactions);
        _clients = new TransactionTable<Transaction<SipPacket>>(maxTransactions);
        _context = new TransactionContext<SipPacket>(wheel, timers, this);
        _answers = new CompletedAnswerCache(wheel.TimeProvider, timers.TimerJ(reliable: false), maxTransactions);
        _serverHeader = serverHeader;
        _logger = logger;
        _stopping = stopping;
    }

    public ServerCounters Counters { get; } = new();

    /// <summary>The proxy, once the server has wired it; without it only local requests are served.</summary>
    public ProxyCore? Proxy { get; set; }

    /// <summary>Which URIs are this server's; set with the proxy.</summary>
    public LocalIdentity? Identity { get; set; }

    internal TransactionContext<SipPacket> Context => _context;

    internal TransactionTable<Transaction<SipPacket>> ClientTransactions => _clients;

    public int TransactionCount => _transactions.Count;

    /// <summary>Final answers of completed transactions kept for replay (Timer J) in place of the transactions.</summary>
    public int CompletedAnswerCount => _answers.Count;

    /// <summary>Drops replayable answers older than Timer J; called periodically so an idle server frees them.</summary>
    public void ExpireCompletedAnswers() => _answers.Expire();

    public async ValueTask OnMessageAsync(ReadOnlyMemory<byte> data, SipFlow flow)
    {
        var result = SipParser.Parse(data.Span, _limits);
        if (!result.IsSuccess)
        {
            await RejectMalformedAsync(result, flow);
            return;
        }

        var message = result.Message!;
        if (!message.IsRequest)
        {
            await OnResponseAsync(message, flow);
            return;
        }

        Counters.Request();
        if (!TryGetKey(message, out var key))
        {
            Counters.MalformedDrop();
            return;
        }

        if (_transactions.TryGet(key, out var existing))
        {
            Counters.RetransmissionAbsorbed();
            if (message.Method == SipMethod.Ack && existing is ServerInviteTransaction<SipPacket> invite)
            {
                invite.OnAck(new SipPacket(message, ReadOnlyMemory<byte>.Empty, flow, flow.RemoteEndPoint));
            }
            else if (existing is ServerTransaction<SipPacket> server)
            {
                server.OnRequestRetransmission();
            }

            return;
        }

        if (IsAnswerCached(message.Method, flow) && _answers.TryGetAnswer(key) is { } answered)
        {
            // A retransmission of a request whose transaction completed: the same answer again (§17.2.2).
            Counters.RetransmissionAbsorbed();
            await flow.SendToAsync(answered, ResponseTarget(message, flow));
            return;
        }

        if (Proxy is not null && IsProxiedInDialog(message))
        {
            // ACKs for 2xx and requests inside a dialog travel statelessly along their Route set.
            await Proxy.ForwardStatelesslyAsync(message, flow, _stopping);
            return;
        }

        if (message.Method == SipMethod.Ack)
        {
            // An ACK for no transaction that we do not forward (§17.1.1.3): nothing to do.
            return;
        }

        if (message.Method == SipMethod.Register && _registrar.WillChallenge(message) && (Proxy is null || IsForUs(message)))
        {
            // Half of all REGISTERs: no credentials yet, so the answer can only be a challenge or an
            // error (WillChallenge's contract), which is stateless anyway (§17.2.1 permits it for
            // final answers that are not 2xx). Skipping the transaction saves its creation, table
            // entry and abort; a retransmission is simply challenged again.
            await SendStatelessAsync(await HandleLocallyAsync(message, flow), flow);
            return;
        }

        // The transaction keeps only what it needs to match and resend: not the parsed request,
        // which would hold kilobytes per transaction for the 32 s of Timer J.
        var request = new SipPacket(null, ReadOnlyMemory<byte>.Empty, flow, flow.RemoteEndPoint);
        ServerTransaction<SipPacket> transaction = message.Method == SipMethod.Invite
            ? new ServerInviteTransaction<SipPacket>(_context, key, request, flow.IsReliable)
            : new ServerNonInviteTransaction<SipPacket>(_context, key, request, flow.IsReliable);

        switch (_transactions.TryAdd(key, transaction))
        {
            case TransactionAddResult.AlreadyExists:
                Counters.RetransmissionAbsorbed();
                return;
            case TransactionAddResult.Full:
                Counters.Overload();
                ServerLog.TransactionTableFull(_logger, _transactions.Count);
                var busy = new SipResponse(message, 503, "Service Unavailable") { ToTag = Tags.New() };
                busy.AddHeader("Retry-After", "5");
                await SendStatelessAsync(busy, flow);
                return;
        }

        if (Proxy is not null && !IsForUs(message))
        {
            await ProxyRequestAsync(message, flow, transaction, key);
            return;
        }

        var response = await HandleLocallyAsync(message, flow);
        response.AddHeader("Server", _serverHeader);
        var packet = ToPacket(response, flow);
        if (!IsStatelessAnswer(message.Method, response.StatusCode)
            && IsAnswerCached(message.Method, flow) && _answers.TryAdd(key, packet.Bytes.Span))
        {
            // Timer J's 32 s of replaying this answer (a REGISTER's 200) are kept compactly by the
            // answer cache rather than by the transaction object (see CompletedAnswerCache). The
            // transaction ends before the answer leaves, so the sender never sees it alive.
            transaction.Abort();
            await SendPacketAsync(packet);
            return;
        }

        transaction.SendResponse(response.StatusCode, packet);
        if (IsStatelessAnswer(message.Method, response.StatusCode))
        {
            transaction.Abort();
        }
    }

    /// <summary>The answer to a request for this server; a failure in handling becomes a 500.</summary>
    private async ValueTask<SipResponse> HandleLocallyAsync(SipMessage message, SipFlow flow)
    {
        try
        {
            return await HandleRequestAsync(message, flow);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Error handling {Method} from {Remote}", message.MethodName, flow.RemoteEndPoint);
            return new SipResponse(message, 500, "Server Internal Error") { ToTag = Tags.New() };
        }
    }

    private async ValueTask ProxyRequestAsync(SipMessage message, SipFlow flow, ServerTransaction<SipPacket> transaction, TransactionKey key)
    {
        try
        {
            if (message.Method == SipMethod.Cancel)
            {
                // §16.10: answer the CANCEL hop by hop, then cancel the INVITE's branches.
                // The 200 for the CANCEL goes first, then the INVITE's 487 (the order UAs expect).
                var invite = _transactions.TryGet(key.ToInviteKey(), out var found) ? found as ServerTransaction<SipPacket> : null;
                var pending = invite is not null && ProxyCore.IsCancellable(invite);
                var answer = pending ? new SipResponse(message, 200, "OK") : new SipResponse(message, 481, "Call/Transaction Does Not Exist");
                answer.ToTag = Tags.New();
                answer.AddHeader("Server", _serverHeader);
                transaction.SendResponse(answer.StatusCode, ToPacket(answer, flow));
                transaction.Abort();
                if (pending)
                {
                    ProxyCore.TryCancel(invite!);
                }

                return;
            }

            var rejection = SipRequestValidator.Validate(message, _validation, consumesBody: false, asProxy: true);
            if (rejection is not null)
            {
                var refused = new SipResponse(message, rejection.StatusCode, rejection.Reason) { ToTag = Tags.New() };
                foreach (var header in rejection.Headers)
                {
                    refused.AddHeader(header.Key, header.Value);
                }

                refused.AddHeader("Server", _serverHeader);
                transaction.SendResponse(refused.StatusCode, ToPacket(refused, flow));
                return;
            }

            await Proxy!.HandleAsync(message, flow, transaction, _stopping);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Error proxying {Method} from {Remote}", message.MethodName, flow.RemoteEndPoint);
            var failed = new SipResponse(message, 500, "Server Internal Error") { ToTag = Tags.New() };
            transaction.SendResponse(500, ToPacket(failed, flow));
        }
    }

    /// <summary>
    /// Requests the node answers itself: REGISTER (the registrar), and OPTIONS or other requests
    /// addressed to the server rather than to a user.
    /// </summary>
    private bool IsForUs(SipMessage request)
    {
        if (request.Method == SipMethod.Register)
        {
            return true;
        }

        if (request.Method == SipMethod.Cancel)
        {
            return false;
        }

        var uri = request.RequestUri;
        return !uri.IsSip ? false : uri.User is null && !request.HasHeader(HeaderId.Route) && (Identity?.IsLocalDomain(uri.Host.ToLowerInvariant()) ?? true);
    }

    /// <summary>An ACK or a request inside a dialog (To has a tag): routed by its Route set (§12.2, §16.11).</summary>
    private static bool IsProxiedInDialog(SipMessage request)
        => request.Method != SipMethod.Cancel && request.Method != SipMethod.Register && request.To?.Tag is not null;

    private async ValueTask OnResponseAsync(SipMessage response, SipFlow flow)
    {
        var via = response.TopVia;
        if (via.Branch is { } branch && _clients.TryGet(TransactionKey.ForClient(branch, response.CSeq.MethodName), out var client)
            && client is ClientTransaction<SipPacket> transaction)
        {
            transaction.OnResponseReceived(response.StatusCode, new SipPacket(response, ReadOnlyMemory<byte>.Empty, flow, flow.RemoteEndPoint));
            return;
        }

        if (Proxy is not null)
        {
            await Proxy.ForwardResponseStatelesslyAsync(response, _stopping);
            return;
        }

        Counters.StrayResponse();
    }

    /// <summary>
    /// Answers that change nothing need not be kept for Timer J: a retransmission is simply answered
    /// again, with the same result (a failure, an OPTIONS 200) or a fresh challenge. This keeps memory
    /// to the REGISTER 200 OKs, which must be replayed rather than re-run (nonce counts, CSeq order).
    /// INVITE transactions always stay, to absorb the ACK (RFC 3261 §17.2.1).
    /// </summary>
    // Completed non-INVITE transactions over UDP replay their answer from CompletedAnswerCache
    // (Timer J is zero over reliable transports; INVITE and its ACK keep their own transaction).
    private static bool IsAnswerCached(SipMethod method, SipFlow flow)
        => !flow.IsReliable && method is not (SipMethod.Invite or SipMethod.Ack);

    private static bool IsStatelessAnswer(SipMethod method, int statusCode)
        => method != SipMethod.Invite && statusCode >= 200 && (statusCode >= 300 || method == SipMethod.Options);

    private async ValueTask<SipResponse> HandleRequestAsync(SipMessage request, SipFlow flow)
    {
        var rejection = SipRequestValidator.Validate(request, _validation, consumesBody: false);
        if (rejection is not null)
        {
            var refused = new SipResponse(request, rejection.StatusCode, rejection.Reason) { ToTag = Tags.New() };
            foreach (var header in rejection.Headers)
            {
                refused.AddHeader(header.Key, header.Value);
            }

            return refused;
        }

        switch (request.Method)
        {
            case SipMethod.Register:
                return await _registrar.HandleAsync(request, flow, _stopping);
            case SipMethod.Options:
                var ok = new SipResponse(request, 200, "OK") { ToTag = Tags.New() };
                ok.AddHeader("Allow", Allow).AddHeader("Accept", "application/sdp");
                return ok;
            case SipMethod.Cancel:
                return new SipResponse(request, 481, "Call/Transaction Does Not Exist") { ToTag = Tags.New() };
            case SipMethod.Extension:
                return new SipResponse(request, 501, "Not Implemented") { ToTag = Tags.New() }.AddHeader("Allow", Allow);
            default:
                return new SipResponse(request, 405, "Method Not Allowed") { ToTag = Tags.New() }.AddHeader("Allow", Allow);
        }
    }

    private async ValueTask RejectMalformedAsync(SipParseResult result, SipFlow flow)
    {
        if (!result.CanRespond || result.Message!.Method == SipMethod.Ack)
        {
            Counters.MalformedDrop();
            ServerLog.DroppedMalformed(_logger, flow.RemoteEndPoint.ToString(), result.Error.Reason);
            return;
        }

        Counters.MalformedAnswer();
        ServerLog.RejectedMalformed(_logger, flow.RemoteEndPoint.ToString(), result.Error.StatusCode, result.Error.Reason);
        var reason = result.Error.StatusCode == 400 ? $"Bad Request ({result.Error.Reason})" : result.Error.Reason;
        await SendStatelessAsync(new SipResponse(result.Message, result.Error.StatusCode, reason) { ToTag = Tags.New() }, flow);
    }

    private ValueTask SendStatelessAsync(SipResponse response, SipFlow flow)
    {
        response.AddHeader("Server", _serverHeader);
        return SendPacketAsync(ToPacket(response, flow));
    }

    private async ValueTask SendPacketAsync(SipPacket packet)
    {
        if (await packet.Flow.SendToAsync(packet.Bytes, packet.Target))
        {
            Counters.ResponseSent();
        }
    }

    private static SipPacket ToPacket(SipResponse response, SipFlow flow)
        => new(null, response.ToBytes(flow.RemoteEndPoint), flow, ResponseTarget(response.Request, flow));

    /// <summary>
    /// RFC 3261 §18.2.2 and RFC 3581 §4: over UDP, answer the source address, at the source port
    /// when the client asked with rport, else at the Via port (5060 by default). Reliable
    /// transports answer on the connection itself.
    /// </summary>
    internal static IPEndPoint ResponseTarget(SipMessage request, SipFlow flow)
    {
        if (flow.IsReliable || request.TopVia is not { } via || via.HasRport)
        {
            return flow.RemoteEndPoint;
        }

        var port = via.Port == 0 ? 5060 : via.Port;
        return port == flow.RemoteEndPoint.Port ? flow.RemoteEndPoint : new IPEndPoint(flow.RemoteEndPoint.Address, port);
    }

    /// <summary>
    /// The server transaction key (§17.2.3). Requests from RFC 2543 elements carry no usable branch;
    /// for them a key is made from Call-ID, CSeq number and From tag, which is what §17.2.3 compares.
    /// </summary>
    private static bool TryGetKey(SipMessage message, out TransactionKey key)
    {
        var via = message.TopVia;
        if (via.HasRfc3261Branch)
        {
            return TransactionKey.TryCreateServer(via.Branch, via.SentBy, message.CSeq.MethodName, out key);
        }

        var synthetic = $"{TransactionKey.MagicCookie}.2543.{message.CallId}.{message.CSeq.Number}.{message.From?.Tag}";
        return TransactionKey.TryCreateServer(synthetic, via.SentBy, message.CSeq.MethodName, out key);
    }

    // ITransactionSink: the transaction layer asks for I/O here.
    void ITransactionSink<SipPacket>.SendResponse(ServerTransaction<SipPacket> transaction, SipPacket response, bool isRetransmission)
    {
        var sending = response.Flow.SendToAsync(response.Bytes, response.Target);
        if (sending.IsCompleted)
        {
            if (sending.Result)
            {
                Counters.ResponseSent();
            }
        }
        else
        {
            _ = sending.AsTask();
        }
    }

    void ITransactionSink<SipPacket>.Terminated(Transaction<SipPacket> transaction)
    {
        if (transaction is ClientTransaction<SipPacket>)
        {
            _clients.TryRemove(transaction.Key, transaction);
        }
        else
        {
            _transactions.TryRemove(transaction.Key, transaction);
        }
    }

    void ITransactionSink<SipPacket>.TransportFailed(Transaction<SipPacket> transaction)
    {
        Proxy?.OnClientTransportError(transaction);
        transaction.Abort();
    }

    void ITransactionSink<SipPacket>.TimedOut(Transaction<SipPacket> transaction, SipTimer timer)
    {
        // Timer B/F: a forwarded request got no final answer; Timer H: our final response to an
        // INVITE was never acknowledged (§17.2.1), nothing more to do.
        if (transaction is ClientTransaction<SipPacket>)
        {
            Proxy?.OnClientTimeout(transaction);
        }
    }

    void ITransactionSink<SipPacket>.AckReceived(ServerInviteTransaction<SipPacket> transaction, SipPacket ack)
    {
    }

    void ITransactionSink<SipPacket>.SendRequest(ClientTransaction<SipPacket> transaction, SipPacket request, bool isRetransmission)
        => ProxyCore.SendClientRequest(request);

    void ITransactionSink<SipPacket>.SendAck(ClientInviteTransaction<SipPacket> transaction, SipPacket finalResponse)
        => ProxyCore.SendAck(transaction, finalResponse);

    void ITransactionSink<SipPacket>.ResponseReceived(ClientTransaction<SipPacket> transaction, int statusCode, SipPacket response)
        => ProxyCore.OnClientResponse(transaction, statusCode, response);
}
