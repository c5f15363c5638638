using Tandem.Sip.Headers;
using Tandem.Sip.Messages;
using Tandem.Sip.Text;
using Tandem.Sip.Uris;
using Tandem.Storage;

namespace Tandem.Server.Registrar;

/// <summary>Who sent a REGISTER and how: recorded on each binding for NAT-aware routing and listing.</summary>
public sealed record BindingOrigin(string SourceAddress, string LocalAddress, string Transport, string? UserAgent);

/// <summary>What a REGISTER does to an AoR: the response status and, on success, the new binding set.</summary>
public sealed record RegistrationPlan(
    int StatusCode,
    string Reason,
    Binding[] Bindings,
    IReadOnlyList<Binding> Upserts,
    IReadOnlyList<Binding> Deletes,
    IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    public bool IsSuccess => StatusCode == 200;

    public static RegistrationPlan Fail(int status, string reason, params KeyValuePair<string, string>[] headers)
        => new(status, reason, [], [], [], headers);
}

/// <summary>
/// RFC 3261 §10.3 steps 6–7 as a pure function of the request, the AoR's current bindings, the
/// policy and the time: nothing is changed unless the whole request is acceptable.
/// </summary>
public static class RegistrationPlanner
{
    public static RegistrationPlan Plan(SipMessage request, string aor, IReadOnlyList<Binding> existing, RegistrarSettings settings, DateTimeOffset now, BindingOrigin origin)
    {
        var callId = request.CallId!;
        var cseq = request.CSeq.Number;
        var headerExpires = ReadExpiresHeader(request);

        var working = new List<Binding>(existing.Count + 1);
        var deletes = new List<Binding>();
        foreach (var binding in existing)
        {
            if (binding.ExpiresAt > now)
            {
                working.Add(binding);
            }
            else
            {
                deletes.Add(binding);
            }
        }

        var contacts = new List<NameAddress>(2);
        var star = false;
        foreach (var value in request.GetHeaderValues(HeaderId.Contact))
        {
            if (value.SequenceEqual("*"))
            {
                star = true;
                continue;
            }

            var contact = NameAddress.TryParse(value, out var error);
            if (contact is null)
            {
                return RegistrationPlan.Fail(400, $"Bad Request (bad Contact: {error})");
            }

            contacts.Add(contact);
        }

        if (star)
        {
            // RFC 3261 §10.3 step 6: "*" only with Expires: 0 and no other Contact.
            if (contacts.Count > 0 || headerExpires != 0)
            {
                return RegistrationPlan.Fail(400, "Bad Request (Contact * needs Expires: 0 and no other contacts)");
            }

            foreach (var binding in working)
            {
                if (binding.CallId == callId && cseq <= binding.CSeq)
                {
                    return RegistrationPlan.Fail(500, "Server Internal Error (out-of-order CSeq)");
                }
            }

            deletes.AddRange(working);
            return new RegistrationPlan(200, "OK", [], [], deletes, []);
        }

        var upserts = new List<Binding>(contacts.Count);
        foreach (var contact in contacts)
        {
            var expiresParam = SipParameters.Get(contact.Parameters, "expires");
            long expires = expiresParam is not null && SipChars.TryParseUInt(expiresParam, uint.MaxValue, out var fromParam)
                ? (long)fromParam
                : headerExpires ?? settings.DefaultExpires;
            if (expires != 0 && expires < settings.MinExpires)
            {
                return RegistrationPlan.Fail(423, "Interval Too Brief", new KeyValuePair<string, string>("Min-Expires", settings.MinExpires.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            expires = Math.Min(expires, settings.MaxExpires);
            if (!TryReadQ(contact, out var q))
            {
                return RegistrationPlan.Fail(400, "Bad Request (bad q-value)");
            }

            var instance = SipParameters.Get(contact.Parameters, "+sip.instance");
            int? regId = SipParameters.Get(contact.Parameters, "reg-id") is { } regIdText && int.TryParse(regIdText, out var parsedRegId) ? parsedRegId : null;

            var match = working.FindIndex(b => IsSameBinding(b, contact.Uri.Text, instance, regId));
            if (match >= 0)
            {
                var old = working[match];
                if (old.CallId == callId && cseq <= old.CSeq)
                {
                    // RFC 3261 §10.3 step 7: an older request must not undo a newer one.
                    return RegistrationPlan.Fail(500, "Server Internal Error (out-of-order CSeq)");
                }

                working.RemoveAt(match);
                if (expires == 0 || !old.ContactUri.Equals(contact.Uri.Text, StringComparison.Ordinal))
                {
                    deletes.Add(old);
                }
            }

            if (expires == 0)
            {
                continue;
            }

            var binding = new Binding
            {
                Aor = aor,
                ContactUri = contact.Uri.Text,
                ExpiresAt = now.AddSeconds(expires),
                QValue = q,
                CallId = callId,
                CSeq = cseq,
                InstanceId = instance,
                RegId = regId,
                SourceAddress = origin.SourceAddress,
                LocalAddress = origin.LocalAddress,
                Transport = origin.Transport,
                UserAgent = origin.UserAgent,
                UpdatedAt = now,
            };
            working.Add(binding);
            upserts.Add(binding);
        }

        if (working.Count > settings.MaxContactsPerAor)
        {
            return RegistrationPlan.Fail(403, "Forbidden (too many registered contacts)");
        }

        return new RegistrationPlan(200, "OK", [.. working], upserts, deletes, []);
    }

    private static long? ReadExpiresHeader(SipMessage request)
    {
        var text = request.GetHeader(HeaderId.Expires);
        return text is not null && SipChars.TryParseUInt(SipChars.Trim(text), uint.MaxValue, out var value) ? (long)value : null;
    }

    private static bool IsSameBinding(Binding binding, string contactUri, string? instance, int? regId)
    {
        // RFC 5626 §6: the same instance and reg-id name the same flow even if the URI changed.
        if (instance is not null && regId is not null && binding.InstanceId == instance && binding.RegId == regId)
        {
            return true;
        }

        return binding.ContactUri.Equals(contactUri, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>q = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ] (RFC 3261 §20.10), as thousandths.</summary>
    private static bool TryReadQ(NameAddress contact, out int thousandths)
    {
        thousandths = 1000;
        var text = SipParameters.Get(contact.Parameters, "q");
        if (text is null)
        {
            return true;
        }

        var span = text.AsSpan();
        if (span.IsEmpty || span[0] is not ('0' or '1'))
        {
            return false;
        }

        var whole = span[0] - '0';
        var fraction = 0;
        var digits = 0;
        if (span.Length > 1)
        {
            if (span[1] != '.' || span.Length > 5)
            {
                return false;
            }

            foreach (var c in span[2..])
            {
                if (!SipChars.IsDigit(c))
                {
                    return false;
                }

                fraction = (fraction * 10) + (c - '0');
                digits++;
            }
        }

        while (digits++ < 3)
        {
            fraction *= 10;
        }

        thousandths = (whole * 1000) + fraction;
        return thousandths <= 1000;
    }

    /// <summary>The Contact values of a 200 OK: every binding with its remaining lifetime (§10.3 step 8).</summary>
    public static string FormatContact(Binding binding, DateTimeOffset now)
    {
        var remaining = Math.Max(0, (long)Math.Ceiling((binding.ExpiresAt - now).TotalSeconds));
        var text = $"<{binding.ContactUri}>;expires={remaining}";
        if (binding.QValue != 1000)
        {
            text += $";q={binding.QValue / 1000}.{binding.QValue % 1000:D3}";
        }

        if (binding.InstanceId is not null)
        {
            text += $";+sip.instance={binding.InstanceId}";
        }

        if (binding.RegId is not null)
        {
            text += $";reg-id={binding.RegId}";
        }

        return text;
    }
}
