using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class TransactionKeyTests
{
    private static TransactionKey Server(string branch, string sentBy, string method)
    {
        Assert.True(TransactionKey.TryCreateServer(branch, sentBy, method, out var key));
        return key;
    }

    [Fact]
    public void Ack_matches_the_invite_server_transaction()
        => Assert.Equal(Server("z9hG4bK776", "pc33.atlanta.com:5060", "INVITE"), Server("z9hG4bK776", "pc33.atlanta.com:5060", "ACK"));

    [Fact]
    public void Cancel_has_its_own_transaction_but_finds_the_invite()
    {
        var invite = Server("z9hG4bK776", "pc33.atlanta.com", "INVITE");
        var cancel = Server("z9hG4bK776", "pc33.atlanta.com", "CANCEL");
        Assert.NotEqual(invite, cancel);
        Assert.Equal(invite, cancel.ToInviteKey());
    }

    [Fact]
    public void Sent_by_host_is_case_insensitive()
        => Assert.Equal(Server("z9hG4bK1", "PC33.Atlanta.COM:5060", "BYE"), Server("z9hG4bK1", "pc33.atlanta.com:5060", "BYE"));

    [Fact]
    public void Branch_is_compared_exactly()
        => Assert.NotEqual(Server("z9hG4bKabc", "h", "BYE"), Server("z9hG4bKABC", "h", "BYE"));

    [Fact]
    public void Different_sent_by_or_method_is_a_different_transaction()
    {
        var key = Server("z9hG4bK1", "a.example:5060", "OPTIONS");
        Assert.NotEqual(key, Server("z9hG4bK1", "a.example:5061", "OPTIONS"));
        Assert.NotEqual(key, Server("z9hG4bK1", "a.example:5060", "REGISTER"));
    }

    [Fact]
    public void Method_is_case_sensitive()
        => Assert.NotEqual(Server("z9hG4bK1", "h", "INVITE"), Server("z9hG4bK1", "h", "invite"));

    [Theory]
    [InlineData("776asdhds")] // RFC 2543 style
    [InlineData("z9hG4bK")] // cookie only
    [InlineData("Z9HG4BK776")] // cookie is case-sensitive
    [InlineData("")]
    public void Non_rfc3261_branch_is_refused(string branch)
        => Assert.False(TransactionKey.TryCreateServer(branch, "h", "INVITE", out _));

    [Fact]
    public void Client_key_from_request_equals_key_from_response_branch_and_cseq_method()
    {
        var sent = TransactionKey.ForClient("z9hG4bKnashds8", "INVITE");
        var fromResponse = TransactionKey.ForClient("z9hG4bKnashds8".AsSpan(), "INVITE".AsSpan());
        Assert.Equal(sent, fromResponse);
        Assert.NotEqual(sent, TransactionKey.ForClient("z9hG4bKnashds8", "CANCEL"));
    }

    [Fact]
    public void Keys_work_as_dictionary_keys()
    {
        var map = new Dictionary<TransactionKey, int> { [Server("z9hG4bK1", "H:1", "INVITE")] = 1 };
        Assert.True(map.ContainsKey(Server("z9hG4bK1", "h:1", "ACK")));
    }
}
