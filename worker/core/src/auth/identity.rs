//! The verified caller: what a bearer token proved, handed to tools.

use crate::secret::SecretString;

/// A caller whose bearer token passed every check. Built only by the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss`: the zone that issued the token (one of the trusted issuers).
    pub issuer: String,
    /// `sub`; `None` for tokens without a subject (never cached, refused by delegated tools).
    pub subject: Option<String>,
    /// `client_id`: the MCP client the user signed in through.
    pub client_id: String,
    /// Granted scopes (from `scope` as a string or an array).
    pub scopes: Vec<String>,
    /// `aud`, as an array.
    pub audience: Vec<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `iat`, if present.
    pub issued_at: Option<u64>,
    /// `jti`, if present.
    pub token_id: Option<String>,
    /// The raw bearer token, kept only as the RFC 8693 `subject_token`.
    pub token: SecretString,
}
