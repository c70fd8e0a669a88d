//! HTTP-level rules of Streamable HTTP that need no identity, and response builders.
//!
//! | check | answer |
//! |---|---|
//! | method other than `POST` (`GET`, `DELETE`, …) | 405, `Allow: POST, OPTIONS` (no standalone SSE stream; `DELETE` of a session is routed before these checks when sessions are on) |
//! | a [`SINGLETON_HEADERS`] header sent more than once | 400 |
//! | `Origin` present and not allowed (DNS rebinding) | 403 |
//! | `Content-Length` or body over the limit | 413 (the header before authentication and before the body is read; a body over the limit without `Content-Length` after authentication) |
//! | `Accept` present without `application/json`, `application/*` or `*/*` | 406 |
//! | `Content-Type` present and not `application/json` | 415 |
//!
//! Allowed origins: this server's own origins and every entry of
//! `KEYCARD_ALLOWED_ORIGINS` (`*` allows any). Its own origins are the configured ones —
//! `KEYCARD_PUBLIC_ORIGINS` when set, else the request URI's origin (the routed URL, which
//! is trustworthy on Workers) — plus the origin of `KEYCARD_RESOURCE_ID` when set. The
//! `Host` header is never consulted: under DNS rebinding a hostile page sends `Host` and
//! `Origin` both naming its own domain. `Origin: null` is refused unless listed.
//! Requests without `Origin` (non-browser clients) are always allowed. Error bodies are JSON-RPC error responses
//! without an `id`, as the transport pages allow.

use bytes::Bytes;
use http::{Method, Request, header};

use crate::config::Config;

/// Why the transport refused a request before reading the JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Only `POST` carries messages (and `DELETE` ends a session, when sessions are on).
    #[error(
        "method {0} is not allowed on the MCP endpoint: use POST (this server offers no standalone SSE stream; DELETE ends a session only when sessions are on)"
    )]
    MethodNotAllowed(String),
    /// A browser origin that is not allowed (DNS-rebinding protection).
    #[error("origin {0:?} is not allowed to call this MCP server")]
    ForbiddenOrigin(String),
    /// The client does not accept JSON (every answer may be JSON; only a call that
    /// notifies is answered with `text/event-stream`).
    #[error(
        "the Accept header must include application/json (add text/event-stream to receive a call's notifications)"
    )]
    NotAcceptable,
    /// The body (or its announced length) exceeds the limit.
    #[error("the request body exceeds the {limit}-byte limit")]
    PayloadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// `Content-Length` is not a number.
    #[error("the Content-Length header is not a valid length")]
    BadContentLength,
    /// The body is declared as something other than JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// A header that must appear at most once appeared more than once: an intermediary
    /// reading another copy (the last, or the comma-joined value) than the one the server
    /// reads would see a different version, method or tool than the one that runs.
    #[error("the {0} header must appear at most once")]
    DuplicateHeader(&'static str),
}

/// Headers this server reads as single values, with their canonical spelling. Each must
/// appear at most once (`Authorization` is checked by [`crate::auth::bearer`], with its
/// own 400).
pub const SINGLETON_HEADERS: [&str; 7] = [
    "MCP-Protocol-Version",
    "Mcp-Method",
    "Mcp-Name",
    "Origin",
    "Host",
    "Content-Type",
    "Content-Length",
];

/// [`SINGLETON_HEADERS`] as header names, in the same order (parsed once, not per
/// request).
static SINGLETON_NAMES: [http::HeaderName; 7] = [
    http::HeaderName::from_static("mcp-protocol-version"),
    http::HeaderName::from_static("mcp-method"),
    http::HeaderName::from_static("mcp-name"),
    header::ORIGIN,
    header::HOST,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
];

/// The first of [`SINGLETON_HEADERS`] that `headers` carries more than once.
pub fn duplicate_singleton(headers: &http::HeaderMap) -> Option<&'static str> {
    SINGLETON_NAMES
        .iter()
        .zip(SINGLETON_HEADERS)
        .find(|(name, _)| headers.get_all(*name).iter().nth(1).is_some())
        .map(|(_, spelled)| spelled)
}

/// Runs every identity-free check, in order: method, origin, size, accept, content type.
pub fn check(config: &Config, request: &Request<Bytes>) -> Result<(), TransportError> {
    check_head(config, request)?;
    check_body(config, request.body())
}

/// The `Origin` rule alone (DNS-rebinding protection), for requests other than `POST`
/// (a session's `DELETE`).
pub fn check_origin<B>(config: &Config, request: &Request<B>) -> Result<(), TransportError> {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<non-ASCII>");
        if !origin_allowed(config, request, origin) {
            return Err(TransportError::ForbiddenOrigin(truncate(origin, 200)));
        }
    }
    Ok(())
}

/// [`check`] without the body: everything decided by the request head (the announced
/// `Content-Length` included). The gateway runs it before authentication, and the
/// body's own size after (so a request that is refused from its head alone is refused
/// the same way whether or not its body was read).
pub fn check_head<B>(config: &Config, request: &Request<B>) -> Result<(), TransportError> {
    if request.method() != Method::POST {
        return Err(TransportError::MethodNotAllowed(
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(name) = duplicate_singleton(request.headers()) {
        return Err(TransportError::DuplicateHeader(name));
    }
    check_origin(config, request)?;
    let limit = config.limits.max_body_bytes;
    if let Some(length) = request.headers().get(header::CONTENT_LENGTH) {
        let length: u64 = length
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(TransportError::BadContentLength)?;
        if length > limit as u64 {
            return Err(TransportError::PayloadTooLarge { limit });
        }
    }
    if !accepts_json(request) {
        return Err(TransportError::NotAcceptable);
    }
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(TransportError::UnsupportedMediaType);
        }
    }
    Ok(())
}

/// The body's own size (a body sent without `Content-Length`, or longer than announced).
pub fn check_body(config: &Config, body: &[u8]) -> Result<(), TransportError> {
    let limit = config.limits.max_body_bytes;
    if body.len() > limit {
        return Err(TransportError::PayloadTooLarge { limit });
    }
    Ok(())
}

/// Whether `Accept` admits `application/json`. No `Accept` header means anything.
fn accepts_json<B>(request: &Request<B>) -> bool {
    if request.headers().get(header::ACCEPT).is_none() {
        return true;
    }
    accepts(
        request.headers(),
        &["application/json", "application/*", "*/*"],
    )
}

/// Whether `Accept` names `text/event-stream` (explicitly, with a non-zero quality): the
/// client can take an SSE answer. Wildcards do not count; no `Accept` header means JSON.
pub fn accepts_event_stream(headers: &http::HeaderMap) -> bool {
    accepts(headers, &["text/event-stream"])
}

/// Whether one of the `Accept` ranges is one of `media` with a non-zero quality.
fn accepts(headers: &http::HeaderMap, wanted: &[&str]) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused && wanted.iter().any(|w| w.eq_ignore_ascii_case(media_type))
        })
}

fn normalize_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    // Drop default ports so `https://a.example:443` equals `https://a.example`.
    if let Some(stripped) = origin
        .strip_suffix(":443")
        .filter(|_| origin.starts_with("https://"))
    {
        return stripped.to_owned();
    }
    if let Some(stripped) = origin
        .strip_suffix(":80")
        .filter(|_| origin.starts_with("http://"))
    {
        return stripped.to_owned();
    }
    origin
}

fn origin_allowed<B>(config: &Config, request: &Request<B>, origin: &str) -> bool {
    let origin = normalize_origin(origin);
    if origin == "null" && !config.allowed_origins.iter().any(|o| o.trim() == "null") {
        return false;
    }
    if own_origins(config, request).any(|own| own == origin) {
        return true;
    }
    config
        .allowed_origins
        .iter()
        .any(|allowed| allowed.trim() == "*" || normalize_origin(allowed) == origin)
}

/// This server's own origins (canonical): `KEYCARD_PUBLIC_ORIGINS` when set, else the
/// request URI's origin; plus `KEYCARD_RESOURCE_ID`'s origin. Never the `Host` header.
fn own_origins<'a, B>(
    config: &'a Config,
    request: &Request<B>,
) -> impl Iterator<Item = String> + 'a {
    let routed = if config.public_origins.is_empty() {
        crate::http::resource::uri_origin(request.uri())
    } else {
        None
    };
    let configured = config
        .resource_id
        .as_deref()
        .and_then(crate::http::resource::origin_of);
    config
        .public_origins
        .iter()
        .cloned()
        .chain(routed)
        .chain(configured)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singleton_names_are_the_singleton_headers() {
        assert_eq!(SINGLETON_NAMES.len(), SINGLETON_HEADERS.len());
        for (name, spelled) in SINGLETON_NAMES.iter().zip(SINGLETON_HEADERS) {
            assert_eq!(name.as_str(), spelled.to_ascii_lowercase());
        }
    }
}
