using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Tandem.Server.Resolution.Dns;

public sealed partial class DnsClient
{
    // Without EDNS(0) an answer over UDP is at most 512 octets (RFC 1035 §4.2.1); room for more
    // costs nothing and tolerates servers that ignore the limit.
    private const int UdpReceiveBuffer = 4096;

    /// <summary>
    /// One question to one server: UDP first, TCP when the UDP answer is truncated. Null when the
    /// server did not answer in time, could not be reached, or sent nothing that answers the question.
    /// </summary>
    private async ValueTask<DnsMessage?> ExchangeAsync(
        IPEndPoint server, string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        var response = await ExchangeUdpAsync(server, name, type, cancellationToken);
        if (response is { Truncated: true })
        {
            // RFC 1035 §4.2.2 and RFC 7766 §5: ask the same server again over TCP.
            response = await ExchangeTcpAsync(server, name, type, cancellationToken);
            if (response is { Truncated: true })
            {
                return null;
            }
        }

        return response;
    }

    private async ValueTask<DnsMessage?> ExchangeUdpAsync(
        IPEndPoint server, string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        var id = NewQueryId();
        var buffer = ArrayPool<byte>.Shared.Rent(UdpReceiveBuffer);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            DnsQueryWriter.TryWrite(buffer, id, name, type, out var length);

            // A fresh socket per query gets a fresh random source port from the kernel, and
            // connecting it makes the kernel drop datagrams from any other address (RFC 5452 §9.2).
            using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            await socket.ConnectAsync(server, timeout.Token);
            await socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None, timeout.Token);
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);

                // Anything that is not a well-formed answer to this question (wrong ID, other
                // question, garbage) is ignored and the wait goes on: a spoofer must not be
                // able to end the wait with a bad packet (RFC 5452 §3).
                if (DnsMessageReader.TryParse(buffer.AsSpan(0, received), out var message, out _)
                    && Answers(message, id, name, type))
                {
                    return message;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            // ICMP port unreachable shows up as ConnectionRefused on a connected socket.
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask<DnsMessage?> ExchangeTcpAsync(
        IPEndPoint server, string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        var id = NewQueryId();
        var query = ArrayPool<byte>.Shared.Rent(2 + DnsQueryWriter.MaxQueryLength);
        byte[]? answer = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            // RFC 1035 §4.2.2: over TCP each message is preceded by its length as two octets.
            DnsQueryWriter.TryWrite(query.AsSpan(2), id, name, type, out var length);
            BinaryPrimitives.WriteUInt16BigEndian(query, (ushort)length);

            using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server, timeout.Token);
            await socket.SendAsync(query.AsMemory(0, 2 + length), SocketFlags.None, timeout.Token);

            // The length prefix bounds the read at 64 KiB.
            if (!await ReceiveExactlyAsync(socket, query.AsMemory(0, 2), timeout.Token))
            {
                return null;
            }

            var answerLength = BinaryPrimitives.ReadUInt16BigEndian(query);
            answer = ArrayPool<byte>.Shared.Rent(Math.Max(answerLength, (ushort)1));
            if (!await ReceiveExactlyAsync(socket, answer.AsMemory(0, answerLength), timeout.Token))
            {
                return null;
            }

            return DnsMessageReader.TryParse(answer.AsSpan(0, answerLength), out var message, out _)
                && Answers(message, id, name, type)
                ? message
                : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(query);
            if (answer is not null)
            {
                ArrayPool<byte>.Shared.Return(answer);
            }
        }
    }

    private static async ValueTask<bool> ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (received == 0)
            {
                return false;
            }

            buffer = buffer[received..];
        }

        return true;
    }

    // RFC 5452 §9.2: an unpredictable ID (with the random source port) is the basic defence
    // against forged answers.
    private static ushort NewQueryId() => (ushort)RandomNumberGenerator.GetInt32(0x10000);

    /// <summary>A response with our ID, opcode QUERY and exactly our question.</summary>
    internal static bool Answers(DnsMessage message, ushort id, string name, DnsRecordType type) =>
        message.IsResponse
        && message.Id == id
        && message.Opcode == 0
        && message.Question is { } question
        && question.Type == type
        && question.Name == name;
}
