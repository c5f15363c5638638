using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Tandem.Sip.Headers;
using Tandem.Sip.Messages;

namespace Tandem.Server.Proxy;

/// <summary>
/// Branch parameters for forwarded requests (RFC 3261 §16.6 step 8). Each carries a hash of the
/// fields that identify the request as received (Request-URI, From and To tags, Call-ID, CSeq
/// number, top Route), so a request that comes back to us unchanged is a loop (482) while one that
/// spirals back with a new Request-URI is not (§16.3 step 4). The top Via is left out although
/// §16.6 lists it: a looped request arrives with our own Via on top, so including it would make
/// every loop look like a spiral.
/// </summary>
public static class Branches
{
    /// <summary>Branches of stateful forwarding: their responses belong to a client transaction.</summary>
    private const string Prefix = "z9hG4bKtdm";

    /// <summary>Branches of stateless forwarding: their responses are routed back by Via alone.</summary>
    public const string StatelessPrefix = "z9hG4bKtds";

    private static long s_counter = Random.Shared.NextInt64(1, long.MaxValue / 2);

    public static string New(string loopHash) => $"{Prefix}{loopHash}.{Interlocked.Increment(ref s_counter):x}";

    /// <summary>
    /// A stateless branch (§16.11): derived from the incoming request's own branch, so that a
    /// retransmission is forwarded with the same branch and the next hop can match it.
    /// </summary>
    public static string NewStateless(string loopHash, SipMessage request)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{request.TopVia.Branch}|{request.TopVia.SentBy}|{request.MethodName}"), hash);
        return $"{StatelessPrefix}{loopHash}.{BinaryPrimitives.ReadUInt64LittleEndian(hash):x}";
    }

    /// <summary>A fresh branch for requests we originate (keep-alive OPTIONS), with no loop hash.</summary>
    public static string NewStandalone() => $"{Prefix}0.{Interlocked.Increment(ref s_counter):x}";

    public static bool IsStateless(string? branch) => branch is not null && branch.StartsWith(StatelessPrefix, StringComparison.Ordinal);

    public static string LoopHash(SipMessage request)
    {
        var text = $"{request.RequestUriText}|{request.From?.Tag}|{request.To?.Tag}|{request.CallId}|{request.CSeq.Number}|{FirstValue(request, HeaderId.Route)}";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return BinaryPrimitives.ReadUInt64LittleEndian(hash).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>True when a Via of ours carries the same loop hash: the request has been here before.</summary>
    public static bool IsLoop(SipMessage request, LocalIdentity identity, string loopHash, System.Net.IPAddress receivedOn)
    {
        foreach (var value in request.GetHeaderValues(HeaderId.Via))
        {
            var via = ViaHeader.TryParse(value, out _);
            if (via?.Branch is { } branch
                && (branch.StartsWith(Prefix, StringComparison.Ordinal) || branch.StartsWith(StatelessPrefix, StringComparison.Ordinal))
                && (identity.IsOurAddress(via.Host) || via.Host == receivedOn.ToString())
                && branch.AsSpan(Prefix.Length).StartsWith(loopHash, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static string? FirstValue(SipMessage request, HeaderId id)
    {
        foreach (var value in request.GetHeaderValues(id))
        {
            return value.ToString();
        }

        return null;
    }
}
