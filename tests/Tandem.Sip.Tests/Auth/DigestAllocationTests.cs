using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

/// <summary>Pins the REGISTER hot path: verification itself allocates nothing once warmed up.</summary>
public class DigestAllocationTests
{
    [Fact]
    public void Verify_does_not_allocate()
    {
        var nonces = new NonceService(new byte[32], new ManualTimeProvider());
        var authenticator = new DigestAuthenticator(nonces);
        var nonce = nonces.Issue("example.com");
        var ha1 = DigestHash.ComputeHa1(DigestAlgorithm.Sha256, "alice", "example.com", "pw");
        var response = DigestHash.ComputeResponse(DigestAlgorithm.Sha256, ha1, "REGISTER", "sip:example.com", nonce, DigestQop.Auth, "00000001", "c");
        var header = $"Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c\"";
        Assert.True(DigestCredentials.TryParse(header, out var credentials, out _));
        Assert.Equal(DigestVerdict.Ok, authenticator.Verify("REGISTER", credentials, "example.com", ha1));

        // Replays take the whole path (nonce MAC, hashing, compare, tracker lookup) without inserting.
        Assert.Equal(DigestVerdict.Replay, authenticator.Verify("REGISTER", credentials, "example.com", ha1));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            authenticator.Verify("REGISTER", credentials, "example.com", ha1);
            authenticator.Verify("REGISTER", credentials, "example.com", null);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
