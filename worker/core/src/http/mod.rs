//! The HTTP face of the server: routing ([`Gateway`]), CORS, canonical resource
//! identifiers, and THE mapping from every outcome to an HTTP status and body
//! ([`response`]).

pub mod body;
pub mod cors;
pub mod gateway;
pub mod resource;
pub mod response;

pub use gateway::Gateway;

/// A response extension: this response is a pure function of the gateway's configuration
/// and the request's method, URL and `MCP-Protocol-Version` header, so a host may answer
/// a later request with the same three from a copy of it, without running the gateway.
///
/// The gateway sets it on the protected-resource metadata (RFC 9728) it serves, and on
/// nothing else: every other answer depends on more of the request (its token, its body,
/// its `Origin`) or on state that changes (the zone's discovery document, caches). A copy
/// skips the gateway's request checks, the header-size limit (431) among them, so a
/// request the gateway would refuse that way gets the copy instead; that is harmless,
/// because a copied answer parses nothing of the request.
///
/// ```
/// # use keycard_core::http::Reusable;
/// fn reusable<B>(response: &http::Response<B>) -> bool {
///     response.extensions().get::<Reusable>().is_some()
/// }
/// # let _ = reusable(&http::Response::new(()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reusable;

#[cfg(test)]
mod head_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod reusable_tests;
#[cfg(test)]
mod zones_tests;
