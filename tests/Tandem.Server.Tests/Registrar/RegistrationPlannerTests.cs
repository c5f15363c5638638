using System.Text;
using Tandem.Server.Registrar;
using Tandem.Sip.Messages;
using Tandem.Storage;

namespace Tandem.Server.Tests.Registrar;

public class RegistrationPlannerTests
{
    private const string Aor = "sip:alice@example.com";
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly RegistrarSettings Settings = new() { MinExpires = 60, MaxExpires = 3600, DefaultExpires = 1800, MaxContactsPerAor = 3 };
    private static readonly BindingOrigin Origin = new("192.0.2.10:5062", "192.0.2.1:5060", "UDP", "phone/1.0");

    private static SipMessage Register(string callId, uint cseq, string? expiresHeader, params string[] contacts)
    {
        var text = new StringBuilder()
            .Append("REGISTER sip:example.com SIP/2.0\r\n")
            .Append("Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK").Append(callId).Append(cseq).Append("\r\n")
            .Append("From: <sip:alice@example.com>;tag=f1\r\n")
            .Append("To: <sip:alice@example.com>\r\n")
            .Append("Call-ID: ").Append(callId).Append("\r\n")
            .Append("CSeq: ").Append(cseq).Append(" REGISTER\r\n")
            .Append("Max-Forwards: 70\r\n");
        if (expiresHeader is not null)
        {
            text.Append("Expires: ").Append(expiresHeader).Append("\r\n");
        }

        foreach (var contact in contacts)
        {
            text.Append("Contact: ").Append(contact).Append("\r\n");
        }

        text.Append("Content-Length: 0\r\n\r\n");
        var result = SipParser.Parse(Encoding.ASCII.GetBytes(text.ToString()));
        Assert.True(result.IsSuccess, result.Error.Reason);
        return result.Message!;
    }

    private static RegistrationPlan Plan(SipMessage request, IReadOnlyList<Binding>? existing = null, DateTimeOffset? now = null)
        => RegistrationPlanner.Plan(request, Aor, existing ?? [], Settings, now ?? Now, Origin);

    [Fact]
    public void New_contact_uses_the_default_expiry_and_records_its_origin()
    {
        var plan = Plan(Register("c1", 1, null, "<sip:alice@192.0.2.10:5062>"));
        Assert.Equal(200, plan.StatusCode);
        var binding = Assert.Single(plan.Bindings);
        Assert.Equal("sip:alice@192.0.2.10:5062", binding.ContactUri);
        Assert.Equal(Now.AddSeconds(1800), binding.ExpiresAt);
        Assert.Equal("192.0.2.10:5062", binding.SourceAddress);
        Assert.Equal("UDP", binding.Transport);
        Assert.Equal("phone/1.0", binding.UserAgent);
        Assert.Single(plan.Upserts);
    }

    [Fact]
    public void Contact_expires_parameter_beats_the_Expires_header_and_is_capped_at_the_maximum()
    {
        var plan = Plan(Register("c1", 1, "300", "<sip:a@192.0.2.10>;expires=7200", "<sip:b@192.0.2.10>"));
        Assert.Equal(Now.AddSeconds(3600), plan.Bindings[0].ExpiresAt);
        Assert.Equal(Now.AddSeconds(300), plan.Bindings[1].ExpiresAt);
    }

    [Fact]
    public void Too_brief_interval_is_refused_with_423_and_Min_Expires()
    {
        var plan = Plan(Register("c1", 1, "30", "<sip:a@192.0.2.10>"));
        Assert.Equal(423, plan.StatusCode);
        Assert.Contains(plan.Headers, h => h.Key == "Min-Expires" && h.Value == "60");
        Assert.Empty(plan.Upserts);
    }

    [Fact]
    public void Refresh_with_higher_CSeq_replaces_the_binding()
    {
        var first = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>"));
        var second = Plan(Register("c1", 2, "900", "<sip:a@192.0.2.10>"), first.Bindings, Now.AddSeconds(100));
        Assert.Equal(200, second.StatusCode);
        var binding = Assert.Single(second.Bindings);
        Assert.Equal(2u, binding.CSeq);
        Assert.Equal(Now.AddSeconds(1000), binding.ExpiresAt);
    }

    [Fact]
    public void Same_Call_ID_with_old_CSeq_is_refused_without_changes()
    {
        var first = Plan(Register("c1", 5, "600", "<sip:a@192.0.2.10>"));
        var stale = Plan(Register("c1", 5, "0", "<sip:a@192.0.2.10>"), first.Bindings);
        Assert.Equal(500, stale.StatusCode);
        Assert.Empty(stale.Deletes);
    }

    [Fact]
    public void Expires_zero_removes_one_contact_and_keeps_the_others()
    {
        var first = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>", "<sip:b@192.0.2.10>"));
        var removal = Plan(Register("c1", 2, null, "<sip:a@192.0.2.10>;expires=0"), first.Bindings);
        Assert.Equal(200, removal.StatusCode);
        Assert.Equal("sip:b@192.0.2.10", Assert.Single(removal.Bindings).ContactUri);
        Assert.Equal("sip:a@192.0.2.10", Assert.Single(removal.Deletes).ContactUri);
    }

    [Fact]
    public void Star_with_Expires_zero_removes_everything()
    {
        var first = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>", "<sip:b@192.0.2.10>"));
        var all = Plan(Register("c2", 1, "0", "*"), first.Bindings);
        Assert.Equal(200, all.StatusCode);
        Assert.Empty(all.Bindings);
        Assert.Equal(2, all.Deletes.Count);
    }

    [Fact]
    public void Star_without_Expires_zero_is_a_bad_request()
    {
        Assert.Equal(400, Plan(Register("c2", 1, "60", "*")).StatusCode);
        Assert.Equal(400, Plan(Register("c2", 1, "0", "*", "<sip:a@192.0.2.10>")).StatusCode);
    }

    [Fact]
    public void No_contact_fetches_current_bindings_unchanged()
    {
        var first = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>"));
        var fetch = Plan(Register("c9", 1, null), first.Bindings);
        Assert.Equal(200, fetch.StatusCode);
        Assert.Single(fetch.Bindings);
        Assert.Empty(fetch.Upserts);
        Assert.Empty(fetch.Deletes);
    }

    [Fact]
    public void Q_values_and_outbound_parameters_are_kept()
    {
        var plan = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10;transport=tcp>;q=0.5;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";reg-id=1"));
        var binding = Assert.Single(plan.Bindings);
        Assert.Equal(500, binding.QValue);
        Assert.Equal("\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"", binding.InstanceId);
        Assert.Equal(1, binding.RegId);
        var formatted = RegistrationPlanner.FormatContact(binding, Now.AddSeconds(10));
        Assert.Equal("<sip:a@192.0.2.10;transport=tcp>;expires=590;q=0.500;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";reg-id=1", formatted);
    }

    [Fact]
    public void Same_instance_and_reg_id_replace_the_flow_even_with_a_new_URI()
    {
        const string instance = "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000002>\";reg-id=1";
        var first = Plan(Register("c1", 1, "600", $"<sip:a@192.0.2.10:5000>;{instance}"));
        var moved = Plan(Register("c1", 2, "600", $"<sip:a@192.0.2.99:6000>;{instance}"), first.Bindings);
        Assert.Equal("sip:a@192.0.2.99:6000", Assert.Single(moved.Bindings).ContactUri);
        Assert.Equal("sip:a@192.0.2.10:5000", Assert.Single(moved.Deletes).ContactUri);
    }

    [Fact]
    public void Bad_q_value_is_refused()
    {
        Assert.Equal(400, Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>;q=1.5")).StatusCode);
    }

    [Fact]
    public void Contacts_beyond_the_limit_are_refused()
    {
        var plan = Plan(Register("c1", 1, "600", "<sip:a@192.0.2.10>", "<sip:b@192.0.2.10>", "<sip:c@192.0.2.10>", "<sip:d@192.0.2.10>"));
        Assert.Equal(403, plan.StatusCode);
    }

    [Fact]
    public void Expired_bindings_are_dropped_and_deleted()
    {
        var first = Plan(Register("c1", 1, "60", "<sip:a@192.0.2.10>"));
        var later = Plan(Register("c2", 1, "600", "<sip:b@192.0.2.10>"), first.Bindings, Now.AddSeconds(61));
        Assert.Equal("sip:b@192.0.2.10", Assert.Single(later.Bindings).ContactUri);
        Assert.Equal("sip:a@192.0.2.10", Assert.Single(later.Deletes).ContactUri);
    }
}
