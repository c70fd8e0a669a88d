//! Acting for the caller upstream: where the upstream token is exchanged and cached.
//!
//! A tool never sees the user's bearer token nor the exchanged upstream token. It hands an
//! upstream request to its context (`ctx.upstream("name").fetch(request)`, see
//! [`crate::tools::ToolContext`]), which lands in [`UpstreamAccess::fetch`]: it obtains a
//! token for the verified caller from the isolate-safe [`cache`] (an RFC 8693
//! [`exchange`] at the STS on a miss, authenticated with the server's [`credentials`]),
//! attaches it, sends the request and, if the upstream answers 401, drops the cached token
//! and retries once with a fresh exchange.

pub mod cache;
pub mod consent;
pub mod credentials;
pub mod exchange;
pub mod pem;
pub mod upstream;

pub use upstream::UpstreamAccess;

/// Why a delegated upstream call could not be made. Messages are safe to show to the
/// user: they never contain a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationError {
    /// The caller's token has no `sub`: there is no user to act for.
    #[error("this tool acts on a user's behalf, but the access token has no subject (`sub`)")]
    NoSubject,
    /// No upstream of that name is configured.
    #[error(
        "no upstream named {name:?} is configured (configured: {configured}); add it to KEYCARD_UPSTREAMS"
    )]
    UnknownUpstream {
        /// The name asked for.
        name: String,
        /// The configured names, comma separated.
        configured: String,
    },
    /// The request is not addressed to (or under) the upstream's base URL.
    #[error("the request is not addressed to the {upstream:?} upstream API ({base})")]
    OutsideUpstream {
        /// The upstream's name.
        upstream: String,
        /// Its base URL.
        base: String,
    },
    /// A test identity (`Identity::for_tests`, feature `testing`) reached the real delegation.
    #[error("a test identity cannot be exchanged for an upstream token")]
    TestIdentity,
    /// The STS refused the exchange with an RFC 6749 §5.2 error.
    #[error("Keycard refused the token exchange ({error}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The OAuth error code (`invalid_grant`, `invalid_target`, …).
        error: String,
        /// The STS's `error_description`, if any.
        description: Option<String>,
    },
    /// The STS refused the exchange because the user has not granted this upstream (see
    /// [`consent`]): `url` is the zone's consent page for this user, application and
    /// resource. Answered with URL-mode elicitation to clients that support it.
    #[error("the user has not granted access to {resource}; consent at {url}")]
    ConsentRequired {
        /// The upstream's resource URL.
        resource: String,
        /// The consent page (from `KEYCARD_CONSENT_URL`); never pre-authenticated.
        url: String,
        /// A stable opaque id for the URL-mode elicitation.
        elicitation_id: String,
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
