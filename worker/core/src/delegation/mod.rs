//! Delegated upstream access, as tools see it.
//!
//! A tool never sees the user's bearer token nor the exchanged upstream token. It hands
//! an upstream request to [`Delegated::fetch`], which obtains a token for the caller
//! (RFC 8693 exchange through the isolate-safe cache), attaches it, sends the request
//! and, if the upstream answers 401, drops the cached token and retries once with a
//! fresh exchange.

pub mod cache;
pub mod credentials;
pub mod exchange;
pub mod pem;
pub mod upstream;

pub use upstream::UpstreamAccess;

use bytes::Bytes;

use crate::auth::identity::Identity;
use crate::ports::BoxFuture;

/// Why a delegated upstream call could not be made. Messages are safe to show to the
/// user: they never contain a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// The caller's token has no `sub`: there is no user to act for.
    #[error("this tool acts on a user's behalf, but the access token has no subject (`sub`)")]
    NoSubject,
    /// The STS refused the exchange with an RFC 6749 §5.2 error.
    #[error("Keycard refused the token exchange ({error}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The OAuth error code (`invalid_grant`, `invalid_target`, …).
        error: String,
        /// The STS's `error_description`, if any.
        description: Option<String>,
    },
    /// The STS could not be reached or answered with something other than a token or an
    /// OAuth error (5xx, 429, non-JSON, timeout).
    #[error("Keycard token exchange is unavailable: {0}")]
    Unavailable(String),
    /// The upstream API could not be reached or timed out.
    #[error("upstream API call failed: {0}")]
    Upstream(String),
}

/// The handle tools use to call the upstream API on the caller's behalf.
pub trait Delegated: Send + Sync {
    /// The upstream API's base URL (`KEYCARD_RESOURCE_URL`), no trailing slash.
    fn upstream_url(&self) -> &str;

    /// Sends `request` (absolute URI under the upstream) with a delegated token for
    /// `identity` in its `Authorization` header. Returns the upstream's response, whatever
    /// its status, after at most one retry on 401.
    fn fetch<'a>(
        &'a self,
        identity: &'a Identity,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'a, Result<http::Response<Bytes>, DelegationError>>;
}
