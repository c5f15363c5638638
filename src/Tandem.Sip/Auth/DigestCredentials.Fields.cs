namespace Tandem.Sip.Auth;

public sealed partial class DigestCredentials
{
    /// <summary>Collects parameters during one parse; each known one may appear once.</summary>
    private ref struct Fields
    {
        private int _seen;
        private string? _username, _realm, _nonce, _uri, _response, _cnonce, _opaque, _nc;
        private uint _ncValue;
        private DigestAlgorithm _algorithm;
        private DigestQop _qop;

        public DigestParseError Accept(Param param, ReadOnlySpan<char> raw)
        {
            if (param == Param.Unknown)
            {
                return DigestParseError.None; // auth-param extensions are ignored (RFC 7616 §3.4)
            }
            int bit = 1 << (int)param;
            if ((_seen & bit) != 0)
            {
                return DigestParseError.DuplicateParameter;
            }
            _seen |= bit;

            // Values are taken quoted or as tokens alike: some UAs quote qop/algorithm or leave nc quoted.
            switch (param)
            {
                case Param.Username: _username = AuthParamReader.Unquote(raw); break;
                case Param.Realm: _realm = AuthParamReader.Unquote(raw); break;
                case Param.Nonce: _nonce = AuthParamReader.Unquote(raw); break;
                case Param.Uri: _uri = AuthParamReader.Unquote(raw); break;
                case Param.Cnonce: _cnonce = AuthParamReader.Unquote(raw); break;
                case Param.Opaque: _opaque = AuthParamReader.Unquote(raw); break;
                case Param.Response:
                    if (!IsHex(raw))
                    {
                        return DigestParseError.BadResponse;
                    }
                    _response = new string(raw);
                    break;
                case Param.Algorithm:
                    // MD5-sess / SHA-256-sess need a per-session HA1 that the registrar does not keep,
                    // and SIP clients rarely use them: reject rather than mis-verify (RFC 7616 §3.4.2).
                    if (!DigestHash.TryParseToken(raw, out _algorithm))
                    {
                        return DigestParseError.UnsupportedAlgorithm;
                    }
                    break;
                case Param.Qop:
                    // auth-int would need the body hash; Tandem only offers qop="auth".
                    if (!raw.Equals("auth", StringComparison.OrdinalIgnoreCase))
                    {
                        return DigestParseError.UnsupportedQop;
                    }
                    _qop = DigestQop.Auth;
                    break;
                case Param.Nc:
                    if (!TryParseNonceCount(raw, out _ncValue))
                    {
                        return DigestParseError.BadNonceCount;
                    }
                    _nc = new string(raw);
                    break;
            }
            return DigestParseError.None;
        }

        public readonly DigestParseError Build(ref DigestCredentials? credentials)
        {
            if (_username is null || _realm is null || _nonce is null || _uri is null || _response is null)
            {
                return DigestParseError.MissingParameter;
            }
            // cnonce and nc are mandatory with qop (RFC 7616 §3.4); without qop they are
            // meaningless to the RFC 2069 computation and are dropped.
            if (_qop == DigestQop.Auth && (_cnonce is null || _nc is null))
            {
                return DigestParseError.MissingParameter;
            }
            if (_response.Length != 2 * DigestComputation.HashBytes(_algorithm))
            {
                return DigestParseError.BadResponse;
            }
            bool auth = _qop == DigestQop.Auth;
            credentials = new DigestCredentials(
                _username, _realm, _nonce, _uri, _response, _algorithm, _qop,
                auth ? _cnonce : null, auth ? _nc : null, auth ? _ncValue : 0, _opaque);
            return DigestParseError.None;
        }
    }
}
