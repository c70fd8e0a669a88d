//! Compact JWS (RS256, and ES256 for the zone's upstream tokens): signing with a parsed key,
//! decoding, verifying (the header's `alg` must match the key's), and typed access to claims.
//!
//! Signing and the signature check are `jsonwebtoken`'s. Decoding stays here: it reads the
//! header's `alg` as a plain string, so that an `alg` jsonwebtoken has no variant for
//! (`none`, `None`, `""`) is reported as [`JwsError::Algorithm`] with its value rather than
//! as a JSON error, and it names the part that is malformed; the audit log and the OAuth
//! error descriptions carry these messages. (jsonwebtoken's own `decode` also checks the
//! claims, which here are each caller's.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::es256::Es256KeyPair;
use crate::keys::{KeyPair, Verifier};

/// Largest token accepted.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Errors decoding or verifying a JWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token too large")]
    TooLarge,
    /// Not three base64url parts with a JSON header and a JSON object payload.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// An algorithm other than RS256 and ES256, or one the verifying key cannot serve.
    #[error("unsupported alg {0:?} (only RS256, and ES256 for upstream tokens)")]
    Algorithm(String),
    /// Signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// The JOSE header fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// Algorithm.
    pub alg: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
}

/// A decoded, not yet verified, token. `Debug` shows the header only.
#[derive(Clone)]
pub struct Decoded {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Claims,
    signing_input_len: usize,
    raw: String,
}

/// Signs `claims` with `key` (RS256), `kid` defaulting to the key's own.
pub fn sign(
    key: &KeyPair,
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, JwsError> {
    encode(
        Algorithm::RS256,
        kid.unwrap_or(key.kid()),
        claims,
        key.encoding_key(),
    )
}

/// Signs `claims` with the P-256 `key` (ES256, `r || s` signature) and the key's own `kid`.
pub fn sign_es256(key: &Es256KeyPair, claims: &Map<String, Value>) -> Result<String, JwsError> {
    sign_es256_kid(key, None, claims)
}

/// Signs `claims` with the P-256 `key` (ES256), `kid` defaulting to the key's own.
pub fn sign_es256_kid(
    key: &Es256KeyPair,
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, JwsError> {
    encode(
        Algorithm::ES256,
        kid.unwrap_or(key.kid()),
        claims,
        key.encoding_key(),
    )
}

/// A `typ: JWT` token with `alg` and `kid`.
fn encode(
    alg: Algorithm,
    kid: &str,
    claims: &Map<String, Value>,
    key: &EncodingKey,
) -> Result<String, JwsError> {
    let header = jsonwebtoken::Header {
        kid: Some(kid.to_owned()),
        ..jsonwebtoken::Header::new(alg)
    };
    jsonwebtoken::encode(&header, claims, key).map_err(|_| JwsError::Sign)
}

/// Decodes a compact JWS without verifying it; only RS256 and ES256 pass.
pub fn decode(token: &str) -> Result<Decoded, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("expected three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| JwsError::Malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| JwsError::Malformed("header is not a JWS header"))?;
    if header.alg != "RS256" && header.alg != "ES256" {
        return Err(JwsError::Algorithm(header.alg));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| JwsError::Malformed("payload is not base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|_| JwsError::Malformed("payload is not a JSON object"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwsError::Malformed("signature is not base64url"))?;
    Ok(Decoded {
        header,
        claims: Claims(claims),
        signing_input_len: h.len() + 1 + p.len(),
        raw: token.to_owned(),
    })
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Decoded {
    /// Verifies the signature with an RS256 or ES256 key; the header's `alg` must be the key's.
    pub(crate) fn verify_with(&self, key: &Verifier) -> Result<(), JwsError> {
        if self.header.alg.parse::<Algorithm>().ok() != Some(key.alg) {
            return Err(JwsError::Algorithm(self.header.alg.clone()));
        }
        let (Some(input), Some(signature)) = (
            self.raw.get(..self.signing_input_len),
            self.raw.get(self.signing_input_len + 1..),
        ) else {
            return Err(JwsError::Malformed("truncated"));
        };
        match jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key.key, key.alg) {
            Ok(true) => Ok(()),
            _ => Err(JwsError::Signature),
        }
    }
}

/// A claims object with typed accessors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims(pub Map<String, Value>);

/// A failed time or audience check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A required claim is missing or has the wrong type.
    #[error("missing or invalid `{0}` claim")]
    Missing(&'static str),
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
}

impl Claims {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// An integer claim (floats are refused).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// `aud` as a list (a string is a one-element list); other shapes are empty.
    pub fn audiences(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `aud` contains `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.audiences().contains(&audience)
    }

    /// Checks `exp` (required) and `nbf` (optional) against `now` with `leeway`.
    pub fn check_time(&self, now: i64, leeway: i64) -> Result<i64, ClaimError> {
        let exp = self.int("exp").ok_or(ClaimError::Missing("exp"))?;
        if exp.saturating_add(leeway) <= now {
            return Err(ClaimError::Expired);
        }
        if let Some(value) = self.0.get("nbf") {
            let nbf = value.as_i64().ok_or(ClaimError::Missing("nbf"))?;
            if nbf.saturating_sub(leeway) > now {
                return Err(ClaimError::NotYetValid);
            }
        }
        Ok(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{embedded_pool, other_zone_key};

    fn claims() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), "alice".into());
        m.insert("exp".into(), 2_000_000_000_i64.into());
        m.insert("aud".into(), serde_json::json!(["a", "b"]));
        m
    }

    #[test]
    fn sign_decode_verify_round_trip() {
        let key = &embedded_pool().expect("pool")[0];
        let token = sign(key, None, &claims()).expect("sign");
        let decoded = decode(&token).expect("decode");
        assert_eq!(decoded.header.kid.as_deref(), Some(key.kid()));
        decoded.verify_with(key.verifier()).expect("verify");
        assert!(decoded.claims.has_audience("b"));
        assert_eq!(decoded.claims.check_time(1_000, 0), Ok(2_000_000_000));
        assert_eq!(
            decoded.claims.check_time(2_000_000_000, 0),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn other_key_does_not_verify_and_garbage_is_refused() {
        let key = &embedded_pool().expect("pool")[0];
        let other = other_zone_key().expect("other");
        let token = sign(&other, Some(key.kid()), &claims()).expect("sign");
        let decoded = decode(&token).expect("decode");
        assert_eq!(
            decoded.verify_with(key.verifier()),
            Err(JwsError::Signature)
        );
        assert!(matches!(decode("a.b"), Err(JwsError::Malformed(_))));
        assert!(matches!(decode("a.b.c.d"), Err(JwsError::Malformed(_))));
        assert!(matches!(decode("!!.b.c"), Err(JwsError::Malformed(_))));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(decode(&none), Err(JwsError::Algorithm(_))));
        assert_eq!(
            decode(&"a".repeat(MAX_TOKEN_LEN + 1)).err(),
            Some(JwsError::TooLarge)
        );
    }
}
