//! MOCK FEATURE: minting arbitrary access tokens signed by the zone, for tests and scripts
//! (`POST /dev/token`, `mock-keycard mint`, [`Zone::mint`]). A real Keycard zone has no such
//! thing; never expose a mock zone to anything but a developer machine or CI.

use std::sync::Arc;

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::es256::Es256KeyPair;
use crate::jws::{self, JwsError};
use crate::keys::{KeyError, KeyPair, embedded_pool, other_zone_key};
use crate::zone::{Zone, now};

/// Client id put in minted tokens when none is given.
pub const DEFAULT_MINT_CLIENT_ID: &str = "mcp-client-a";

/// Errors minting.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// `key` names no known key.
    #[error("unknown key {0:?} (use current, zone-1, zone-2, zone-3, other-zone or es256)")]
    UnknownKey(String),
    /// `key = "es256"` on a zone without an ES256 access-token key.
    #[error("key \"es256\" needs a zone with [keys] access_es256 = true")]
    Es256Disabled,
    /// Key loading failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] JwsError),
}

/// One audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "..."`.
    One(String),
    /// `"aud": [...]`.
    Many(Vec<String>),
}

impl Audience {
    fn first(&self) -> Option<&str> {
        match self {
            Self::One(a) => Some(a),
            Self::Many(list) => list.first().map(String::as_str),
        }
    }
}

/// What to mint. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// `sub`; `None` mints a sub-less token.
    pub sub: Option<String>,
    /// `client_id`; default [`DEFAULT_MINT_CLIENT_ID`].
    pub client_id: Option<String>,
    /// `scope` (space-separated); default the audience resource's scopes.
    pub scope: Option<String>,
    /// `aud`; default the MCP resource.
    pub audience: Option<Audience>,
    /// Lifetime in seconds (negative: already expired); default the access token lifetime.
    pub lifetime_secs: Option<i64>,
    /// Claims merged last (overriding); a `null` value removes the claim.
    #[serde(default)]
    pub extra_claims: Map<String, Value>,
    /// Signing key: `current` (default), `zone-1`/`zone-2`/`zone-3` or `other-zone` (RS256),
    /// or `es256`: the zone's ES256 access-token key (only with `[keys] access_es256`; a
    /// P-256 signature costs a small fraction of an RSA-2048 one).
    pub key: Option<String>,
    /// Header `kid` override (e.g. the current kid on an `other-zone` signature).
    pub kid: Option<String>,
}

/// A minted token. `Debug` does not print the token.
#[derive(Clone, Serialize)]
pub struct MintedToken {
    /// The JWT.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until expiry (may be negative).
    pub expires_in: i64,
    /// `exp`.
    pub expires_at: i64,
    /// `jti`.
    pub jti: String,
    /// Header `kid`.
    pub kid: String,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("jti", &self.jti)
            .field("kid", &self.kid)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// [`MintRequest::key`] naming the zone's ES256 access-token key.
pub const ES256_KEY: &str = "es256";

/// The key a token is minted with.
enum Signer {
    Rsa(Arc<KeyPair>),
    Es256(Arc<Es256KeyPair>),
}

impl Signer {
    fn kid(&self) -> &str {
        match self {
            Self::Rsa(key) => key.kid(),
            Self::Es256(key) => key.kid(),
        }
    }
}

/// A fresh random `jti`.
pub(crate) fn new_jti() -> String {
    random_id(16)
}

/// `len` random bytes, base64url.
pub(crate) fn random_id(len: usize) -> String {
    use base64::Engine as _;
    let mut bytes = vec![0_u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Zone {
    /// MOCK FEATURE: signs a token with arbitrary claims (see [`MintRequest`]). Fast: keys are
    /// parsed once.
    pub fn mint(&self, request: MintRequest) -> Result<MintedToken, MintError> {
        let key = match request.key.as_deref() {
            None | Some("current") => Signer::Rsa(self.current_key()),
            Some("other-zone") => Signer::Rsa(other_zone_key()?),
            Some(ES256_KEY) => {
                Signer::Es256(self.access_es256_key().ok_or(MintError::Es256Disabled)?)
            }
            Some(name) => Signer::Rsa(
                embedded_pool()?
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| MintError::UnknownKey(name.to_owned()))?,
            ),
        };
        let issued = now();
        let lifetime = request.lifetime_secs.unwrap_or_else(|| {
            i64::try_from(self.inner.config.lifetimes.access_token_secs).unwrap_or(3600)
        });
        let expires_at = issued.saturating_add(lifetime);
        let audience = request
            .audience
            .unwrap_or_else(|| Audience::One(self.mcp_resource()));
        let scope = request.scope.or_else(|| {
            let scopes = self.read().scopes_of(audience.first().unwrap_or_default());
            (!scopes.is_empty()).then(|| scopes.join(" "))
        });
        let jti = new_jti();
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer().into());
        if let Some(sub) = request.sub {
            claims.insert("sub".into(), sub.into());
        }
        claims.insert(
            "aud".into(),
            serde_json::to_value(&audience).unwrap_or(Value::Null),
        );
        claims.insert("exp".into(), expires_at.into());
        claims.insert("iat".into(), issued.into());
        claims.insert("nbf".into(), issued.into());
        claims.insert("jti".into(), jti.clone().into());
        claims.insert(
            "client_id".into(),
            request
                .client_id
                .unwrap_or_else(|| DEFAULT_MINT_CLIENT_ID.to_owned())
                .into(),
        );
        if let Some(scope) = scope {
            claims.insert("scope".into(), scope.into());
        }
        for (name, value) in request.extra_claims {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
        let kid = request.kid.unwrap_or_else(|| key.kid().to_owned());
        let access_token = match &key {
            Signer::Rsa(key) => jws::sign(key, Some(&kid), &claims)?,
            Signer::Es256(key) => jws::sign_es256_kid(key, Some(&kid), &claims)?,
        };
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .map_or(jti, str::to_owned);
        Ok(MintedToken {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            expires_at,
            jti,
            kid,
        })
    }
}
