//! The JWT front half: parsing and every check that needs no key, cheapest first.
//!
//! [`check_token`] runs, in this order, and stops at the first failure:
//!
//! 1. size limit (`Limits::max_token_bytes`),
//! 2. structure: three base64url parts, a JSON object header, a JSON object claim set,
//! 3. `alg` allowlist (RS256, PS256, ES256: `none` and HMAC never reach a key lookup),
//!    then `crit` (any entry is refused: we understand no extensions),
//! 4. `iss` exactly one of the trusted issuers (before any network call),
//! 5. `exp` (required, an integer `NumericDate`), `nbf`, `iat` with the configured leeway,
//! 6. `aud` (a string or an array) contains this server's canonical resource identifier,
//! 7. `client_id` present,
//! 8. `kid` present.
//!
//! The signature is checked afterwards by [`crate::auth`] with a key from
//! [`crate::auth::jwks`]. The header members `jku`, `x5u`, `jwk` and `x5c` are ignored: keys
//! come only from the trusted issuer's discovered JWKS.
//!
//! Error descriptions never echo the token or attacker-chosen strings.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::auth::identity::Identity;
use crate::http::resource::canonical_resource;
use crate::ports::JwsAlg;
use crate::secret::SecretString;

/// `NumericDate`s beyond this (the year 5138) are refused as absurd.
pub const MAX_NUMERIC_DATE: u64 = 100_000_000_000;

/// A claim that must be an integer `NumericDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClaim {
    /// `exp`.
    Exp,
    /// `nbf`.
    Nbf,
    /// `iat`.
    Iat,
}

impl TimeClaim {
    fn name(self) -> &'static str {
        match self {
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Iat => "iat",
        }
    }
}

impl std::fmt::Display for TimeClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token failed a front-half check. Every variant maps to 401 `invalid_token`.
/// Descriptions carry only fixed text and values we chose, never token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The token is larger than `max_token_bytes`.
    #[error("the access token is larger than {max} bytes")]
    TooLarge {
        /// The configured limit.
        max: usize,
    },
    /// Not three dot-separated parts.
    #[error("the access token is not a JWT: expected 3 dot-separated parts, found {parts}")]
    PartCount {
        /// How many parts were found (capped at 4).
        parts: usize,
    },
    /// A part is not valid unpadded base64url.
    #[error("the JWT {part} is not valid base64url")]
    Base64 {
        /// `header`, `claim set` or `signature`.
        part: &'static str,
    },
    /// The header or claim set is not a JSON object.
    #[error("the JWT {part} is not a JSON object")]
    Json {
        /// `header` or `claim set`.
        part: &'static str,
    },
    /// The header has no `alg` string.
    #[error("the JWT header has no alg")]
    MissingAlg,
    /// `alg` is `none`.
    #[error("unsigned tokens (alg none) are not accepted")]
    AlgNone,
    /// `alg` is an HMAC algorithm.
    #[error("symmetric algorithms (HS256/HS384/HS512) are not accepted; use RS256, PS256 or ES256")]
    AlgHmac,
    /// `alg` is outside the allowlist.
    #[error("the token algorithm is not accepted; use RS256, PS256 or ES256")]
    AlgNotAllowed,
    /// The header lists critical extensions.
    #[error("the JWT header lists critical extensions (crit), none of which are supported")]
    Crit,
    /// No `iss` string.
    #[error("the token has no issuer (iss)")]
    MissingIssuer,
    /// `iss` is not one of the trusted issuers.
    #[error("the token issuer is not trusted by this server")]
    UntrustedIssuer,
    /// A required time claim is absent.
    #[error("the token has no {0} claim")]
    MissingTime(TimeClaim),
    /// A time claim is not a number.
    #[error("the {0} claim must be a number (NumericDate)")]
    TimeNotNumber(TimeClaim),
    /// A time claim has a fractional part or an exponent.
    #[error("the {0} claim must be an integer number of seconds")]
    TimeNotInteger(TimeClaim),
    /// A time claim is negative.
    #[error("the {0} claim must not be negative")]
    TimeNegative(TimeClaim),
    /// A time claim is absurdly far in the future.
    #[error("the {0} claim is implausibly far in the future")]
    TimeHuge(TimeClaim),
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// No `aud`.
    #[error("the token has no audience (aud)")]
    MissingAudience,
    /// `aud` is neither a string nor an array of strings.
    #[error("the aud claim must be a string or an array of strings")]
    AudienceType,
    /// `aud` does not contain this server.
    #[error("the token audience does not include this resource ({resource})")]
    WrongAudience {
        /// This server's canonical resource identifier (ours, safe to show).
        resource: String,
    },
    /// No `client_id` string.
    #[error("the token has no client_id")]
    MissingClientId,
    /// `sub` is present but not a string.
    #[error("the sub claim must be a string")]
    SubjectType,
    /// `scope` is neither a string nor an array of strings.
    #[error("the scope claim must be a space-separated string or an array of strings")]
    ScopeType,
    /// `jti` is present but not a string.
    #[error("the jti claim must be a string")]
    JtiType,
    /// No `kid` string in the header.
    #[error("the JWT header has no key id (kid)")]
    MissingKid,
    /// The signature has the wrong length for the algorithm.
    #[error("the JWT signature has the wrong length for {0}")]
    SignatureLength(&'static str),
}

/// Everything [`check_token`] needs to judge a token.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// Largest accepted token in bytes.
    pub max_token_bytes: usize,
    /// Issuers whose tokens are accepted (exact string match).
    pub trusted_issuers: &'a [String],
    /// This server's resource identifier (canonicalised before comparing).
    pub resource_id: &'a str,
    /// The current time, seconds since the Unix epoch.
    pub now_secs: u64,
    /// Tolerated clock skew in seconds.
    pub leeway_secs: u64,
}

/// A token that passed every front-half check; only the signature remains.
#[derive(Debug, Clone)]
pub struct CheckedToken {
    /// The identity the claims describe (not yet proven by a signature).
    pub identity: Identity,
    /// The verified-to-be-allowed algorithm.
    pub alg: JwsAlg,
    /// The header's key id.
    pub kid: String,
    /// `base64url(header) || '.' || base64url(claims)`: the signed bytes.
    pub signing_input: String,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// The three decoded parts of a compact JWS.
#[derive(Debug)]
pub struct ParsedJwt {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claim set.
    pub claims: Map<String, Value>,
    /// The signed bytes.
    pub signing_input: String,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Size and structure checks: three base64url parts, JSON object header and claims.
pub fn parse(token: &str, max_token_bytes: usize) -> Result<ParsedJwt, JwtError> {
    if token.len() > max_token_bytes {
        return Err(JwtError::TooLarge {
            max: max_token_bytes,
        });
    }
    let mut parts = token.splitn(4, '.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::PartCount {
            parts: token.splitn(5, '.').count().min(4),
        });
    };
    let header = decode_object(h, "header")?;
    let claims = decode_object(c, "claim set")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtError::Base64 { part: "signature" })?;
    Ok(ParsedJwt {
        header,
        claims,
        signing_input: token[..h.len() + 1 + c.len()].to_owned(),
        signature,
    })
}

fn decode_object(part: &str, name: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Base64 { part: name })?;
    // serde_json stops at a nesting depth of 128 with an error, so hostile nesting is a
    // clean `Json` error rather than a stack overflow.
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Json { part: name }),
    }
}

/// The `alg` allowlist and `crit` check on a parsed header.
pub fn check_header(header: &Map<String, Value>) -> Result<JwsAlg, JwtError> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtError::MissingAlg)?;
    let alg = match JwsAlg::from_name(alg) {
        Some(alg) => alg,
        None if alg.eq_ignore_ascii_case("none") => return Err(JwtError::AlgNone),
        None if alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) => {
            return Err(JwtError::AlgHmac);
        }
        None => return Err(JwtError::AlgNotAllowed),
    };
    if header.contains_key("crit") {
        return Err(JwtError::Crit);
    }
    Ok(alg)
}

/// Runs every check of the front half on `token` (see the module docs for the order).
pub fn check_token(token: &SecretString, rules: &ClaimRules<'_>) -> Result<CheckedToken, JwtError> {
    let parsed = parse(token.expose(), rules.max_token_bytes)?;
    let alg = check_header(&parsed.header)?;
    let claims = &parsed.claims;

    // iss: exact string match, before anything could cause a network call.
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(JwtError::MissingIssuer)?;
    if !rules.trusted_issuers.iter().any(|t| t == issuer) {
        return Err(JwtError::UntrustedIssuer);
    }

    // Times.
    let now = rules.now_secs;
    let leeway = rules.leeway_secs;
    let exp = numeric_date(claims, TimeClaim::Exp)?.ok_or(JwtError::MissingTime(TimeClaim::Exp))?;
    if now >= exp.saturating_add(leeway) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, TimeClaim::Nbf)?
        && nbf > now.saturating_add(leeway)
    {
        return Err(JwtError::NotYetValid);
    }
    let iat = numeric_date(claims, TimeClaim::Iat)?;
    if let Some(iat) = iat
        && iat > now.saturating_add(leeway)
    {
        return Err(JwtError::IssuedInFuture);
    }

    // Audience.
    let audience = audiences(claims)?;
    let ours =
        canonical_resource(rules.resource_id).unwrap_or_else(|| rules.resource_id.to_owned());
    if !audience
        .iter()
        .any(|a| canonical_resource(a).is_some_and(|a| a == ours))
    {
        return Err(JwtError::WrongAudience { resource: ours });
    }

    let client_id = claims
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or(JwtError::MissingClientId)?;

    let subject = match claims.get("sub") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(JwtError::SubjectType),
    };
    let scopes = scopes(claims)?;
    let token_id = match claims.get("jti") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(JwtError::JtiType),
    };

    let kid = parsed
        .header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or(JwtError::MissingKid)?
        .to_owned();

    if alg == JwsAlg::Es256 && parsed.signature.len() != 64 {
        return Err(JwtError::SignatureLength("ES256"));
    }

    Ok(CheckedToken {
        identity: Identity {
            issuer: issuer.to_owned(),
            subject,
            client_id: client_id.to_owned(),
            scopes,
            audience,
            resource: ours,
            expires_at: exp,
            issued_at: iat,
            token_id,
            token: token.clone(),
            test_only: false,
        },
        alg,
        kid,
        signing_input: parsed.signing_input,
        signature: parsed.signature,
    })
}

/// Reads an optional integer `NumericDate`.
fn numeric_date(claims: &Map<String, Value>, which: TimeClaim) -> Result<Option<u64>, JwtError> {
    let value = match claims.get(which.name()) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let Value::Number(n) = value else {
        return Err(JwtError::TimeNotNumber(which));
    };
    if let Some(v) = n.as_u64() {
        if v > MAX_NUMERIC_DATE {
            return Err(JwtError::TimeHuge(which));
        }
        return Ok(Some(v));
    }
    if n.as_i64().is_some_and(|v| v < 0) {
        return Err(JwtError::TimeNegative(which));
    }
    match n.as_f64() {
        Some(f) if f < 0.0 => Err(JwtError::TimeNegative(which)),
        Some(f) if f > MAX_NUMERIC_DATE as f64 => Err(JwtError::TimeHuge(which)),
        _ => Err(JwtError::TimeNotInteger(which)),
    }
}

fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    match claims.get("aud") {
        None | Some(Value::Null) => Err(JwtError::MissingAudience),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(JwtError::AudienceType))
            .collect(),
        Some(_) => Err(JwtError::AudienceType),
    }
}

fn scopes(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    match claims.get("scope") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_ascii_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(JwtError::ScopeType))
            .collect(),
        Some(_) => Err(JwtError::ScopeType),
    }
}

/// The required scopes `granted` lacks, in the order they are required.
pub fn missing_scopes<'a>(required: &'a [String], granted: &[String]) -> Vec<&'a str> {
    required
        .iter()
        .filter(|r| !granted.iter().any(|g| g == *r))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const RES: &str = "https://mcp.example.com";

    fn issuers() -> Vec<String> {
        vec!["https://zone.keycard.cloud".to_string()]
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> SecretString {
        SecretString::new(format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([1u8; 256])
        ))
    }

    fn good_claims() -> Value {
        json!({
            "iss": "https://zone.keycard.cloud",
            "sub": "alice",
            "aud": RES,
            "exp": NOW + 600,
            "iat": NOW - 10,
            "nbf": NOW - 10,
            "client_id": "cursor",
            "scope": "mcp:tools read",
            "jti": "j1",
        })
    }

    fn good_header() -> Value {
        json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn check(t: &SecretString) -> Result<CheckedToken, JwtError> {
        let trusted = issuers();
        check_token(
            t,
            &ClaimRules {
                max_token_bytes: 8192,
                trusted_issuers: &trusted,
                resource_id: RES,
                now_secs: NOW,
                leeway_secs: 30,
            },
        )
    }

    fn claims_err(claims: Value) -> JwtError {
        check(&token(good_header(), claims)).unwrap_err()
    }

    #[test]
    fn good_token_yields_identity() {
        let checked = check(&token(good_header(), good_claims())).unwrap();
        let id = &checked.identity;
        assert_eq!(id.issuer, "https://zone.keycard.cloud");
        assert_eq!(id.subject.as_deref(), Some("alice"));
        assert_eq!(id.client_id, "cursor");
        assert_eq!(id.scopes, vec!["mcp:tools", "read"]);
        assert_eq!(id.audience, vec![RES]);
        assert_eq!(id.expires_at, NOW + 600);
        assert_eq!(id.issued_at, Some(NOW - 10));
        assert_eq!(id.token_id.as_deref(), Some("j1"));
        assert_eq!(checked.kid, "k1");
        assert_eq!(checked.alg, JwsAlg::Rs256);
        assert_eq!(checked.signature.len(), 256);
        assert_eq!(checked.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn size_limit_comes_first() {
        let t = SecretString::new("x".repeat(9000));
        assert_eq!(check(&t).unwrap_err(), JwtError::TooLarge { max: 8192 });
    }

    #[test]
    fn structure() {
        for (t, parts) in [("a.b", 2), ("a.b.c.d", 4), ("abc", 1), ("a.b.c.d.e.f", 4)] {
            assert_eq!(
                check(&SecretString::from(t)).unwrap_err(),
                JwtError::PartCount { parts },
                "{t}"
            );
        }
        assert_eq!(
            check(&SecretString::from("!!!.e30.AA")).unwrap_err(),
            JwtError::Base64 { part: "header" }
        );
        let h = b64(&good_header());
        assert_eq!(
            check(&SecretString::new(format!("{h}.e30=.AA"))).unwrap_err(),
            JwtError::Base64 { part: "claim set" }
        );
        assert_eq!(
            check(&SecretString::new(format!("{h}.{}.A", b64(&good_claims())))).unwrap_err(),
            JwtError::Base64 { part: "signature" }
        );
        let arr = URL_SAFE_NO_PAD.encode("[1,2]");
        assert_eq!(
            check(&SecretString::new(format!("{h}.{arr}.AA"))).unwrap_err(),
            JwtError::Json { part: "claim set" }
        );
    }

    #[test]
    fn deep_nesting_is_a_clean_error() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let t = SecretString::new(format!(
            "{}.{}.AA",
            b64(&good_header()),
            URL_SAFE_NO_PAD.encode(deep)
        ));
        let trusted = issuers();
        let err = check_token(
            &t,
            &ClaimRules {
                max_token_bytes: usize::MAX,
                trusted_issuers: &trusted,
                resource_id: RES,
                now_secs: NOW,
                leeway_secs: 30,
            },
        )
        .unwrap_err();
        assert_eq!(err, JwtError::Json { part: "claim set" });
    }

    #[test]
    fn alg_allowlist() {
        for (alg, err) in [
            (json!("none"), JwtError::AlgNone),
            (json!("NONE"), JwtError::AlgNone),
            (json!("HS256"), JwtError::AlgHmac),
            (json!("HS512"), JwtError::AlgHmac),
            (json!("RS384"), JwtError::AlgNotAllowed),
            (json!("EdDSA"), JwtError::AlgNotAllowed),
            // A multi-byte first character must not split a char boundary (no panic).
            (json!("\u{e9}S256"), JwtError::AlgNotAllowed),
            (json!("H"), JwtError::AlgNotAllowed),
            (json!(42), JwtError::MissingAlg),
        ] {
            let h = with(good_header(), "alg", alg.clone());
            assert_eq!(check(&token(h, good_claims())).unwrap_err(), err, "{alg}");
        }
        assert_eq!(
            check(&token(without(good_header(), "alg"), good_claims())).unwrap_err(),
            JwtError::MissingAlg
        );
        for alg in ["PS256", "ES256"] {
            let h = with(good_header(), "alg", json!(alg));
            let r = check(&token(h, good_claims()));
            if alg == "ES256" {
                assert_eq!(r.unwrap_err(), JwtError::SignatureLength("ES256"));
            } else {
                assert!(r.is_ok());
            }
        }
    }

    #[test]
    fn alg_checked_before_issuer() {
        let h = with(good_header(), "alg", json!("none"));
        let c = with(good_claims(), "iss", json!("https://evil.example"));
        assert_eq!(check(&token(h, c)).unwrap_err(), JwtError::AlgNone);
    }

    #[test]
    fn crit_refused_and_key_headers_ignored() {
        let h = with(good_header(), "crit", json!(["exp"]));
        assert_eq!(check(&token(h, good_claims())).unwrap_err(), JwtError::Crit);
        let h = with(good_header(), "crit", json!([]));
        assert_eq!(check(&token(h, good_claims())).unwrap_err(), JwtError::Crit);
        let mut h = good_header();
        h["jku"] = json!("https://evil.example/jwks");
        h["x5u"] = json!("https://evil.example/cert");
        h["jwk"] = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        h["x5c"] = json!(["MIIB"]);
        assert!(check(&token(h, good_claims())).is_ok());
    }

    #[test]
    fn issuer_exact() {
        for iss in [
            json!("https://zone.keycard.cloud/"),
            json!("https://ZONE.keycard.cloud"),
            json!("http://zone.keycard.cloud"),
            json!("https://evil.example"),
        ] {
            assert_eq!(
                claims_err(with(good_claims(), "iss", iss.clone())),
                JwtError::UntrustedIssuer,
                "{iss}"
            );
        }
        assert_eq!(
            claims_err(without(good_claims(), "iss")),
            JwtError::MissingIssuer
        );
        assert_eq!(
            claims_err(with(good_claims(), "iss", json!(7))),
            JwtError::MissingIssuer
        );
    }

    #[test]
    fn exp_rules() {
        use TimeClaim::Exp;
        assert_eq!(
            claims_err(without(good_claims(), "exp")),
            JwtError::MissingTime(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!("1700000600"))),
            JwtError::TimeNotNumber(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(1_700_000_600.5))),
            JwtError::TimeNotInteger(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(-1))),
            JwtError::TimeNegative(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(-1.5))),
            JwtError::TimeNegative(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(u64::MAX))),
            JwtError::TimeHuge(Exp)
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(1e300))),
            JwtError::TimeHuge(Exp)
        );
        // Expired by one second beyond the leeway; and exactly at the leeway boundary.
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(NOW - 31))),
            JwtError::Expired
        );
        assert_eq!(
            claims_err(with(good_claims(), "exp", json!(NOW - 30))),
            JwtError::Expired
        );
        assert!(
            check(&token(
                good_header(),
                with(good_claims(), "exp", json!(NOW - 29))
            ))
            .is_ok()
        );
    }

    #[test]
    fn nbf_and_iat() {
        assert_eq!(
            claims_err(with(good_claims(), "nbf", json!(NOW + 31))),
            JwtError::NotYetValid
        );
        assert!(
            check(&token(
                good_header(),
                with(good_claims(), "nbf", json!(NOW + 30))
            ))
            .is_ok()
        );
        assert_eq!(
            claims_err(with(good_claims(), "nbf", json!("soon"))),
            JwtError::TimeNotNumber(TimeClaim::Nbf)
        );
        assert_eq!(
            claims_err(with(good_claims(), "iat", json!(NOW + 31))),
            JwtError::IssuedInFuture
        );
        assert_eq!(
            claims_err(with(good_claims(), "iat", json!(1.5))),
            JwtError::TimeNotInteger(TimeClaim::Iat)
        );
        let c = without(without(good_claims(), "iat"), "nbf");
        assert_eq!(
            check(&token(good_header(), c)).unwrap().identity.issued_at,
            None
        );
    }

    #[test]
    fn audience_rules() {
        let wrong = JwtError::WrongAudience {
            resource: RES.into(),
        };
        assert_eq!(
            claims_err(without(good_claims(), "aud")),
            JwtError::MissingAudience
        );
        assert_eq!(
            claims_err(with(good_claims(), "aud", json!("https://other.example"))),
            wrong
        );
        assert_eq!(
            claims_err(with(
                good_claims(),
                "aud",
                json!(["https://other.example", "https://x.example"])
            )),
            wrong
        );
        assert_eq!(claims_err(with(good_claims(), "aud", json!([]))), wrong);
        assert_eq!(
            claims_err(with(
                good_claims(),
                "aud",
                json!("https://mcp.example.com/mcp")
            )),
            wrong
        );
        assert_eq!(
            claims_err(with(good_claims(), "aud", json!(["a", 1]))),
            JwtError::AudienceType
        );
        assert_eq!(
            claims_err(with(good_claims(), "aud", json!({"a": 1}))),
            JwtError::AudienceType
        );
        for aud in [
            json!("https://mcp.example.com"),
            json!("HTTPS://MCP.Example.com/"),
            json!("https://mcp.example.com:443"),
            json!(["https://other.example", "https://mcp.example.com/"]),
        ] {
            let id = check(&token(
                good_header(),
                with(good_claims(), "aud", aud.clone()),
            ))
            .unwrap();
            assert!(!id.identity.audience.is_empty(), "{aud}");
        }
    }

    #[test]
    fn client_id_sub_scope_jti_kid() {
        assert_eq!(
            claims_err(without(good_claims(), "client_id")),
            JwtError::MissingClientId
        );
        assert_eq!(
            claims_err(with(good_claims(), "client_id", json!(""))),
            JwtError::MissingClientId
        );
        assert_eq!(
            claims_err(with(good_claims(), "client_id", json!(5))),
            JwtError::MissingClientId
        );
        assert_eq!(
            claims_err(with(good_claims(), "sub", json!(5))),
            JwtError::SubjectType
        );
        assert_eq!(
            claims_err(with(good_claims(), "scope", json!(5))),
            JwtError::ScopeType
        );
        assert_eq!(
            claims_err(with(good_claims(), "scope", json!(["a", 5]))),
            JwtError::ScopeType
        );
        assert_eq!(
            claims_err(with(good_claims(), "jti", json!(5))),
            JwtError::JtiType
        );
        let no_sub = check(&token(good_header(), without(good_claims(), "sub"))).unwrap();
        assert_eq!(no_sub.identity.subject, None);
        let arr = check(&token(
            good_header(),
            with(good_claims(), "scope", json!(["mcp:tools", "x"])),
        ))
        .unwrap();
        assert_eq!(arr.identity.scopes, vec!["mcp:tools", "x"]);
        let none = check(&token(good_header(), without(good_claims(), "scope"))).unwrap();
        assert!(none.identity.scopes.is_empty());
        assert_eq!(
            check(&token(without(good_header(), "kid"), good_claims())).unwrap_err(),
            JwtError::MissingKid
        );
        assert_eq!(
            check(&token(with(good_header(), "kid", json!(3)), good_claims())).unwrap_err(),
            JwtError::MissingKid
        );
    }

    #[test]
    fn claim_order_is_cheapest_first() {
        // Untrusted issuer *and* expired *and* wrong audience: the issuer is reported.
        let c = json!({"iss": "https://evil", "exp": 1, "aud": "x"});
        assert_eq!(claims_err(c), JwtError::UntrustedIssuer);
        // Expired and wrong audience and no client_id: expiry is reported.
        let c = json!({"iss": "https://zone.keycard.cloud", "exp": 1, "aud": "x"});
        assert_eq!(claims_err(c), JwtError::Expired);
        // Good times, wrong audience, no client_id, no kid: audience first.
        let c = json!({"iss": "https://zone.keycard.cloud", "exp": NOW + 60, "aud": "x"});
        let err = check(&token(without(good_header(), "kid"), c)).unwrap_err();
        assert!(matches!(err, JwtError::WrongAudience { .. }));
    }

    #[test]
    fn missing_scope_list() {
        let req = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(missing_scopes(&req, &["b".to_string()]), vec!["a", "c"]);
        assert!(missing_scopes(&req, &req).is_empty());
    }
}
