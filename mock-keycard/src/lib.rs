//! mock-keycard: a faithful offline Keycard zone, as a library and a binary.
//!
//! It checks what a real zone checks — subject-token signatures, issuers, expiry and audience;
//! client secrets and `private_key_jwt` assertions (with `jti` replay protection); application
//! dependencies and user consent — and records every issuance or refusal in an audit log, so
//! tests against it mean something. It is independent of `keycard-core` on purpose.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_keycard::ZoneError> {
//! use mock_keycard::{MintRequest, MockKeycard, ZoneConfig};
//! let zone = MockKeycard::start(ZoneConfig::default().with_mcp_resource("http://127.0.0.1:8787")).await?;
//! let token = zone.zone().mint(MintRequest { sub: Some("alice".into()), ..Default::default() });
//! println!("{} {}", zone.issuer(), zone.upstream_url());
//! # let _ = token; Ok(()) }
//! ```
//!
//! The MCP server's resource URL (`{mcp}` in the config) is only known once it binds: pass it
//! with [`ZoneConfig::with_mcp_resource`], or set it later with [`Zone::set_mcp_resource`].
//! With `accept_loopback_resources` (on in the default zone) `/authorize` also issues tokens for
//! any other loopback resource, but exchanges always require the exact resource an application
//! provides.
//!
//! Headless sign-in: `GET /authorize?...&login_hint=<sub>` redirects immediately with a code.
//!
//! Everything under `/admin`, `/dev/token` and [`Zone::mint`] is a MOCK FEATURE.

mod admin;
mod audit;
mod authorize;
pub mod canary;
mod config;
mod consent;
pub mod corpus;
mod discovery;
mod error;
mod es256;
mod faults;
mod html;
mod jws;
mod keys;
mod mint;
mod model;
mod register;
mod secret;
mod server;
mod sig_cache;
mod token;
mod upstream;
mod zone;

pub use audit::{AuditEvent, AuditFilter, CONSENT_GRANT, CREDENTIALS_ISSUE, Outcome};
pub use canary::{CANARY_PREFIX, CORRELATION_HEADER, UpstreamCall, find_canaries};
pub use config::{
    ApplicationConfig, ConfigError, DEFAULT_ZONE_TOML, KeysConfig, Lifetimes, PeerConfig, Profile,
    ResourceConfig, UpstreamAlg, UserConfig, ZoneConfig,
};
pub use discovery::metadata;
pub use error::{ErrorCode, OAuthError};
pub use es256::{Es256KeyPair, embedded_upstream_key};
pub use faults::{Endpoint, FaultError, FaultSpec, Faults};
pub use jws::{ClaimError, Claims, JwsError};
pub use keys::{
    Jwk, JwkSet, KeyError, KeyPair, Rotation, embedded_pool, other_zone_key, thumbprint,
};
pub use mint::{Audience, DEFAULT_MINT_CLIENT_ID, ES256_KEY, MintError, MintRequest, MintedToken};
pub use model::{Application, ClientAuth, Resource, UserInfo};
pub use secret::SecretString;
pub use server::{MockKeycard, app};
pub use sig_cache::SignatureCacheStats;
pub use token::{ACCESS_TOKEN_TYPE, CLIENT_ASSERTION_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE};
pub use upstream::{CALENDAR_PATH, DemoUpstream, UPSTREAM_PATH, UpstreamError, UpstreamIdentity};
pub use zone::{VerifyError, Zone, ZoneError};

/// JWS helpers for tests: sign arbitrary claims with a [`KeyPair`], decode without verifying.
pub mod jwt {
    pub use crate::jws::{Decoded, Header, MAX_TOKEN_LEN, decode, sign, sign_es256};
}
