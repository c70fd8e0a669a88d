//! MOCK FEATURES: the admin API (rotation, faults, consent, MCP resource), the audit views and
//! the dev token mint. None of this exists on a real Keycard zone.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditFilter, Outcome};
use crate::faults::Faults;
use crate::html::{escape, page};
use crate::mint::MintRequest;
use crate::zone::Zone;

/// A JSON error for the admin API.
fn bad_request(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": message.to_string() })),
    )
        .into_response()
}

/// Parses a JSON body (empty: the default); the error is the message for [`bad_request`].
fn parse<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    grace_ms: Option<u64>,
}

/// `POST /admin/rotate` (optional body `{"grace_ms": N}`).
pub(crate) async fn rotate(State(zone): State<Zone>, body: Bytes) -> Response {
    let request: RotateRequest = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    if let Some(grace) = request.grace_ms {
        zone.set_key_grace(std::time::Duration::from_millis(grace));
    }
    Json(zone.rotate_key()).into_response()
}

/// `GET /admin/faults`.
pub(crate) async fn get_faults(State(zone): State<Zone>) -> Response {
    Json(zone.faults()).into_response()
}

/// `POST /admin/faults` (a [`Faults`] JSON document, replacing the current one).
pub(crate) async fn set_faults(State(zone): State<Zone>, body: Bytes) -> Response {
    let faults: Faults = match parse(&body) {
        Ok(f) => f,
        Err(message) => return bad_request(message),
    };
    match zone.set_faults(faults) {
        Ok(()) => Json(zone.faults()).into_response(),
        Err(e) => bad_request(e),
    }
}

/// `DELETE /admin/faults`.
pub(crate) async fn clear_faults(State(zone): State<Zone>) -> Response {
    zone.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    sub: String,
    resource: Option<String>,
    granted: bool,
}

/// `POST /admin/consent` `{"sub": "...", "resource": "<default: upstream>", "granted": false}`.
pub(crate) async fn consent(State(zone): State<Zone>, body: Bytes) -> Response {
    let request: ConsentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid JSON body: {e}")),
    };
    let resource = request.resource.unwrap_or_else(|| zone.upstream_url());
    let known = if request.granted {
        zone.grant_consent(&request.sub, &resource)
    } else {
        zone.revoke_consent(&request.sub, &resource)
    };
    if !known {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "error_description": "unknown user" })),
        )
            .into_response();
    }
    Json(json!({ "sub": request.sub, "resource": resource, "granted": request.granted }))
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct McpResourceRequest {
    url: String,
}

/// `POST /admin/mcp-resource` `{"url": "http://127.0.0.1:8787"}`.
pub(crate) async fn mcp_resource(State(zone): State<Zone>, body: Bytes) -> Response {
    let request: McpResourceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid JSON body: {e}")),
    };
    if url::Url::parse(&request.url).is_err() {
        return bad_request("url is not a URL");
    }
    zone.set_mcp_resource(&request.url);
    Json(json!({ "mcp_resource": zone.mcp_resource() })).into_response()
}

/// `GET /admin/users`.
pub(crate) async fn users(State(zone): State<Zone>) -> Response {
    Json(zone.users()).into_response()
}

/// MOCK FEATURE `POST /dev/token`: a [`MintRequest`] JSON document → a signed token.
pub(crate) async fn dev_token(State(zone): State<Zone>, body: Bytes) -> Response {
    let request: MintRequest = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    match zone.mint(request) {
        Ok(minted) => {
            tracing::info!(jti = %minted.jti, "dev token minted (mock feature)");
            let mut response = Json(minted).into_response();
            response.headers_mut().insert(
                "x-mock-keycard",
                HeaderValue::from_static("dev-mint; not a Keycard feature"),
            );
            response
        }
        Err(e) => bad_request(e),
    }
}

fn filter(params: &HashMap<String, String>) -> Result<AuditFilter, String> {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let outcome = match get("outcome").as_deref() {
        None => None,
        Some("issued") => Some(Outcome::Issued),
        Some("refused") => Some(Outcome::Refused),
        Some(other) => {
            return Err(format!("outcome must be issued or refused, not {other:?}"));
        }
    };
    Ok(AuditFilter {
        sub: get("sub"),
        client_id: get("client_id"),
        outcome,
        jti: get("jti"),
        resource: get("resource"),
    })
}

/// `GET /audit?sub=&client_id=&outcome=&jti=&resource=`.
pub(crate) async fn audit(
    State(zone): State<Zone>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match filter(&params) {
        Ok(f) => Json(zone.audit_query(&f)).into_response(),
        Err(message) => bad_request(message),
    }
}

/// `GET /audit.html` (same filters).
pub(crate) async fn audit_html(
    State(zone): State<Zone>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let f = match filter(&params) {
        Ok(f) => f,
        Err(message) => return bad_request(message),
    };
    let cell = |v: &Option<String>| escape(v.as_deref().unwrap_or("—"));
    let rows: String = zone
        .audit_query(&f)
        .iter()
        .rev()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.seq,
                e.time,
                e.outcome,
                cell(&e.grant_type),
                cell(&e.user),
                cell(&e.application),
                cell(&e.original_client),
                cell(&e.resource),
                cell(&e.jti),
                cell(&e.reason),
            )
        })
        .collect();
    let body = format!(
        "<table><tr><th>#</th><th>time</th><th>outcome</th><th>grant</th><th>user</th>\
         <th>application</th><th>original client</th><th>resource</th><th>jti</th><th>reason</th></tr>{rows}</table>"
    );
    Html(page("credentials:issue audit log", &body)).into_response()
}
