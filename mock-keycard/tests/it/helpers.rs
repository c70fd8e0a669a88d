//! Shared helpers: a zone on a fixed issuer for `oneshot` tests, request builders, token mints.

use axum::body::Body;
use base64::Engine as _;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use mock_keycard::{Audience, MintRequest, Zone, ZoneConfig, app};
use serde_json::Value;
use tower::ServiceExt as _;

/// The issuer of `oneshot` zones.
pub const ISSUER: &str = "http://127.0.0.1:8788";
/// The MCP resource of `oneshot` zones (the default zone's).
pub const MCP: &str = "http://127.0.0.1:8787";
/// The upstream resource of `oneshot` zones.
pub const UPSTREAM: &str = "http://127.0.0.1:8788/upstream/github";
/// The calendar upstream resource of `oneshot` zones.
pub const CALENDAR: &str = "http://127.0.0.1:8788/upstream/calendar";

pub fn zone() -> Zone {
    Zone::new(ZoneConfig::default(), ISSUER).expect("default zone")
}

/// A response, body collected.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call(zone: &Zone, request: Request<Body>) -> Reply {
    let response = app(zone.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

pub fn json_post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// `POST path` with a form body and optional Basic credentials.
pub fn form(path: &str, pairs: &[(&str, &str)], basic_auth: Option<(&str, &str)>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic_auth {
        builder = builder.header(header::AUTHORIZATION, basic(id, secret));
    }
    let body = serde_urlencoded::to_string(pairs).expect("form");
    builder.body(Body::from(body)).expect("request")
}

/// A user's access token for the MCP resource, as an MCP client would hold it.
pub fn user_token(zone: &Zone, sub: &str) -> String {
    zone.mint(MintRequest {
        sub: Some(sub.to_owned()),
        client_id: Some("mcp-client-a".to_owned()),
        audience: Some(Audience::One(zone.mcp_resource())),
        ..MintRequest::default()
    })
    .expect("mint")
    .access_token
}

/// Form pairs of an RFC 8693 exchange.
pub fn exchange_pairs<'a>(subject: &'a str, resource: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", mock_keycard::TOKEN_EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", mock_keycard::ACCESS_TOKEN_TYPE),
        ("resource", resource),
    ]
}

/// The claims of a JWT (not verified).
pub fn claims(token: &str) -> Value {
    let decoded = mock_keycard::jwt::decode(token).expect("decodable token");
    Value::Object(decoded.claims.0)
}

/// Replaces every `127.0.0.1:<port>` with `127.0.0.1:[port]`.
pub fn normalise_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "[port]" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// The MCP Worker's client credentials in the default zone (for `form`'s Basic auth).
pub const WORKER: Option<(&str, &str)> = Some(("mcp-worker", "mcp-worker-secret"));

/// An upstream token: `sub`'s zone token exchanged by the Worker for [`UPSTREAM`].
pub async fn exchanged(zone: &Zone, sub: &str) -> String {
    let subject = user_token(zone, sub);
    let reply = call(
        zone,
        form("/token", &exchange_pairs(&subject, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}
