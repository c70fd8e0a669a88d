//! CORS for every path: browsers (MCP Inspector, web clients) must be able to read the
//! `WWW-Authenticate` challenge and the MCP headers.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID";
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Adds the CORS response headers. Credentials travel in `Authorization`, never in
/// cookies, so `*` is safe here; `/mcp` still validates `Origin` itself.
pub fn apply_cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

/// The answer to an `OPTIONS` preflight on any path.
pub fn preflight() -> Response<Bytes> {
    let mut response = crate::http::response::no_content();
    let h = response.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    response
}
