using System.Net;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>What a test needs from a server under test: where it listens and what it printed.</summary>
public interface ISipServer : IAsyncDisposable
{
    /// <summary>"tandem" or "kamailio", for messages.</summary>
    string Name { get; }

    /// <summary>127.0.0.1 and the one port on which it listens for both UDP and TCP.</summary>
    IPEndPoint Endpoint { get; }

    /// <summary>The end of its stdout/stderr, for assertion messages.</summary>
    string OutputTail();

    /// <summary>Everything it printed so far.</summary>
    string Output();
}

/// <summary>How to start a server for one test.</summary>
/// <param name="Users">Accounts provisioned before the server starts.</param>
/// <param name="ShortMinExpires">Accept Expires values of 1 s and more (for register-expiry).</param>
/// <param name="Routing">
/// Null: a registrar, as the registrar tests need. Set: a registrar and record-routing proxy
/// that routes calls with these rules (Kamailio then runs tests/kamailio/proxy.cfg.in).
/// </param>
public sealed record ServerSettings(IReadOnlyList<TestUser> Users, bool ShortMinExpires = false, CallRouting? Routing = null);
