//! The verified caller: what a bearer token proved, handed to tools.

use crate::secret::SecretString;

/// A caller whose bearer token passed every check (signature, issuer, expiry, audience,
/// scopes). Sealed: outside this crate it can only be read, never built or altered, and
/// the bearer token it was proven by is not reachable at all — it is kept only as the
/// RFC 8693 `subject_token` of the caller's own delegated calls.
///
/// ```
/// # fn show(identity: &keycard_core::Identity) {
/// let who = identity.subject().unwrap_or("a service client");
/// println!("{who} via {} from {}", identity.client_id(), identity.issuer());
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub(crate) issuer: String,
    pub(crate) subject: Option<String>,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) audience: Vec<String>,
    /// The resource identifier this token was verified for (one of `audience`): the
    /// audience the STS checks on the exchange, so part of the token cache's key.
    pub(crate) resource: String,
    pub(crate) expires_at: u64,
    pub(crate) issued_at: Option<u64>,
    pub(crate) token_id: Option<String>,
    pub(crate) token: SecretString,
    /// Built by [`Identity::for_tests`]: never exchanged (the production delegation
    /// refuses it), so a test identity cannot reach a real token cache.
    pub(crate) test_only: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("expires_at", &self.expires_at)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Feeds who this is — issuer, subject and client, each length-prefixed, and whether
    /// there is a subject — into `hash`: the principal that owns a call
    /// ([`crate::mcp::cancel`]) or a session ([`crate::session::owner_of`]). Nothing
    /// secret goes in.
    pub(crate) fn hash_principal(&self, hash: &mut sha2::Sha256) {
        use sha2::Digest as _;
        for part in [
            self.issuer.as_str(),
            self.subject.as_deref().unwrap_or(""),
            self.client_id.as_str(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.update([u8::from(self.subject.is_some())]);
    }

    /// `iss`: the zone that issued the token (one of the trusted issuers).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `sub`: the user; `None` for tokens without a subject (service clients), which
    /// delegated calls refuse.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `client_id`: the MCP client the user signed in through.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Granted scopes (from `scope`, a string or an array).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `aud`, as an array.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// This server's resource identifier the token was verified for.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// `iat`, if present.
    pub fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }

    /// `jti`, if present.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Identity {
    /// An identity for unit tests of tools (feature `testing`): `subject` signed in at
    /// `issuer` through `client_id`, with scope `mcp:tools`. It carries no bearer token, and
    /// the production delegation refuses it — a test identity can never be exchanged or
    /// reach a real token cache. Use it with [`crate::tools::ToolContext::for_tests`].
    pub fn for_tests(issuer: &str, subject: Option<&str>, client_id: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            subject: subject.map(str::to_owned),
            client_id: client_id.to_owned(),
            scopes: vec!["mcp:tools".into()],
            audience: vec!["https://mcp.test".into()],
            resource: "https://mcp.test".into(),
            expires_at: 4_102_444_800,
            issued_at: None,
            token_id: None,
            token: SecretString::new(String::new()),
            test_only: true,
        }
    }

    /// The same identity with `scopes` granted instead.
    #[must_use]
    pub fn with_scopes<I: Into<String>>(mut self, scopes: impl IntoIterator<Item = I>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}
