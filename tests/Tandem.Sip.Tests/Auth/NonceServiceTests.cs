using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

public class NonceServiceTests
{
    private static readonly byte[] Secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void Fresh_nonce_is_valid_and_a_token_of_fixed_length()
    {
        var service = new NonceService(Secret, _time);
        var nonce = service.Issue("example.com");

        Assert.Equal(NonceService.NonceLength, nonce.Length);
        Assert.DoesNotContain(nonce, c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
        Assert.Equal(NonceStatus.Valid, service.Validate(nonce, "example.com"));
        Assert.NotEqual(nonce, service.Issue("example.com"));
    }

    [Fact]
    public void Another_node_with_the_same_secret_accepts_it()
    {
        var nonce = new NonceService(Secret, _time).Issue("example.com");
        Assert.Equal(NonceStatus.Valid, new NonceService(Secret, _time).Validate(nonce, "example.com"));
    }

    [Fact]
    public void Expired_nonce_is_stale_at_the_configured_lifetime()
    {
        var service = new NonceService(Secret, _time, TimeSpan.FromSeconds(60));
        var nonce = service.Issue("example.com");

        _time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(NonceStatus.Valid, service.Validate(nonce, "example.com"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(NonceStatus.Stale, service.Validate(nonce, "example.com"));
    }

    [Fact]
    public void Default_lifetime_is_300_seconds()
    {
        var service = new NonceService(Secret, _time);
        var nonce = service.Issue("r");
        _time.Advance(TimeSpan.FromSeconds(300));
        Assert.Equal(NonceStatus.Valid, service.Validate(nonce, "r"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(NonceStatus.Stale, service.Validate(nonce, "r"));
    }

    [Fact]
    public void Nonce_from_a_node_whose_clock_runs_far_ahead_is_stale()
    {
        var ahead = new ManualTimeProvider();
        ahead.Advance(TimeSpan.FromMinutes(5));
        var nonce = new NonceService(Secret, ahead).Issue("r");
        Assert.Equal(NonceStatus.Stale, new NonceService(Secret, _time).Validate(nonce, "r"));

        var slightlyAhead = new ManualTimeProvider();
        slightlyAhead.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(NonceStatus.Valid, new NonceService(Secret, _time).Validate(new NonceService(Secret, slightlyAhead).Issue("r"), "r"));
    }

    [Fact]
    public void Nonce_from_another_secret_is_invalid_even_when_expired()
    {
        var other = new NonceService(Enumerable.Repeat((byte)9, 32).ToArray(), _time);
        var nonce = other.Issue("example.com");
        var service = new NonceService(Secret, _time);

        Assert.Equal(NonceStatus.Invalid, service.Validate(nonce, "example.com"));
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(NonceStatus.Invalid, service.Validate(nonce, "example.com"));
    }

    [Fact]
    public void Nonce_for_another_realm_is_invalid()
    {
        var service = new NonceService(Secret, _time);
        Assert.Equal(NonceStatus.Invalid, service.Validate(service.Issue("a.example.com"), "b.example.com"));
    }

    [Fact]
    public void Tampered_or_garbled_nonces_are_invalid()
    {
        var service = new NonceService(Secret, _time);
        var nonce = service.Issue("r");

        foreach (int position in new[] { 0, 10, 20, 47 })
        {
            var chars = nonce.ToCharArray();
            chars[position] = chars[position] == 'A' ? 'B' : 'A';
            Assert.Equal(NonceStatus.Invalid, service.Validate(chars, "r"));
        }
        Assert.Equal(NonceStatus.Invalid, service.Validate("", "r"));
        Assert.Equal(NonceStatus.Invalid, service.Validate(nonce.AsSpan(0, 47), "r"));
        Assert.Equal(NonceStatus.Invalid, service.Validate(nonce + "A", "r"));
        Assert.Equal(NonceStatus.Invalid, service.Validate(" " + nonce.AsSpan(1).ToString(), "r"));
        Assert.Equal(NonceStatus.Invalid, service.Validate(new string('!', 48), "r"));
        Assert.Equal(NonceStatus.Invalid, service.Validate("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "r"));
    }

    [Fact]
    public void Long_non_ascii_realm_works()
    {
        var realm = new string('é', 1000);
        var service = new NonceService(Secret, _time);
        Assert.Equal(NonceStatus.Valid, service.Validate(service.Issue(realm), realm));
    }

    [Fact]
    public void Nonces_stay_unique_across_random_batches_and_threads()
    {
        // Random bytes come from a per-thread batch; many nonces per thread cross several refills.
        var service = new NonceService(Secret, _time);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(seen.TryAdd(service.Issue("example.com"), true));
            }
        });
        Assert.Equal(4000, seen.Count);
    }

    [Fact]
    public void Services_with_different_secrets_interleaved_on_one_thread_keep_their_own_key()
    {
        // The keyed HMAC context is cached per thread: switching services must switch keys.
        var other = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
        var a = new NonceService(Secret, _time);
        var b = new NonceService(other, _time);
        var fromA = a.Issue("example.com");
        var fromB = b.Issue("example.com");

        Assert.Equal(NonceStatus.Valid, a.Validate(fromA, "example.com"));
        Assert.Equal(NonceStatus.Invalid, a.Validate(fromB, "example.com"));
        Assert.Equal(NonceStatus.Valid, b.Validate(fromB, "example.com"));
        Assert.Equal(NonceStatus.Invalid, b.Validate(fromA, "example.com"));
    }

    [Fact]
    public void Short_secret_is_refused()
        => Assert.Throws<ArgumentException>(() => new NonceService(new byte[15], _time));
}
