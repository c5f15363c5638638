using System.Net;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

public class ResolvConfTests
{
    [Fact]
    public void Reads_nameservers_and_options_skipping_comments_and_junk()
    {
        var conf = ResolvConf.Parse("""
            # generated
            search example.test
            nameserver 192.0.2.53
            ; nameserver 192.0.2.99
            nameserver not-an-address
            nameserver 2001:db8::53 # trailing comment
            options ndots:2 timeout:3 attempts:4 rotate
            nameserver 192.0.2.54
            nameserver 192.0.2.55
            """);

        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53), new IPEndPoint(IPAddress.Parse("192.0.2.54"), 53)],
            conf.Servers);
        Assert.Equal(TimeSpan.FromSeconds(3), conf.Timeout);
        Assert.Equal(4, conf.Attempts);
    }

    [Fact]
    public void No_nameserver_means_the_local_one_like_glibc()
    {
        var conf = ResolvConf.Parse("search example.test\n");

        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], conf.Servers);
        Assert.Null(conf.Timeout);
        Assert.Null(conf.Attempts);
    }

    [Fact]
    public void Options_come_from_a_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("resolv.conf");
        File.WriteAllText(path, "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n");

        var options = DnsClientOptions.FromResolvConf(path);

        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.53"), 53)], options.Servers);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Timeout);
        Assert.Equal(1, options.Attempts);
    }
}
