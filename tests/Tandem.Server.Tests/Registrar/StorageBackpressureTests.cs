using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tandem.Server.Registrar;
using Tandem.Server.Tests.Core;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;
using Tandem.Storage;

namespace Tandem.Server.Tests.Registrar;

/// <summary>
/// The registrar refuses REGISTERs with 503 while too many wait for a write-through commit, and
/// takes them again once the backlog is below the bound.
/// </summary>
public sealed class StorageBackpressureTests
{
    [Fact]
    public async Task Register_gets_503_with_retry_after_while_commits_are_backlogged()
    {
        var store = new BackloggedStore();
        var locations = new LocationService();
        var registrar = new SipRegistrar(locations, store, new RegistrarSettings { MaxWaitingForCommit = 100 }, authenticator: null, TimeProvider.System, NullLogger.Instance);
        var flow = new NoSendFlow();
        const string contact = "Contact: <sip:alice@127.0.0.1:5999>\r\nExpires: 600\r\n";

        store.Waiting = 100;
        var refused = await registrar.HandleAsync(Parse(ServerFixture.Request("REGISTER", "b1", extra: contact)), flow, CancellationToken.None);
        Assert.Equal(503, refused.StatusCode);
        Assert.Equal("1", refused.Headers.First(h => h.Key == "Retry-After").Value);
        Assert.Equal(0, locations.BindingCount);
        Assert.Equal(0, store.Upserts);
        Assert.Equal(1, registrar.ShedForStorage);

        store.Waiting = 99;
        var accepted = await registrar.HandleAsync(Parse(ServerFixture.Request("REGISTER", "b2", cseq: 2, extra: contact)), flow, CancellationToken.None);
        Assert.Equal(200, accepted.StatusCode);
        Assert.Equal(1, locations.BindingCount);
        Assert.Equal(1, store.Upserts);
    }

    private static SipMessage Parse(string text)
    {
        var result = SipParser.Parse(Encoding.ASCII.GetBytes(text));
        Assert.True(result.IsSuccess);
        return result.Message!;
    }

    private sealed class NoSendFlow() : SipFlow(SipTransportProtocol.Udp, new IPEndPoint(IPAddress.Loopback, 5060), new IPEndPoint(IPAddress.Loopback, 5999))
    {
        public override ValueTask<bool> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint target) => ValueTask.FromResult(true);
    }

    /// <summary>A store that only counts writes and reports a chosen commit backlog.</summary>
    private sealed class BackloggedStore : IBindingStore
    {
        public int Waiting { get; set; }

        public int Upserts { get; private set; }

        public int WaitingForCommit => Waiting;

        public Task<IReadOnlyList<Binding>> LoadAllAsync(CancellationToken cancellationToken = default) => Task.FromResult<IReadOnlyList<Binding>>([]);

        public Task<IReadOnlyList<Binding>> ListAsync(string? aor, CancellationToken cancellationToken = default) => Task.FromResult<IReadOnlyList<Binding>>([]);

        public ValueTask UpsertAsync(Binding binding, CancellationToken cancellationToken = default)
        {
            Upserts++;
            return ValueTask.CompletedTask;
        }

        public ValueTask DeleteAsync(string aor, string contactUri, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
