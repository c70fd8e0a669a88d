//! Zone configuration: users, applications, resources, lifetimes, keys, peers and faults,
//! read from TOML (see `fixtures/zone.toml`, embedded as [`ZoneConfig::default`]).
//!
//! String values may contain three placeholders, resolved when the zone starts (the real URLs
//! are only known once sockets are bound):
//!
//! - `{issuer}`: the zone's issuer, an origin without trailing slash (`http://127.0.0.1:<port>`
//!   unless [`ZoneConfig::issuer`] overrides it);
//! - `{upstream}`: the demo upstream API base, [`ZoneConfig::upstream_url`] (default
//!   `{issuer}/upstream/github`);
//! - `{calendar}`: the second demo upstream (a calendar), [`ZoneConfig::calendar_url`]
//!   (default `{issuer}/upstream/calendar`);
//! - `{mcp}`: the MCP server's resource identifier, [`ZoneConfig::mcp_resource`]. Set it with
//!   [`ZoneConfig::with_mcp_resource`] before starting, or at runtime with
//!   [`crate::Zone::set_mcp_resource`] (or `POST /admin/mcp-resource`) once the MCP server knows
//!   its port.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::secret::SecretString;

/// The default zone, embedded so the binary runs with no flags and no files.
pub const DEFAULT_ZONE_TOML: &str = include_str!("../../fixtures/zone.toml");

/// Errors reading or validating a zone configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read zone config {path}: {source}")]
    Read {
        /// The path that was read.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("invalid zone config: {0}")]
    Parse(#[from] toml::de::Error),
    /// The configuration parsed but is inconsistent.
    #[error("invalid zone config: {0}")]
    Invalid(String),
}

/// A whole zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Issuer override (an origin, no trailing slash). `None`: `http://<bound address>`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The demo upstream API base URL, also the upstream resource identifier.
    #[serde(default = "default_upstream_url")]
    pub upstream_url: String,
    /// The second demo upstream API (a calendar) base URL, also its resource identifier.
    #[serde(default = "default_calendar_url")]
    pub calendar_url: String,
    /// The MCP server's resource identifier (`{mcp}`).
    #[serde(default = "default_mcp_resource")]
    pub mcp_resource: String,
    /// Accept any `http://127.0.0.1:*` / `http://localhost:*` resource at `/authorize` and the
    /// token endpoint (tokens for MCP servers whose URL the zone was not told). Exchanges still
    /// require the exact resource an application provides.
    #[serde(default)]
    pub accept_loopback_resources: bool,
    /// Token and code lifetimes.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// Signing keys and rotation.
    #[serde(default)]
    pub keys: KeysConfig,
    /// Resources (audiences) this zone issues tokens for.
    #[serde(default)]
    pub resources: Vec<ResourceConfig>,
    /// Fixture users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Applications (OAuth clients): MCP servers, MCP clients.
    #[serde(default)]
    pub applications: Vec<ApplicationConfig>,
    /// Other zones whose upstream tokens the demo upstream accepts.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Faults injected from the start.
    #[serde(default)]
    pub faults: Faults,
    /// How many audit events are kept (oldest dropped first).
    #[serde(default = "default_audit_capacity")]
    pub audit_capacity: usize,
}

/// Lifetimes, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifetimes {
    /// Access tokens from `authorization_code`, `refresh_token`, `client_credentials`, `/dev/token`.
    pub access_token_secs: u64,
    /// Upstream tokens from token exchange.
    pub upstream_token_secs: u64,
    /// Refresh tokens.
    pub refresh_token_secs: u64,
    /// Authorization codes.
    pub authorization_code_secs: u64,
    /// Largest allowed `exp - now` of a `private_key_jwt` client assertion.
    pub max_assertion_lifetime_secs: u64,
    /// Clock leeway applied to `exp`/`nbf` checks.
    pub leeway_secs: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token_secs: 3600,
            upstream_token_secs: 900,
            refresh_token_secs: 30 * 24 * 3600,
            authorization_code_secs: 120,
            max_assertion_lifetime_secs: 300,
            leeway_secs: 0,
        }
    }
}

/// Signing keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// How long a rotated-out key stays published (milliseconds).
    pub grace_ms: u64,
    /// PEM files (PKCS#8 or PKCS#1 RSA) forming the rotation pool, first = initial key.
    /// Empty: the embedded `fixtures/keys/zone-{1,2,3}.pem`. These sign every access token
    /// (RS256, like Keycard's).
    pub pool: Vec<String>,
    /// How the upstream tokens issued by token exchange are signed (default `ES256`).
    pub upstream_alg: UpstreamAlg,
    /// With `upstream_alg = "ES256"`: a PKCS#8 P-256 PEM file. `None`: the embedded
    /// `fixtures/keys/upstream-es256.pem`.
    pub upstream_key: Option<String>,
    /// MOCK/test option (default off): give the zone a second, ES256 access-token key (a
    /// P-256 key generated when the zone starts), published in the JWKS after the other
    /// keys, so `mint` with `key = "es256"` can sign MCP access tokens far cheaper than
    /// RS256 (the emulator's 1,000,000-subject memory-bound replay). Tokens the zone issues
    /// itself (authorization code, refresh, client credentials) stay RS256, as Keycard's are.
    pub access_es256: bool,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            grace_ms: 300_000,
            pool: Vec::new(),
            upstream_alg: UpstreamAlg::default(),
            upstream_key: None,
            access_es256: false,
        }
    }
}

/// The signature of the upstream tokens a zone issues in exchanges (`[keys] upstream_alg`).
///
/// Upstream tokens are only verified by the zone's own demo upstream and by the upstreams of
/// zones that trust it as a peer (`trust_peer`, `[[peers]]`), never by the MCP server, so
/// they can use a cheaper signature than the RS256 access tokens: ES256 signs ~20x faster than
/// RSA-2048 in pure Rust. The ES256 key is published in the JWKS with its own `kid`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamAlg {
    /// ECDSA P-256 with the zone's upstream key (the default).
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// RSA with the zone's current access-token key (rotates with it).
    #[serde(rename = "RS256")]
    Rs256,
}

/// A resource (token audience).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Resource identifier (URL), placeholders allowed.
    pub identifier: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Scopes this resource defines.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A fixture user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Subject identifier (any string, adversarial ones included).
    pub sub: String,
    /// Profile returned by the demo upstream.
    pub profile: Profile,
    /// Upstream resources this user has consented to (placeholders allowed).
    #[serde(default)]
    pub consents: Vec<String>,
}

/// A GitHub-like profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Login name.
    pub login: String,
    /// Numeric id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// An application (OAuth client).
///
/// Authentication: `client_secret` (basic or post), `jwks_uri` (`private_key_jwt`, web
/// identity; `client_id` is then the MCP server's resource URL), or neither (a public client
/// using PKCE, `token_endpoint_auth_method=none`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    /// Client id, placeholders allowed.
    pub client_id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Client secret (confidential clients).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// JWKS URL for `private_key_jwt` (web identity).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The resource this application provides (its subject tokens' audience).
    #[serde(default)]
    pub provides: Option<String>,
    /// Upstream resources it may exchange tokens for.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Registered redirect URIs. Loopback URIs match on any port (RFC 8252 §7.3); an empty
    /// list accepts any loopback redirect URI (mock leniency for native MCP clients).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// A peer zone whose upstream tokens the demo upstream accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's issuer.
    pub issuer: String,
    /// The peer's JWKS URL.
    pub jwks_uri: String,
}

fn default_upstream_url() -> String {
    "{issuer}/upstream/github".to_owned()
}

fn default_calendar_url() -> String {
    "{issuer}/upstream/calendar".to_owned()
}

fn default_mcp_resource() -> String {
    "http://127.0.0.1:8787".to_owned()
}

fn default_audit_capacity() -> usize {
    1_000_000
}

impl Default for ZoneConfig {
    /// The embedded default zone (`fixtures/zone.toml`).
    fn default() -> Self {
        // The embedded file is checked by a unit test; a broken build-time fixture is a bug.
        match Self::from_toml_str(DEFAULT_ZONE_TOML) {
            Ok(config) => config,
            Err(e) => panic!("embedded fixtures/zone.toml is invalid: {e}"),
        }
    }
}

impl ZoneConfig {
    /// Parses and validates a TOML zone.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a TOML zone file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Sets the MCP server's resource identifier (`{mcp}`).
    pub fn with_mcp_resource(mut self, url: impl Into<String>) -> Self {
        self.mcp_resource = url.into();
        self
    }

    /// Overrides the issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the upstream resource identifier / base URL, e.g. another zone's
    /// [`crate::MockKeycard::upstream_url`] so two zones share one upstream.
    pub fn with_upstream_url(mut self, url: impl Into<String>) -> Self {
        self.upstream_url = url.into();
        self
    }

    /// Sets the calendar upstream's resource identifier / base URL, e.g. another zone's
    /// [`crate::MockKeycard::calendar_url`] so two zones share one calendar.
    pub fn with_calendar_url(mut self, url: impl Into<String>) -> Self {
        self.calendar_url = url.into();
        self
    }

    /// Sets the faults injected from the start.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Sets how long rotated-out keys stay published.
    pub fn with_key_grace(mut self, grace: std::time::Duration) -> Self {
        self.keys.grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut subs = HashSet::new();
        for user in &self.users {
            if !subs.insert(user.sub.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate user sub {:?}",
                    user.sub
                )));
            }
        }
        let mut ids = HashSet::new();
        for app in &self.applications {
            if !ids.insert(app.client_id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate application client_id {:?}",
                    app.client_id
                )));
            }
            if app.client_secret.is_some() && app.jwks_uri.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "application {:?}: client_secret and jwks_uri are exclusive",
                    app.client_id
                )));
            }
        }
        let mut resources = HashSet::new();
        for resource in &self.resources {
            if !resources.insert(resource.identifier.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate resource {:?}",
                    resource.identifier
                )));
            }
        }
        self.faults
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(())
    }
}

/// Placeholder values.
#[derive(Debug, Clone)]
pub(crate) struct Vars {
    pub issuer: String,
    pub upstream: String,
    pub calendar: String,
    pub mcp: String,
}

impl Vars {
    /// Resolves the issuer, upstream and MCP URLs of `config` given the default issuer.
    pub(crate) fn new(config: &ZoneConfig, default_issuer: &str, mcp: &str) -> Self {
        let issuer = trim_slash(config.issuer.as_deref().unwrap_or(default_issuer)).to_owned();
        let upstream = trim_slash(&config.upstream_url.replace("{issuer}", &issuer)).to_owned();
        let calendar = trim_slash(&config.calendar_url.replace("{issuer}", &issuer)).to_owned();
        let mcp = trim_slash(
            &mcp.replace("{issuer}", &issuer)
                .replace("{upstream}", &upstream)
                .replace("{calendar}", &calendar),
        )
        .to_owned();
        Self {
            issuer,
            upstream,
            calendar,
            mcp,
        }
    }

    /// Substitutes `{issuer}`, `{upstream}`, `{calendar}` and `{mcp}` in `value`.
    pub(crate) fn resolve(&self, value: &str) -> String {
        value
            .replace("{issuer}", &self.issuer)
            .replace("{upstream}", &self.upstream)
            .replace("{calendar}", &self.calendar)
            .replace("{mcp}", &self.mcp)
    }

    /// Substitutes placeholders in a resource identifier and drops a trailing slash.
    pub(crate) fn resource(&self, value: &str) -> String {
        canonical_resource(&self.resolve(value))
    }
}

/// A resource identifier without a trailing slash (`http://a/` and `http://a` are one resource).
pub(crate) fn canonical_resource(value: &str) -> String {
    trim_slash(value).to_owned()
}

fn trim_slash(value: &str) -> &str {
    value.strip_suffix('/').unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_zone_parses_with_adversarial_users() {
        let config = ZoneConfig::from_toml_str(DEFAULT_ZONE_TOML).expect("default zone");
        assert!(config.users.len() >= 5);
        assert!(config.users.iter().any(|u| u.sub.contains("::")));
        assert!(config.users.iter().any(|u| u.sub.contains('/')));
        assert!(config.users.iter().any(|u| !u.sub.is_ascii()));
        assert!(config.users.iter().any(|u| u.consents.is_empty()));
        assert!(
            config
                .applications
                .iter()
                .any(|a| a.client_id == "mcp-worker")
        );
        assert!(config.applications.iter().any(|a| a.jwks_uri.is_some()));
    }

    #[test]
    fn placeholders_resolve_in_order() {
        let config = ZoneConfig::default();
        let vars = Vars::new(&config, "http://127.0.0.1:9/", "http://127.0.0.1:7/");
        assert_eq!(vars.issuer, "http://127.0.0.1:9");
        assert_eq!(vars.upstream, "http://127.0.0.1:9/upstream/github");
        assert_eq!(vars.calendar, "http://127.0.0.1:9/upstream/calendar");
        assert_eq!(vars.mcp, "http://127.0.0.1:7");
        assert_eq!(
            vars.resolve("{mcp}/.well-known/jwks.json"),
            "http://127.0.0.1:7/.well-known/jwks.json"
        );
    }

    #[test]
    fn rejects_duplicates_and_unknown_fields() {
        let dup = "[[users]]\nsub='a'\nprofile={login='a',id=1,name='A',email='a@x'}\n[[users]]\nsub='a'\nprofile={login='a',id=1,name='A',email='a@x'}\n";
        assert!(matches!(
            ZoneConfig::from_toml_str(dup),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            ZoneConfig::from_toml_str("nope = 1"),
            Err(ConfigError::Parse(_))
        ));
    }
}
