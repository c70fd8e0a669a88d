//! OAuth metadata this server publishes.
//!
//! * RFC 9728 protected-resource metadata (PRM), served at
//!   `/.well-known/oauth-protected-resource` and the path-suffixed
//!   `/.well-known/oauth-protected-resource/mcp`: `resource`, `authorization_servers`,
//!   `scopes_supported`, `resource_name`, `bearer_methods_supported`.
//! * 2025-03-26 compatibility: clients of that revision look for the authorization
//!   server's metadata on the MCP server's own origin. When a request says
//!   `MCP-Protocol-Version: 2025-03-26`, `authorization_servers` names this server's origin,
//!   which serves `/.well-known/oauth-authorization-server` by proxying the issuer's
//!   RFC 8414 document with `?resource=<resource id>` added to `authorization_endpoint`.
//!   The proxied document's `issuer` is this origin, so the chain PRM → metadata is
//!   self-consistent (RFC 8414 §3.3: the issuer must be the URL the metadata was fetched
//!   from); the endpoints stay the zone's. Access tokens still carry the zone's `iss`,
//!   which a client never checks (they are opaque to it). The zone's authorization
//!   response may carry `iss` = the zone (RFC 9207); the proxy drops
//!   `authorization_response_iss_parameter_supported`, and the clients of this revision
//!   (it predates RFC 9728) do not check that parameter.
//! * [`resource_metadata_url`]: the URL put in `WWW-Authenticate` challenges.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use serde_json::{Value, json};

use crate::config::Config;
use crate::http::response;
use crate::oauth::discovery::Discovery;

/// The path of the root PRM document.
pub const PRM_PATH: &str = "/.well-known/oauth-protected-resource";
/// The path-suffixed PRM document for the `/mcp` endpoint.
pub const PRM_MCP_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// The authorization-server metadata path (proxied for 2025-03-26 clients).
pub const AS_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The protocol revision whose clients need the compatibility rewrite.
pub const LEGACY_AUTH_REVISION: &str = "2025-03-26";

/// The `resource_metadata` URL advertised in challenges for the server at `origin`.
pub fn resource_metadata_url(origin: &str) -> String {
    format!("{}{PRM_MCP_PATH}", origin.trim_end_matches('/'))
}

/// The `resource_metadata` URL advertised in challenges for `zone` (`None`: the classic
/// single zone, [`resource_metadata_url`]) at `origin`: the RFC 9728 path-inserted
/// `/.well-known/oauth-protected-resource/{zone}/mcp`.
///
/// ```
/// use keycard_core::oauth::metadata::zone_resource_metadata_url;
/// assert_eq!(
///     zone_resource_metadata_url("https://mcp.example", Some("acme")),
///     "https://mcp.example/.well-known/oauth-protected-resource/acme/mcp"
/// );
/// ```
pub fn zone_resource_metadata_url(origin: &str, zone: Option<&str>) -> String {
    match zone {
        None => resource_metadata_url(origin),
        Some(zone) => format!("{}{PRM_PATH}/{zone}/mcp", origin.trim_end_matches('/')),
    }
}

/// Whether the request comes from a 2025-03-26 client (`MCP-Protocol-Version`).
pub fn is_legacy_auth_client(headers: &HeaderMap) -> bool {
    headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == LEGACY_AUTH_REVISION)
}

/// The RFC 9728 document. `as_origin` replaces the issuer in `authorization_servers`
/// (the 2025-03-26 compatibility rewrite); `None` names the issuer.
pub fn protected_resource_metadata(
    config: &Config,
    resource_id: &str,
    as_origin: Option<&str>,
) -> Value {
    let authorization_server = as_origin.map_or_else(|| config.issuer.clone(), str::to_owned);
    json!({
        "resource": resource_id,
        "authorization_servers": [authorization_server],
        "scopes_supported": config.scopes_supported,
        "resource_name": config.resource_name,
        "bearer_methods_supported": ["header"],
    })
}

/// The PRM response for a request with `headers` at `origin`.
pub fn protected_resource_response(
    config: &Config,
    resource_id: &str,
    origin: &str,
    headers: &HeaderMap,
) -> Response<Bytes> {
    let legacy = is_legacy_auth_client(headers);
    let doc = protected_resource_metadata(config, resource_id, legacy.then_some(origin));
    let mut response = response::ok_json(&doc);
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    // The body depends on this header, so shared caches must key on it.
    h.insert(
        header::VARY,
        HeaderValue::from_static("MCP-Protocol-Version"),
    );
    response
}

/// Adds `resource=<resource_id>` to `authorization_endpoint` in an RFC 8414 document,
/// keeping its existing query. A missing or unparsable endpoint is left as it is.
pub fn with_resource_parameter(mut raw: Value, resource_id: &str) -> Value {
    if let Some(endpoint) = raw.get("authorization_endpoint").and_then(Value::as_str)
        && let Ok(mut url) = url::Url::parse(endpoint)
    {
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "resource")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("resource", resource_id);
        raw["authorization_endpoint"] = Value::String(url.to_string());
    }
    raw
}

/// The proxied RFC 8414 document of the configured issuer, as served at `origin`, or 502
/// when it is down (see the module docs for the compatibility rewrite).
pub async fn authorization_server_response(
    config: &Config,
    discovery: &Discovery,
    resource_id: &str,
    origin: Option<&str>,
) -> Response<Bytes> {
    match discovery.metadata(&config.issuer).await {
        Ok(metadata) => {
            let mut doc = with_resource_parameter(metadata.raw.clone(), resource_id);
            if let (Some(origin), Value::Object(map)) = (origin, &mut doc) {
                map.insert("issuer".into(), Value::String(origin.to_owned()));
                map.remove("authorization_response_iss_parameter_supported");
            }
            let mut response = response::ok_json(&doc);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(e) => {
            tracing::warn!(issuer = %config.issuer, error = %e, "authorization server metadata proxy failed");
            let reason = match &e {
                crate::oauth::discovery::DiscoveryError::Unavailable(m)
                | crate::oauth::discovery::DiscoveryError::Invalid(m) => m,
            };
            response::bad_gateway(&format!(
                "the authorization server metadata of {} could not be fetched: {reason}",
                config.issuer
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_env(|k| {
            match k {
                "KEYCARD_ISSUER" => Some("https://zone.keycard.cloud"),
                "KEYCARD_RESOURCE_URL" => Some("https://api.github.com"),
                "KEYCARD_CLIENT_ID" => Some("id"),
                "KEYCARD_CLIENT_SECRET" => Some("secret"),
                "KEYCARD_SCOPES_SUPPORTED" => Some("mcp:tools profile"),
                "KEYCARD_RESOURCE_NAME" => Some("Test MCP Server"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap()
    }

    fn headers(version: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = version {
            h.insert("mcp-protocol-version", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn body(response: &Response<Bytes>) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn prm_current_era() {
        let r = protected_resource_response(
            &config(),
            "https://mcp.example.com",
            "https://mcp.example.com",
            &headers(Some("2025-06-18")),
        );
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::VARY], "MCP-Protocol-Version");
        let doc = body(&r);
        assert_eq!(
            doc,
            body(&protected_resource_response(
                &config(),
                "https://mcp.example.com",
                "https://mcp.example.com",
                &headers(None)
            ))
        );
        insta::assert_json_snapshot!("prm_current", doc);
    }

    #[test]
    fn prm_2025_03_26_names_our_origin() {
        let r = protected_resource_response(
            &config(),
            "https://mcp.example.com",
            "https://mcp.example.com",
            &headers(Some("2025-03-26")),
        );
        let doc = body(&r);
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!(["https://mcp.example.com"])
        );
        insta::assert_json_snapshot!("prm_2025_03_26", doc);
    }

    #[test]
    fn resource_parameter_is_added_and_encoded() {
        let raw = serde_json::json!({
            "issuer": "https://zone.keycard.cloud",
            "authorization_endpoint": "https://zone.keycard.cloud/oauth/authorize?prompt=consent&resource=old",
        });
        let out = with_resource_parameter(raw, "https://mcp.example.com:8443");
        assert_eq!(
            out["authorization_endpoint"],
            "https://zone.keycard.cloud/oauth/authorize?prompt=consent&resource=https%3A%2F%2Fmcp.example.com%3A8443"
        );
        let untouched =
            with_resource_parameter(serde_json::json!({"authorization_endpoint": 5}), "x");
        assert_eq!(untouched["authorization_endpoint"], 5);
    }

    #[test]
    fn challenge_url() {
        assert_eq!(
            resource_metadata_url("https://mcp.example.com"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
