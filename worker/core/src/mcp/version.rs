//! Protocol versions, the two eras, and the header rules that pick one per request.
//!
//! This server is *dual-era* (see the 2026-07-28 "Versioning and Compatibility" page):
//!
//! * **Legacy** (2025-03-26, 2025-06-18, 2025-11-25): an `initialize` handshake negotiates
//!   the version; later requests carry it in `MCP-Protocol-Version`. A missing header means
//!   2025-03-26 (the revision that had no header).
//! * **Modern** (2026-07-28): no handshake; every request carries its version and client
//!   capabilities in `params._meta`, mirrored into the `MCP-Protocol-Version`, `Mcp-Method`
//!   and (for `tools/call`, `prompts/get`, `resources/read`) `Mcp-Name` headers, which
//!   must agree with the body.
//!
//! [`resolve`] applies those rules to one message and returns the version to answer in,
//! or the JSON-RPC error the spec prescribes (-32022 unsupported version, -32020 header
//! mismatch, -32602 missing `_meta`, -32601 for handshake methods in the modern era).

use base64::Engine as _;
use http::HeaderMap;
use serde_json::{Map, Value};

use super::jsonrpc::RpcError;

/// `MCP-Protocol-Version` request header.
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Mcp-Method` request header (2026-07-28).
pub const HEADER_METHOD: &str = "mcp-method";
/// `Mcp-Name` request header (2026-07-28): `params.name` of `tools/call` and
/// `prompts/get`, `params.uri` of `resources/read`.
pub const HEADER_NAME: &str = "mcp-name";
/// `_meta` key carrying the request's protocol version (2026-07-28).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client's capabilities (2026-07-28).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key carrying the server's identity in modern results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// A protocol revision this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2025-03-26: the first Streamable HTTP revision (no version header, no titles,
    /// no structured tool output).
    V2025_03_26,
    /// 2025-06-18: `title`, `outputSchema` / `structuredContent`; batching removed.
    V2025_06_18,
    /// 2025-11-25: the last handshake-based revision.
    V2025_11_25,
    /// 2026-07-28: stateless, per-request `_meta`.
    V2026_07_28,
}

/// Which family of revisions a version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`-based revisions.
    Legacy,
    /// Per-request-metadata revisions.
    Modern,
}

impl ProtocolVersion {
    /// Every supported version, newest first (the order of `supportedVersions`).
    pub const SUPPORTED: [Self; 4] = [
        Self::V2026_07_28,
        Self::V2025_11_25,
        Self::V2025_06_18,
        Self::V2025_03_26,
    ];

    /// The version `initialize` answers with when the client's is not supported.
    pub const LATEST_LEGACY: Self = Self::V2025_11_25;

    /// The version assumed when a legacy request has no `MCP-Protocol-Version` header.
    pub const DEFAULT_LEGACY: Self = Self::V2025_03_26;

    /// Parses a version string; `None` when it is not one this server supports.
    pub fn parse(value: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == value)
    }

    /// The wire form, e.g. `"2025-11-25"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// The era this version belongs to.
    pub fn era(self) -> Era {
        match self {
            Self::V2026_07_28 => Era::Modern,
            _ => Era::Legacy,
        }
    }

    /// Whether tool definitions and `serverInfo` may carry `title`, tools an
    /// `outputSchema`, and tool results `structuredContent` (added in 2025-06-18).
    pub fn has_structured_tools(self) -> bool {
        self >= Self::V2025_06_18
    }

    /// Whether `title` fields, `resource_link` content and `annotations.lastModified`
    /// exist (added in 2025-06-18).
    pub fn has_titles(self) -> bool {
        self >= Self::V2025_06_18
    }

    /// All supported versions as strings, newest first.
    pub fn supported_strings() -> Vec<&'static str> {
        Self::SUPPORTED.iter().map(|v| v.as_str()).collect()
    }
}

/// The version the `MCP-Protocol-Version` header names ([`ProtocolVersion::DEFAULT_LEGACY`]
/// without one); -32022 when it is not supported.
pub fn header_version(headers: &HeaderMap) -> Result<ProtocolVersion, RpcError> {
    match header_text(headers, HEADER_PROTOCOL_VERSION)? {
        None => Ok(ProtocolVersion::DEFAULT_LEGACY),
        Some(value) => ProtocolVersion::parse(value).ok_or_else(|| RpcError::UnsupportedVersion {
            requested: value.to_owned(),
        }),
    }
}

/// Decides the version a message is answered in, applying every header rule.
///
/// `is_request` is false for notifications: the modern revision defines no header
/// requirements for them, so only the version header itself is checked.
pub fn resolve(
    headers: &HeaderMap,
    method: &str,
    params: Option<&Map<String, Value>>,
    is_request: bool,
) -> Result<ProtocolVersion, RpcError> {
    let header = header_text(headers, HEADER_PROTOCOL_VERSION)?;
    let meta = params.and_then(|p| p.get("_meta"));
    let meta = match meta {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            return Err(RpcError::InvalidParams(
                "params._meta must be an object".into(),
            ));
        }
    };
    let meta_version = match meta.and_then(|m| m.get(META_PROTOCOL_VERSION)) {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(RpcError::InvalidParams(format!(
                "params._meta[\"{META_PROTOCOL_VERSION}\"] must be a string"
            )));
        }
    };

    let version = match header {
        None => {
            if let Some(declared) = meta_version {
                return Err(RpcError::HeaderMismatch(format!(
                    "the MCP-Protocol-Version header is required: the request's _meta declares protocol version {declared:?}"
                )));
            }
            ProtocolVersion::DEFAULT_LEGACY
        }
        Some(value) => {
            let version =
                ProtocolVersion::parse(value).ok_or_else(|| RpcError::UnsupportedVersion {
                    requested: value.to_owned(),
                })?;
            if let Some(declared) = meta_version
                && declared != value
            {
                return Err(RpcError::HeaderMismatch(format!(
                    "MCP-Protocol-Version header value {value:?} does not match body value {declared:?}"
                )));
            }
            version
        }
    };

    let modern_request = version.era() == Era::Modern && is_request;
    if modern_request && matches!(method, "initialize" | "ping") {
        return Err(RpcError::MethodNotFound(format!(
            "{method} is not part of protocol version {}; this server supports {} (legacy clients: omit the 2026-07-28 MCP-Protocol-Version header)",
            version.as_str(),
            ProtocolVersion::supported_strings().join(", ")
        )));
    }
    check_method_headers(headers, method, params, modern_request)?;

    if modern_request {
        if meta_version.is_none() {
            return Err(RpcError::InvalidParams(format!(
                "params._meta[\"{META_PROTOCOL_VERSION}\"] is required in protocol version {}",
                version.as_str()
            )));
        }
        match meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)) {
            Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(RpcError::InvalidParams(format!(
                    "params._meta[\"{META_CLIENT_CAPABILITIES}\"] must be an object"
                )));
            }
            None => {
                return Err(RpcError::InvalidParams(format!(
                    "params._meta[\"{META_CLIENT_CAPABILITIES}\"] is required in protocol version {}",
                    version.as_str()
                )));
            }
        }
    }
    Ok(version)
}

/// `Mcp-Method` / `Mcp-Name`: required when `required`, and whenever present they must
/// match the body (a router trusting the header must never see a different operation
/// executed).
fn check_method_headers(
    headers: &HeaderMap,
    method: &str,
    params: Option<&Map<String, Value>>,
    required: bool,
) -> Result<(), RpcError> {
    match header_text(headers, HEADER_METHOD)? {
        None if required => {
            return Err(RpcError::HeaderMismatch(format!(
                "the Mcp-Method header is required (expected {method:?})"
            )));
        }
        None => {}
        Some(value) if value != method => {
            return Err(RpcError::HeaderMismatch(format!(
                "Mcp-Method header value {value:?} does not match body value {method:?}"
            )));
        }
        Some(_) => {}
    }
    // The parameter `Mcp-Name` mirrors, per method.
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return Ok(()),
    };
    let body_name = params.and_then(|p| p.get(key));
    let not_a_string = || {
        RpcError::InvalidParams(if method == "tools/call" {
            "params.name must be a string naming the tool".into()
        } else {
            format!("params.{key} must be a string")
        })
    };
    match header_text(headers, HEADER_NAME)? {
        None if required => Err(RpcError::HeaderMismatch(format!(
            "the Mcp-Name header is required for {method}"
        ))),
        None => Ok(()),
        Some(raw) => {
            let value = decode_header_value(raw)?;
            match body_name {
                Some(Value::String(name)) if *name == value => Ok(()),
                Some(Value::String(name)) => Err(RpcError::HeaderMismatch(format!(
                    "Mcp-Name header value {value:?} does not match body value {name:?}"
                ))),
                _ => Err(not_a_string()),
            }
        }
    }
}

/// A header as text; a value that is not visible ASCII is a malformed header (-32020).
fn header_text<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, RpcError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(RpcError::HeaderMismatch(format!(
            "the {name} header must appear at most once"
        )));
    }
    match first {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            RpcError::HeaderMismatch(format!("the {name} header contains invalid characters"))
        }),
    }
}

/// Decodes the `=?base64?…?=` sentinel form of `Mcp-Name` / `Mcp-Param-*` values.
pub fn decode_header_value(raw: &str) -> Result<String, RpcError> {
    let Some(encoded) = raw
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(raw.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| RpcError::HeaderMismatch("Mcp-Name header has invalid base64".into()))?;
    String::from_utf8(bytes)
        .map_err(|_| RpcError::HeaderMismatch("Mcp-Name header decodes to invalid UTF-8".into()))
}
