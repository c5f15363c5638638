using Tandem.Sip.Messages;

namespace Tandem.Sip.Tests.Torture;

/// <summary>Every RFC 4475 message, with the behaviour its section asks for.</summary>
public class TortureTests
{
    [Fact]
    public void Table_covers_every_vector_file()
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Torture", "Vectors"), "*.dat")
            .Select(Path.GetFileNameWithoutExtension)
            .Order()
            .ToArray();
        Assert.Equal(49, files.Length);
        Assert.Equal(files, TortureVectors.All.Select(v => v.Name).Order().ToArray());
    }

    [Theory]
    [MemberData(nameof(TortureVectors.Names), MemberType = typeof(TortureVectors))]
    public void Vector_behaves_as_RFC_4475_says(string name)
    {
        var vector = TortureVectors.Get(name);
        var result = vector.Parse();
        switch (vector.Outcome)
        {
            case Outcome.Valid:
                Assert.True(result.IsSuccess, $"{name} (§{vector.Section}) should parse: {result.Error.Reason}");
                break;
            case Outcome.Reject:
                Assert.False(result.IsSuccess, $"{name} (§{vector.Section}) should be rejected");
                Assert.Equal(vector.StatusCode, result.Error.StatusCode);
                Assert.True(result.CanRespond, $"{name} should still be answerable");
                Assert.False(string.IsNullOrWhiteSpace(result.Error.Reason));
                break;
            case Outcome.Drop:
                Assert.False(result.IsSuccess);
                Assert.False(result.CanRespond);
                Assert.False(result.Error.IsEmpty);
                break;
            case Outcome.Refuse:
                Assert.True(result.IsSuccess, $"{name} should parse: {result.Error.Reason}");
                var rejection = SipRequestValidator.Validate(result.Message!, SipValidationOptions.Default, consumesBody: true);
                Assert.NotNull(rejection);
                Assert.Equal(vector.StatusCode, rejection.StatusCode);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(TortureVectors.Names), MemberType = typeof(TortureVectors))]
    public void Valid_vectors_survive_a_write_and_reparse(string name)
    {
        var vector = TortureVectors.Get(name);
        if (vector.Outcome is not (Outcome.Valid or Outcome.Refuse))
        {
            return;
        }

        var first = vector.Parse().Message!;
        var second = SipParser.Parse(SipMessageWriter.ToBytes(first));
        Assert.True(second.IsSuccess, second.Error.Reason);
        var again = second.Message!;
        Assert.Equal(first.IsRequest, again.IsRequest);
        Assert.Equal(first.MethodName, again.MethodName);
        Assert.Equal(first.RequestUriText, again.RequestUriText);
        Assert.Equal(first.StatusCode, again.StatusCode);
        Assert.Equal(first.CallId, again.CallId);
        Assert.Equal(first.CSeq, again.CSeq);
        Assert.Equal(first.ViaCount, again.ViaCount);
        Assert.Equal(first.TopVia.Branch, again.TopVia.Branch);
        Assert.Equal(first.From?.Tag, again.From?.Tag);
        Assert.Equal(first.HeaderCount, again.HeaderCount);
        Assert.True(first.Body.Span.SequenceEqual(again.Body.Span));
    }

    [Theory]
    [MemberData(nameof(TortureVectors.Names), MemberType = typeof(TortureVectors))]
    public void Rejected_requests_get_a_parseable_error_response(string name)
    {
        var vector = TortureVectors.Get(name);
        if (vector.Outcome != Outcome.Reject)
        {
            return;
        }

        var result = vector.Parse();
        var response = new SipResponse(result.Message!, result.Error.StatusCode, result.Error.Reason) { ToTag = "t1" };
        var text = System.Text.Encoding.Latin1.GetString(response.ToBytes(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 5070)));

        // The request's own headers are echoed even when they are the broken part, so check the
        // text rather than re-parse: status line first, the top Via marked with received=.
        Assert.StartsWith($"SIP/2.0 {vector.StatusCode} {result.Error.Reason}\r\n", text, StringComparison.Ordinal);
        Assert.Contains($"Via: SIP/2.0/{result.Message!.TopVia.Transport} ", text, StringComparison.Ordinal);
        Assert.Contains(";received=127.0.0.1", text, StringComparison.Ordinal);
        Assert.EndsWith("Content-Length: 0\r\n\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Wsinv_is_read_through_all_its_white_space()
    {
        var message = TortureVectors.Get("wsinv").Parse().Message!;
        Assert.Equal(SipMethod.Invite, message.Method);
        Assert.Equal("1918181833n", message.To!.Tag);
        Assert.Equal("98asjd8", message.From!.Tag);
        Assert.Equal("J Rosenberg \\\"", message.From.DisplayName);
        Assert.Equal(68, message.MaxForwards);
        Assert.Equal(9u, message.CSeq.Number);
        Assert.Equal(SipMethod.Invite, message.CSeq.Method);
        Assert.Equal(3, message.ViaCount);
        Assert.Equal("UDP", message.TopVia.Transport);
        Assert.Equal("192.0.2.2", message.TopVia.Host);
        Assert.Equal("390skdjuw", message.TopVia.Branch);
        Assert.Equal(150, message.Body.Length);
        Assert.Equal("newfangled value continued newfangled value", message.GetHeaderValue(message.IndexOfHeader("NewFangledHeader")).ToString());

        var vias = new List<string>();
        foreach (var via in message.GetHeaderValues(HeaderId.Via))
        {
            vias.Add(via.ToString());
        }

        Assert.Equal(3, vias.Count);
        var third = Tandem.Sip.Headers.ViaHeader.TryParse(vias[2], out _);
        Assert.Equal("z9hG4bK30239", third!.Branch);
        Assert.Equal("192.168.255.111", third.Host);

        var contact = Tandem.Sip.Headers.NameAddress.TryParse(message.GetHeader(HeaderId.Contact), out _);
        Assert.Equal("Quoted string \"\"", contact!.DisplayName);
        Assert.Equal("0.33", Tandem.Sip.Uris.SipParameters.Get(contact.Parameters, "q"));
        Assert.Equal("newvalue", Tandem.Sip.Uris.SipParameters.Get(contact.Parameters, "newparam"));
    }

    [Fact]
    public void Escapes_are_kept_in_URIs_and_undone_in_addresses_of_record()
    {
        var esc01 = TortureVectors.Get("esc01").Parse().Message!;
        Assert.Equal("sips%3Auser%40example.com", esc01.RequestUri.User);
        Assert.Equal("example.net", esc01.RequestUri.Host);
        Assert.Equal("sip:user@example.com", esc01.To!.Uri.ToAddressOfRecord());

        var escnull = TortureVectors.Get("escnull").Parse().Message!;
        Assert.Contains('\0', escnull.To!.Uri.ToAddressOfRecord());

        var esc02 = TortureVectors.Get("esc02").Parse().Message!;
        Assert.Equal(SipMethod.Extension, esc02.Method);
        Assert.Equal("RE%47IST%45R", esc02.MethodName);
        Assert.Equal(2, esc02.CountHeaders(HeaderId.Contact));
    }

    [Fact]
    public void Odd_but_valid_messages_keep_their_parts()
    {
        var intmeth = TortureVectors.Get("intmeth").Parse().Message!;
        Assert.Equal(SipMethod.Extension, intmeth.Method);
        Assert.Equal(intmeth.MethodName, intmeth.CSeq.MethodName);

        var dblreq = TortureVectors.Get("dblreq").Parse().Message!;
        Assert.Equal(SipMethod.Register, dblreq.Method);
        Assert.Equal(0, dblreq.Body.Length);

        var semiuri = TortureVectors.Get("semiuri").Parse().Message!;
        Assert.Equal("user;par=u%40example.net", semiuri.RequestUri.User);
        Assert.Equal("example.com", semiuri.RequestUri.Host);

        var transports = TortureVectors.Get("transports").Parse().Message!;
        Assert.Equal(5, transports.ViaCount);

        var noreason = TortureVectors.Get("noreason").Parse().Message!;
        Assert.Equal(100, noreason.StatusCode);
        Assert.Equal(string.Empty, noreason.ReasonPhrase);

        var badbranch = TortureVectors.Get("badbranch").Parse().Message!;
        Assert.False(badbranch.TopVia.HasRfc3261Branch);

        var inv2543 = TortureVectors.Get("inv2543").Parse().Message!;
        Assert.Null(inv2543.TopVia.Branch);
        Assert.Equal(-1, inv2543.MaxForwards);

        var zeromf = TortureVectors.Get("zeromf").Parse().Message!;
        Assert.Equal(0, zeromf.MaxForwards);

        var unksm2 = TortureVectors.Get("unksm2").Parse().Message!;
        Assert.Equal("isbn", unksm2.To!.Uri.Scheme);

        var mpart = TortureVectors.Get("mpart01").Parse().Message!;
        Assert.Equal(int.Parse(mpart.GetHeader(HeaderId.ContentLength)!, System.Globalization.CultureInfo.InvariantCulture), mpart.Body.Length);
    }

    [Fact]
    public void Bad_extension_lists_every_unsupported_option_tag()
    {
        var bext = TortureVectors.Get("bext01").Parse().Message!;
        var rejection = SipRequestValidator.Validate(bext, SipValidationOptions.Default, consumesBody: false)!;
        var unsupported = Assert.Single(rejection.Headers, h => h.Key == "Unsupported").Value;
        Assert.Contains("nothingSupportsThis", unsupported, StringComparison.Ordinal);
        Assert.Contains("nothingSupportsThisEither", unsupported, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_bodies_with_parameters_are_accepted()
    {
        foreach (var name in new[] { "cparam01", "cparam02", "regescrt" })
        {
            var message = TortureVectors.Get(name).Parse().Message!;
            Assert.Null(SipRequestValidator.Validate(message, SipValidationOptions.Default, consumesBody: true));
        }
    }
}
