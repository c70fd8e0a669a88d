//! HTTP-level rules of Streamable HTTP that need no identity, and response builders.
//!
//! | check | answer |
//! |---|---|
//! | method other than `POST` (`GET`, `DELETE`, …) | 405, `Allow: POST, OPTIONS` (no SSE stream, no sessions) |
//! | `Origin` present and not allowed (DNS rebinding) | 403 |
//! | `Content-Length` or body over the limit | 413 (the header is checked first, before the body is read) |
//! | `Accept` present without `application/json`, `application/*` or `*/*` | 406 |
//! | `Content-Type` present and not `application/json` | 415 |
//!
//! Allowed origins: the request's own origin (a browser page served by this Worker) and
//! every entry of `KEYCARD_ALLOWED_ORIGINS` (`*` allows any). Requests without `Origin`
//! (non-browser clients) are always allowed. Error bodies are JSON-RPC error responses
//! without an `id`, as the transport pages allow.

use bytes::Bytes;
use http::{Method, Request, header};

use crate::config::Config;

/// Why the transport refused a request before reading the JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Only `POST` carries messages: this server offers no SSE stream and no sessions.
    #[error(
        "method {0} is not allowed on the MCP endpoint: use POST (this server has no SSE stream and no sessions)"
    )]
    MethodNotAllowed(String),
    /// A browser origin that is not allowed (DNS-rebinding protection).
    #[error("origin {0:?} is not allowed to call this MCP server")]
    ForbiddenOrigin(String),
    /// The client does not accept JSON.
    #[error(
        "the Accept header must include application/json: this server answers with JSON, not SSE"
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
}

/// Runs every identity-free check, in order: method, origin, size, accept, content type.
pub fn check(config: &Config, request: &Request<Bytes>) -> Result<(), TransportError> {
    if request.method() != Method::POST {
        return Err(TransportError::MethodNotAllowed(
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<non-ASCII>");
        if !origin_allowed(config, request, origin) {
            return Err(TransportError::ForbiddenOrigin(truncate(origin, 200)));
        }
    }
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
    if request.body().len() > limit {
        return Err(TransportError::PayloadTooLarge { limit });
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
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(TransportError::UnsupportedMediaType);
        }
    }
    Ok(())
}

/// Whether `Accept` admits `application/json`. No `Accept` header means anything.
fn accepts_json(request: &Request<Bytes>) -> bool {
    let mut values = request.headers().get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
        })
}

/// The request's own origin (`scheme://host[:port]`, lowercased), from its absolute URI.
fn own_origin(request: &Request<Bytes>) -> Option<String> {
    let uri = request.uri();
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    Some(normalize_origin(&format!("{scheme}://{authority}")))
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

fn origin_allowed(config: &Config, request: &Request<Bytes>, origin: &str) -> bool {
    let origin = normalize_origin(origin);
    if origin == "null" && !config.allowed_origins.iter().any(|o| o.trim() == "null") {
        return false;
    }
    if own_origin(request).is_some_and(|own| own == origin) {
        return true;
    }
    // Without an absolute URI, compare against the Host header (any scheme).
    if request.uri().authority().is_none()
        && let Some(host) = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    {
        let host = host.trim().to_ascii_lowercase();
        if origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host)
        {
            return true;
        }
    }
    config
        .allowed_origins
        .iter()
        .any(|allowed| allowed.trim() == "*" || normalize_origin(allowed) == origin)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
