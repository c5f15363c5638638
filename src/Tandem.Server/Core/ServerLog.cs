using System.Net;
using Microsoft.Extensions.Logging;

namespace Tandem.Server;

/// <summary>
/// Source-generated log messages with stable event ids: 1xx transport, 2xx core, 3xx registrar,
/// 9xx host. Operators grep for these texts; keep them stable.
/// </summary>
internal static partial class ServerLog
{
    [LoggerMessage(101, LogLevel.Information, "Listening on {Transport} {EndPoint}")]
    public static partial void Listening(ILogger logger, string transport, IPEndPoint endPoint);

    [LoggerMessage(201, LogLevel.Debug, "Dropped unparseable message from {Remote}: {Reason}")]
    public static partial void DroppedMalformed(ILogger logger, string remote, string reason);

    [LoggerMessage(202, LogLevel.Debug, "Rejected request from {Remote} with {Status}: {Reason}")]
    public static partial void RejectedMalformed(ILogger logger, string remote, int status, string reason);

    [LoggerMessage(203, LogLevel.Warning, "Transaction table full ({Count}); answering 503")]
    public static partial void TransactionTableFull(ILogger logger, int count);

    [LoggerMessage(204, LogLevel.Information, "Burst over: compacted the heap, committed {BeforeMb} MB -> {AfterMb} MB in {Milliseconds:F0} ms")]
    public static partial void HeapCompacted(ILogger logger, long beforeMb, long afterMb, double milliseconds);

    [LoggerMessage(205, LogLevel.Information, "Burst over: started a background collection, committed {BeforeMb} MB")]
    public static partial void HeapCollectedInBackground(ILogger logger, long beforeMb);

    [LoggerMessage(301, LogLevel.Information, "Purged {Count} expired binding(s)")]
    public static partial void PurgedBindings(ILogger logger, int count);

    [LoggerMessage(302, LogLevel.Information, "Loaded {Count} binding(s) from the store")]
    public static partial void LoadedBindings(ILogger logger, int count);

    [LoggerMessage(303, LogLevel.Debug, "REGISTER {Aor} from {Source}: {Count} binding(s)")]
    public static partial void Registered(ILogger logger, string aor, string source, int count);

    [LoggerMessage(304, LogLevel.Warning, "Storage busy ({Waiting} REGISTERs waiting for a commit): answering 503 ({Total} so far)")]
    public static partial void ShedForStorage(ILogger logger, int waiting, long total);
}
