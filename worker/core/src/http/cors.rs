//! CORS for every path: browsers (MCP Inspector, web clients) must be able to read the
//! `WWW-Authenticate` challenge and the MCP headers.
//!
//! The preflight advertises what the server accepts: `POST` and `DELETE` (ending a
//! session; 405 when sessions are off) on `/mcp` (no `GET` stream: 405) and `GET` on the
//! metadata paths; request headers `Authorization`, `Content-Type`, `Accept` and the MCP
//! headers this server reads, `Mcp-Session-Id` included (no `Last-Event-ID`: there are
//! no resumable streams). `Mcp-Session-Id` is also exposed, so a browser client can
//! read the id `initialize` issues.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};

/// Request headers a browser may send (the preflight's `Access-Control-Allow-Headers`).
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id";
/// Response headers a browser may read.
pub const EXPOSE_HEADERS: &str = "WWW-Authenticate, MCP-Protocol-Version, Mcp-Session-Id";
/// Methods of `/mcp`.
pub const MCP_METHODS: &str = "POST, DELETE, OPTIONS";
/// Methods of every other path (metadata, JWKS, health).
pub const OTHER_METHODS: &str = "GET, OPTIONS";

/// Adds the CORS response headers. Credentials travel in `Authorization`, never in
/// cookies, so `*` is safe here; `/mcp` still validates `Origin` itself.
pub fn apply_cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

/// The answer to an `OPTIONS` preflight: the methods the path accepts (`mcp`: it is an
/// MCP endpoint, `/mcp` or a zone's `/{zone}/mcp`).
pub fn preflight(mcp: bool) -> Response<Bytes> {
    let mut response = crate::http::response::no_content();
    let h = response.headers_mut();
    let methods = if mcp { MCP_METHODS } else { OTHER_METHODS };
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(methods),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    response
}
