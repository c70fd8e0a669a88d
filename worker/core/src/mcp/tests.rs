//! Drives `Endpoint::precheck` + `handle` with hand-built requests, a fixed identity and
//! the real delegation over a scripted zone and upstream (`FakeWorld`).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};

use super::Endpoint;
use crate::auth::identity::Identity;
use crate::config::UpstreamConfig;
use crate::config::{CacheConfig, Config, Credential, JwksConfig, Limits};
use crate::delegation::UpstreamAccess;
use crate::oauth::discovery::Discovery;
use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
use crate::ports::{HttpError, Ports};
use crate::secret::SecretString;
use crate::server::Server;

const BEARER: &str = "eyJhbGciOiJSUzI1NiJ9.SECRET-BEARER-TOKEN.c2lnbmF0dXJl";
const URL: &str = "https://mcp.example.com/mcp";

// ---------------------------------------------------------------- fixtures

fn config() -> Config {
    Config {
        zone: None,
        issuer: "https://zone.keycard.test".into(),
        trusted_issuers: vec!["https://zone.keycard.test".into()],
        resource_id: None,
        public_origins: Vec::new(),
        upstreams: vec![UpstreamConfig {
            name: "default".into(),
            url: "https://api.github.test".into(),
            scopes: Vec::new(),
        }],
        credential: Credential::ClientSecret {
            client_id: "worker".into(),
            client_secret: SecretString::from("client-secret-value"),
        },
        resource_name: "Test MCP".into(),
        scopes_supported: vec!["mcp:tools".into()],
        required_scopes: vec!["mcp:tools".into()],
        allowed_origins: vec!["https://app.example".into()],
        limits: Limits {
            max_body_bytes: 4096,
            ..Limits::default()
        },
        jwks: JwksConfig::default(),
        cache: CacheConfig::default(),
        inflight: crate::config::Inflight::default(),
        consent_url: None,
    }
}

fn server() -> Endpoint {
    Endpoint::new(Arc::new(config()), Server::demo())
}

const ZONE: &str = "https://zone.keycard.test";

/// The zone's STS (issuing `up-<n>`, or refusing) and the upstream (answering one canned
/// response), scripted; the delegation in front of them is the real one.
struct FakeWorld {
    http: Arc<ScriptedHttp>,
    access: UpstreamAccess,
}

impl FakeWorld {
    fn new(
        sts: impl Fn(usize) -> http::Response<Bytes> + Send + Sync + 'static,
        upstream: Option<(u16, &'static str)>,
    ) -> Self {
        let exchanges = std::sync::atomic::AtomicUsize::new(0);
        let http = ScriptedHttp::new(move |req| {
            let uri = req.uri().to_string();
            if uri == format!("{ZONE}/.well-known/oauth-authorization-server") {
                Ok(json_response(
                    200,
                    json!({ "issuer": ZONE, "jwks_uri": format!("{ZONE}/jwks"), "token_endpoint": format!("{ZONE}/token") }),
                ))
            } else if uri == format!("{ZONE}/token") {
                Ok(sts(exchanges
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    + 1))
            } else if uri.starts_with("https://api.github.test") {
                let (status, body) = upstream.unwrap_or((404, r#"{"message":"Not Found"}"#));
                let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
                *r.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok(r)
            } else {
                Err(HttpError::Connect(format!("no route to {uri}")))
            }
        });
        let ports = Ports {
            clock: Arc::new(SharedManualClock(ManualClock::new(1_700_000_000_000))),
            http: http.clone(),
            crypto: Arc::new(crate::delegation::credentials::tests::FakeCrypto::default()),
        };
        let config = Arc::new(config());
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let access = UpstreamAccess::new(config, ports, discovery).unwrap();
        Self { http, access }
    }

    fn issuing(n: usize) -> http::Response<Bytes> {
        json_response(
            200,
            json!({ "access_token": format!("up-{n}"), "expires_in": 3600 }),
        )
    }

    fn quiet() -> Self {
        Self::new(Self::issuing, None)
    }

    fn answering(status: u16, body: &'static str) -> Self {
        Self::new(Self::issuing, Some((status, body)))
    }

    fn refusing(error: &'static str, description: String) -> Self {
        Self::new(
            move |_| {
                json_response(
                    400,
                    json!({ "error": error, "error_description": description }),
                )
            },
            None,
        )
    }

    fn upstream_requests(&self) -> Vec<Request<Bytes>> {
        self.http
            .requests()
            .into_iter()
            .filter(|r| r.uri().to_string().starts_with("https://api.github.test"))
            .collect()
    }
}

fn identity() -> Identity {
    Identity {
        issuer: "https://zone.keycard.test".into(),
        subject: Some("user-alice".into()),
        client_id: "cursor".into(),
        scopes: vec!["mcp:tools".into(), "profile".into()],
        audience: vec!["https://mcp.example.com".into()],
        expires_at: 1_700_000_000,
        issued_at: Some(1_699_996_400),
        token_id: Some("jti-1".into()),
        token: SecretString::from(BEARER),
        resource: "https://mcp.example.com".into(),
        test_only: false,
    }
}

// ---------------------------------------------------------------- request builders

fn raw(method: Method, body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(URL);
    b = b
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    let mut req = b.body(body.into()).unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    req
}

fn post(body: Value, headers: &[(&str, &str)]) -> Request<Bytes> {
    raw(Method::POST, body.to_string(), headers)
}

/// A legacy-era request, with `MCP-Protocol-Version: version` when given.
fn legacy(method: &str, params: Value, version: Option<&str>) -> Request<Bytes> {
    let headers: Vec<(&str, &str)> = version
        .map(|v| vec![("mcp-protocol-version", v)])
        .unwrap_or_default();
    post(
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        &headers,
    )
}

fn modern_params(mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test-client", "version": "1.0.0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    params
}

/// A well-formed 2026-07-28 request (headers mirror the body).
fn modern(method: &str, params: Value) -> Request<Bytes> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body =
        json!({"jsonrpc": "2.0", "id": "req-1", "method": method, "params": modern_params(params)});
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28".to_owned()),
        ("mcp-method", method.to_owned()),
    ];
    if let Some(n) = name {
        headers.push(("mcp-name", n));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(body, &headers)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn send_with(server: &Endpoint, req: Request<Bytes>, world: &FakeWorld) -> Answer {
    // The gateway's order: precheck, (bearer verification), handle.
    let response = match server.precheck(&req) {
        Some(early) => early,
        None => {
            let (parts, body) = server
                .handle(&req, identity(), world.access.clone())
                .await
                .into_parts();
            http::Response::from_parts(parts, body.collect().await)
        }
    };
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn send(req: Request<Bytes>) -> Answer {
    send_with(&server(), req, &FakeWorld::quiet()).await
}

fn error_code(answer: &Answer) -> i64 {
    answer.json()["error"]["code"].as_i64().unwrap_or(0)
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn get_and_delete_are_405_with_allow() {
    for method in [Method::GET, Method::DELETE, Method::PUT] {
        let a = send(raw(method.clone(), "", &[])).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(a.headers["allow"], "POST, OPTIONS");
        assert_eq!(a.headers["content-type"], "application/json");
    }
    insta::assert_json_snapshot!("error_405", send(raw(Method::GET, "", &[])).await.json());
}

#[tokio::test]
async fn origin_is_validated() {
    let ping = || json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let a = send(post(ping(), &[("origin", "https://evil.example")])).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    insta::assert_json_snapshot!("error_403_origin", a.json());
    assert_eq!(
        send(post(ping(), &[("origin", "null")])).await.status,
        StatusCode::FORBIDDEN
    );
    // Configured origin, the request's own origin (any case, default port), and no origin.
    for ok in [
        "https://app.example",
        "https://MCP.example.com",
        "https://mcp.example.com:443",
    ] {
        assert_eq!(
            send(post(ping(), &[("origin", ok)])).await.status,
            StatusCode::OK,
            "{ok}"
        );
    }
    assert_eq!(send(post(ping(), &[])).await.status, StatusCode::OK);
    // Same host, other scheme or port: not the same origin.
    let a = send(post(ping(), &[("origin", "http://mcp.example.com")])).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_host_header_never_vouches_for_an_origin() {
    // DNS rebinding: a page on evil.example resolved to this server sends Host and
    // Origin both naming evil.example. Without an absolute URI the Host header used to
    // count as this server's own origin.
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for host in ["evil.example", "evil.example:8787", "mcp.example.com"] {
        let mut req = post(ping.clone(), &[("host", host)]);
        *req.uri_mut() = "/mcp".parse().unwrap();
        let origin = format!("http://{host}");
        req.headers_mut()
            .insert("origin", http::HeaderValue::from_str(&origin).unwrap());
        assert_eq!(send(req).await.status, StatusCode::FORBIDDEN, "{host}");
    }
}

#[tokio::test]
async fn pinned_public_origins_are_the_own_origins() {
    let mut cfg = config();
    cfg.public_origins = vec!["https://pinned.example".into()];
    let server = Endpoint::new(Arc::new(cfg), Server::demo());
    let ping = || json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let status = |origin: &'static str| {
        let server = &server;
        async move {
            send_with(
                server,
                post(ping(), &[("origin", origin)]),
                &FakeWorld::quiet(),
            )
            .await
            .status
        }
    };
    assert_eq!(status("https://pinned.example").await, StatusCode::OK);
    assert_eq!(status("https://app.example").await, StatusCode::OK);
    // The request URI's origin no longer counts once origins are pinned.
    assert_eq!(
        status("https://mcp.example.com").await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn duplicate_mcp_headers_are_refused_by_the_endpoint_itself() {
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for (name, a, b) in [
        ("mcp-protocol-version", "2025-06-18", "2025-11-25"),
        ("mcp-method", "ping", "tools/list"),
        ("mcp-name", "whoami", "github_user"),
    ] {
        let mut req = post(ping.clone(), &[(name, a)]);
        req.headers_mut()
            .append(name, http::HeaderValue::from_static(b));
        let answer = send(req).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(error_code(&answer), -32000, "{name}");
        // And the version rules on their own refuse them too (defence in depth).
        let mut headers = http::HeaderMap::new();
        headers.append(name, http::HeaderValue::from_static(a));
        headers.append(name, http::HeaderValue::from_static(b));
        let params = serde_json::Map::new();
        assert!(
            matches!(
                super::version::resolve(&headers, "tools/call", Some(&params), true),
                Err(crate::mcp::jsonrpc::RpcError::HeaderMismatch(m)) if m.contains("at most once")
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn wildcard_origin_allows_any() {
    let mut cfg = config();
    cfg.allowed_origins = vec!["*".into()];
    let server = Endpoint::new(Arc::new(cfg), Server::demo());
    let req = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[("origin", "https://x.example")],
    );
    assert_eq!(
        send_with(&server, req, &FakeWorld::quiet()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn accept_must_admit_json() {
    let ping = || json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let a = send(post(ping(), &[("accept", "text/event-stream")])).await;
    assert_eq!(a.status, StatusCode::NOT_ACCEPTABLE);
    insta::assert_json_snapshot!("error_406", a.json());
    let refused = send(post(
        ping(),
        &[("accept", "application/json;q=0, text/event-stream")],
    ))
    .await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);
    for ok in [
        "*/*",
        "application/*",
        "Application/JSON; charset=utf-8",
        "text/html, application/json;q=0.5",
    ] {
        assert_eq!(
            send(post(ping(), &[("accept", ok)])).await.status,
            StatusCode::OK,
            "{ok}"
        );
    }
    let mut no_accept = post(ping(), &[]);
    no_accept.headers_mut().remove("accept");
    assert_eq!(send(no_accept).await.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(5000)}});
    let a = send(post(big, &[])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    insta::assert_json_snapshot!("error_413", a.json());
    // Content-Length is checked before the body: a small body announcing a huge one.
    let small = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let a = send(post(small.clone(), &[("content-length", "10000000")])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let a = send(post(small, &[("content-length", "lots")])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[("content-type", "text/plain")],
    ))
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn handle_runs_the_prechecks_itself() {
    let req = raw(Method::GET, "", &[]);
    let endpoint = server();
    let r = endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn session_ids_are_never_required_nor_minted() {
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[
            ("mcp-session-id", "some-unknown-session"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.headers.get("mcp-session-id").is_none());
    let a = send(legacy(
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
        None,
    ))
    .await;
    assert!(a.headers.get("mcp-session-id").is_none());
}

// ---------------------------------------------------------------- JSON-RPC

#[tokio::test]
async fn invalid_json_is_parse_error_400() {
    let a = send(raw(Method::POST, "{\"jsonrpc\": \"2.0\", ", &[])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&a), -32700);
    assert_eq!(a.json()["id"], Value::Null);
    insta::assert_json_snapshot!("error_parse", a.json());
    let a = send(raw(Method::POST, "", &[])).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32700)
    );
    let a = send(raw(Method::POST, vec![0xff, 0xfe], &[])).await;
    assert_eq!(error_code(&a), -32700);
}

#[tokio::test]
async fn batches_are_400_after_2025_03_26() {
    let a = send(post(
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
        &[("mcp-protocol-version", "2025-06-18")],
    ))
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&a), -32600);
    insta::assert_json_snapshot!("error_batch", a.json());
}

#[tokio::test]
async fn invalid_request_objects_are_32600() {
    for body in [
        json!(42),
        json!({"id": 1, "method": "ping"}),
        json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": 1, "method": 7}),
        json!({"jsonrpc": "2.0", "id": 1}),
    ] {
        let a = send(post(body.clone(), &[])).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::BAD_REQUEST, -32600),
            "{body}"
        );
    }
    let a = send(post(
        json!({"jsonrpc": "1.0", "id": 7, "method": "ping"}),
        &[],
    ))
    .await;
    assert_eq!(a.json()["id"], 7, "the id is echoed when it could be read");
    insta::assert_json_snapshot!("error_invalid_request", a.json());
}

#[tokio::test]
async fn ids_are_echoed_verbatim() {
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": "abc-123", "method": "ping"}),
        &[],
    ))
    .await;
    assert_eq!(
        a.json(),
        json!({"jsonrpc": "2.0", "id": "abc-123", "result": {}})
    );
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": 9007199254740993u64, "method": "ping"}),
        &[],
    ))
    .await;
    assert_eq!(a.json()["id"], json!(9007199254740993u64));
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": -4, "method": "nope"}),
        &[],
    ))
    .await;
    assert_eq!(a.json()["id"], -4);
}

#[tokio::test]
async fn client_responses_and_notifications_are_202() {
    for body in [
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
        json!({"jsonrpc": "2.0", "id": 5, "error": {"code": -1, "message": "no"}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    ] {
        let a = send(post(
            body.clone(),
            &[("mcp-protocol-version", "2025-11-25")],
        ))
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{body}");
        assert!(a.body.is_empty(), "{body}");
    }
    // A notification under an unsupported version is refused, not silently accepted.
    let a = send(post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        &[("mcp-protocol-version", "1999-01-01")],
    ))
    .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32022)
    );
}

#[tokio::test]
async fn params_must_be_an_object() {
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": [1]}),
        &[],
    ))
    .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32602)
    );
    assert_eq!(a.json()["id"], 3);
}

#[test]
fn internal_errors_are_32603_and_500() {
    use super::jsonrpc::{RpcError, failure};
    use super::version::Era;
    let e = RpcError::Internal("boom".into());
    assert_eq!(
        crate::http::response::rpc_status(&e, Era::Legacy),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(failure(None, &e)["error"]["code"], -32603);
}

// ---------------------------------------------------------------- legacy era

#[tokio::test]
async fn initialize_echoes_a_supported_version() {
    let a = send(legacy(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}),
        None,
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "application/json");
    insta::assert_json_snapshot!("legacy_initialize", a.json());

    for v in ["2025-03-26", "2025-06-18"] {
        let a = send(legacy("initialize", json!({"protocolVersion": v}), None)).await;
        assert_eq!(a.json()["result"]["protocolVersion"], v);
    }
    // 2025-03-26 has no `title` in Implementation.
    let a = send(legacy(
        "initialize",
        json!({"protocolVersion": "2025-03-26"}),
        None,
    ))
    .await;
    assert!(a.json()["result"]["serverInfo"].get("title").is_none());
}

#[tokio::test]
async fn initialize_with_unknown_version_answers_latest_legacy() {
    for v in ["2024-11-05", "2026-07-28", "banana"] {
        let a = send(legacy("initialize", json!({"protocolVersion": v}), None)).await;
        assert_eq!(a.json()["result"]["protocolVersion"], "2025-11-25", "{v}");
    }
}

#[tokio::test]
async fn initialize_without_version_is_invalid_params() {
    let a = send(legacy("initialize", json!({"capabilities": {}}), None)).await;
    assert_eq!((a.status, error_code(&a)), (StatusCode::OK, -32602));
    insta::assert_json_snapshot!("error_legacy_invalid_params", a.json());
}

#[tokio::test]
async fn ping_is_empty_object() {
    let a = send(legacy("ping", json!({}), Some("2025-11-25"))).await;
    assert_eq!(a.json(), json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
}

#[tokio::test]
async fn legacy_tools_list() {
    let a = send(legacy("tools/list", json!({}), Some("2025-11-25"))).await;
    assert_eq!(a.status, StatusCode::OK);
    insta::assert_json_snapshot!("legacy_tools_list", a.json());
    // Without the header: 2025-03-26, whose Tool has no title/outputSchema.
    let a = send(legacy("tools/list", json!({}), None)).await;
    let tools = a.json()["result"]["tools"].clone();
    assert_eq!(tools.as_array().map(Vec::len), Some(2));
    assert!(tools[0].get("title").is_none() && tools[0].get("outputSchema").is_none());
    assert!(tools[0].get("inputSchema").is_some());
    // We never hand out cursors.
    let a = send(legacy(
        "tools/list",
        json!({"cursor": "x"}),
        Some("2025-11-25"),
    ))
    .await;
    assert_eq!(error_code(&a), -32602);
}

#[tokio::test]
async fn missing_version_header_means_2025_03_26() {
    // 2025-03-26 results carry no structuredContent; the JSON is in the text block.
    let a = send(legacy("tools/call", json!({"name": "whoami"}), None)).await;
    let result = &a.json()["result"];
    assert!(result.get("structuredContent").is_none(), "{result}");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["subject"], "user-alice");
}

#[tokio::test]
async fn unsupported_version_header_is_400() {
    let a = send(legacy("tools/list", json!({}), Some("2024-11-05"))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&a), -32022);
    assert_eq!(a.json()["error"]["data"]["supported"][0], "2026-07-28");
    insta::assert_json_snapshot!("error_unsupported_version", a.json());
}

#[tokio::test]
async fn legacy_tools_call_whoami() {
    let a = send(legacy(
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
        Some("2025-11-25"),
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let result = a.json()["result"].clone();
    assert_eq!(result["isError"], false);
    assert!(
        result.get("resultType").is_none(),
        "legacy results carry no resultType"
    );
    insta::assert_json_snapshot!("legacy_tools_call_whoami", result);
    assert!(!String::from_utf8_lossy(&a.body).contains("SECRET-BEARER"));
}

#[tokio::test]
async fn legacy_unknown_tool_is_an_is_error_result() {
    let a = send(legacy(
        "tools/call",
        json!({"name": "delete_everything"}),
        Some("2025-11-25"),
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let result = &a.json()["result"];
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "unknown tool `delete_everything`; available tools: whoami, github_user"
    );
}

#[tokio::test]
async fn invalid_arguments_are_an_is_error_result() {
    let a = send(legacy(
        "tools/call",
        json!({"name": "whoami", "arguments": {"verbose": true}}),
        Some("2025-11-25"),
    ))
    .await;
    let result = &a.json()["result"];
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "invalid arguments for tool `whoami`: unexpected argument `verbose`; this tool accepts no arguments"
    );
}

#[tokio::test]
async fn malformed_tools_call_params_are_32602() {
    for params in [
        json!({}),
        json!({"name": 5}),
        json!({"name": "whoami", "arguments": [1]}),
    ] {
        let a = send(legacy("tools/call", params.clone(), Some("2025-11-25"))).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::OK, -32602),
            "{params}"
        );
    }
}

#[tokio::test]
async fn legacy_unknown_methods_are_32601() {
    for method in ["resources/list", "server/discover"] {
        let a = send(legacy(method, json!({}), Some("2025-11-25"))).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::OK, -32601),
            "{method}"
        );
    }
    insta::assert_json_snapshot!(
        "error_legacy_method_not_found",
        send(legacy("resources/list", json!({}), Some("2025-11-25")))
            .await
            .json()
    );
}

#[tokio::test]
async fn method_headers_when_present_must_match_in_legacy_too() {
    let a = send(post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}),
        &[
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/list"),
        ],
    ))
    .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32020)
    );
}

// ---------------------------------------------------------------- modern era

#[tokio::test]
async fn server_discover() {
    let a = send(modern("server/discover", json!({}))).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["id"], "req-1");
    insta::assert_json_snapshot!("modern_server_discover", body);
}

#[tokio::test]
async fn modern_tools_list() {
    let a = send(modern("tools/list", json!({}))).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["cacheScope"], "public");
    assert!(body["result"]["ttlMs"].as_u64().is_some_and(|t| t > 0));
    insta::assert_json_snapshot!("modern_tools_list", body);
}

#[tokio::test]
async fn modern_tools_call_carries_result_type() {
    let a = send(modern(
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let result = &a.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["structuredContent"]["client_id"], "cursor");
}

#[tokio::test]
async fn modern_base64_mcp_name_is_decoded() {
    let mut req = modern("tools/call", json!({"name": "whoami"}));
    // "whoami" in the sentinel form.
    req.headers_mut()
        .insert("mcp-name", "=?base64?d2hvYW1p?=".parse().unwrap());
    assert_eq!(send(req).await.status, StatusCode::OK);
    let mut req = modern("tools/call", json!({"name": "whoami"}));
    req.headers_mut()
        .insert("mcp-name", "=?base64?!!!?=".parse().unwrap());
    assert_eq!(error_code(&send(req).await), -32020);
}

#[tokio::test]
async fn modern_missing_meta_is_32602_400() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let a = send(post(body, &headers)).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32602)
    );
    insta::assert_json_snapshot!("error_modern_missing_meta", a.json());

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let a = send(post(body, &headers)).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32602)
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clientCapabilities")
    );
}

#[tokio::test]
async fn modern_header_rules_are_32020_400() {
    let cases: Vec<(&str, Request<Bytes>)> = vec![
        ("missing Mcp-Method", {
            let mut r = modern("tools/list", json!({}));
            r.headers_mut().remove("mcp-method");
            r
        }),
        ("mismatched Mcp-Method", {
            let mut r = modern("tools/list", json!({}));
            r.headers_mut()
                .insert("mcp-method", "tools/call".parse().unwrap());
            r
        }),
        ("missing Mcp-Name", {
            let mut r = modern("tools/call", json!({"name": "whoami"}));
            r.headers_mut().remove("mcp-name");
            r
        }),
        ("mismatched Mcp-Name", {
            let mut r = modern("tools/call", json!({"name": "whoami"}));
            r.headers_mut()
                .insert("mcp-name", "github_user".parse().unwrap());
            r
        }),
        ("header vs _meta version", {
            let mut r = modern("tools/list", json!({}));
            r.headers_mut()
                .insert("mcp-protocol-version", "2025-11-25".parse().unwrap());
            r
        }),
        ("_meta version without header", {
            let mut r = modern("tools/list", json!({}));
            r.headers_mut().remove("mcp-protocol-version");
            r
        }),
    ];
    for (what, req) in cases {
        let a = send(req).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::BAD_REQUEST, -32020),
            "{what}: {}",
            a.json()
        );
    }
    let mut r = modern("tools/call", json!({"name": "whoami"}));
    r.headers_mut()
        .insert("mcp-name", "github_user".parse().unwrap());
    insta::assert_json_snapshot!("error_header_mismatch", send(r).await.json());
}

#[tokio::test]
async fn modern_unsupported_version_lists_supported() {
    let mut body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": modern_params(json!({}))});
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2030-01-01");
    let a = send(post(
        body,
        &[
            ("mcp-protocol-version", "2030-01-01"),
            ("mcp-method", "tools/list"),
        ],
    ))
    .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32022)
    );
    assert_eq!(
        a.json()["error"]["data"],
        json!({"supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], "requested": "2030-01-01"})
    );
}

#[tokio::test]
async fn modern_unknown_methods_are_404() {
    let a = send(modern("resources/list", json!({}))).await;
    assert_eq!((a.status, error_code(&a)), (StatusCode::NOT_FOUND, -32601));
    insta::assert_json_snapshot!("error_modern_method_not_found", a.json());
    for method in ["initialize", "ping"] {
        let a = send(modern(method, json!({"protocolVersion": "2026-07-28"}))).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::NOT_FOUND, -32601),
            "{method}"
        );
        assert!(
            a.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("2025-11-25")
        );
    }
}

#[tokio::test]
async fn modern_unknown_tool_is_32602() {
    let a = send(modern("tools/call", json!({"name": "nope"}))).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32602)
    );
    insta::assert_json_snapshot!("error_modern_unknown_tool", a.json());
}

#[tokio::test]
async fn modern_invalid_arguments_are_an_is_error_result() {
    let a = send(modern(
        "tools/call",
        json!({"name": "github_user", "arguments": {"login": 1}}),
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["result"]["isError"], true);
    assert_eq!(a.json()["result"]["resultType"], "complete");
}

// ---------------------------------------------------------------- tools through the server

#[tokio::test]
async fn github_user_through_the_server() {
    let fake = FakeWorld::answering(
        200,
        r#"{"login":"octocat","id":1,"name":"The Octocat","public_repos":8}"#,
    );
    let a = send_with(
        &server(),
        modern("tools/call", json!({"name": "github_user"})),
        &fake,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let result = a.json()["result"].clone();
    assert_eq!(result["isError"], false);
    assert_eq!(result["structuredContent"]["login"], "octocat");
    assert_eq!(
        result["content"][0]["text"],
        "Signed in to GitHub as octocat (The Octocat), 8 public repositories."
    );
    let seen = fake.upstream_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method(), Method::GET);
    assert_eq!(seen[0].uri(), "https://api.github.test/user");
    assert_eq!(seen[0].headers()["accept"], "application/json");
    assert!(
        seen[0].headers()["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("keycard-mcp-worker/")
    );
    // The delegation attached the exchanged token, never the user's bearer.
    assert_eq!(seen[0].headers()["authorization"], "Bearer up-1");
    assert_eq!(fake.http.count_matching("/token"), 1);
}

#[tokio::test]
async fn github_user_failures_never_leak_the_bearer() {
    let fake = FakeWorld::refusing(
        "invalid_grant",
        format!("subject token {BEARER} has no consent"),
    );
    let a = send_with(
        &server(),
        legacy(
            "tools/call",
            json!({"name": "github_user"}),
            Some("2025-11-25"),
        ),
        &fake,
    )
    .await;
    let text = String::from_utf8_lossy(&a.body).to_string();
    assert!(
        text.contains("You have not granted access to the \\\"default\\\" upstream in Keycard"),
        "{text}"
    );
    assert!(!text.contains("SECRET-BEARER"), "{text}");
    assert_eq!(a.json()["result"]["isError"], true);
}

/// Missing upstream consent, per era: -32042 with the consent page only to a client that
/// declares URL-mode elicitation on the request; the `isError` text otherwise.
#[tokio::test]
async fn missing_consent_is_a_url_elicitation_only_for_declaring_clients() {
    let no_consent = || {
        FakeWorld::refusing(
            "invalid_grant",
            "the user has not consented to https://api.github.test".into(),
        )
    };
    let url_caps = json!({"elicitation": {"url": {}}});
    let with_caps = |caps: &Value| json!({"name": "github_user", "_meta": {"io.modelcontextprotocol/clientCapabilities": caps}});
    let mut modern_url = modern("tools/call", json!({"name": "github_user"}));
    {
        let mut body: Value = serde_json::from_slice(modern_url.body()).unwrap();
        body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = url_caps.clone();
        *modern_url.body_mut() = Bytes::from(body.to_string());
    }
    let cases = [
        (
            "2025-11-25_url",
            legacy("tools/call", with_caps(&url_caps), Some("2025-11-25")),
        ),
        ("2026-07-28_url", modern_url),
        (
            "2025-11-25_undeclared",
            legacy(
                "tools/call",
                json!({"name": "github_user"}),
                Some("2025-11-25"),
            ),
        ),
        (
            "2025-11-25_form_only",
            legacy(
                "tools/call",
                with_caps(&json!({"elicitation": {}})),
                Some("2025-11-25"),
            ),
        ),
        (
            "2025-06-18_url",
            legacy("tools/call", with_caps(&url_caps), Some("2025-06-18")),
        ),
        (
            "2026-07-28_undeclared",
            modern("tools/call", json!({"name": "github_user"})),
        ),
    ];
    for (name, req) in cases {
        let fake = no_consent();
        let a = send_with(&server(), req, &fake).await;
        assert_eq!(a.status, StatusCode::OK, "{name}");
        let body = a.json();
        let text = body.to_string();
        assert!(!text.contains(BEARER), "{name}: {text}");
        assert!(!text.contains("up-1"), "{name}: {text}");
        if name.ends_with("_url") && !name.starts_with("2025-06-18") {
            assert_eq!(body["error"]["code"], -32042, "{name}: {text}");
            let e = &body["error"]["data"]["elicitations"][0];
            assert_eq!(e["mode"], "url");
            assert_eq!(
                e["url"],
                "https://zone.keycard.test/consent?user=user-alice&client_id=worker&resource=https%3A%2F%2Fapi.github.test"
            );
        } else {
            assert_eq!(body["result"]["isError"], true, "{name}: {text}");
            assert!(
                text.contains("open https://zone.keycard.test/consent?user=user-alice"),
                "{name}: {text}"
            );
        }
        insta::assert_json_snapshot!(format!("consent_{name}"), body);
        // One refused exchange, no upstream call.
        assert_eq!(fake.http.count_matching("/token"), 1, "{name}");
        assert!(fake.upstream_requests().is_empty(), "{name}");
    }
}

/// Other `invalid_grant` refusals (not about consent) never become an elicitation.
#[tokio::test]
async fn other_invalid_grants_stay_plain_errors() {
    let fake = FakeWorld::refusing("invalid_grant", "subject token expired".into());
    let a = send_with(
        &server(),
        legacy(
            "tools/call",
            json!({"name": "github_user", "_meta": {"io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}}}}),
            Some("2025-11-25"),
        ),
        &fake,
    )
    .await;
    assert_eq!(a.json()["result"]["isError"], true);
    assert!(!a.json().to_string().contains("/consent"));
}

// ---------------------------------------------------------------- hostile input

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Arbitrary bytes never panic the parser, and a failure is always -32700/-32600/-32602.
    #[test]
    fn parse_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        if let Err((_, e)) = super::jsonrpc::parse(&body) {
            proptest::prop_assert!(matches!(e.code(), -32700 | -32600 | -32602));
        }
    }

    /// Arbitrary method names, header values and `_meta` never panic the whole handler,
    /// and every answer is 200, 202 or a 4xx with a JSON-RPC body.
    #[test]
    fn handle_never_panics(
        method in "[a-z/_]{0,20}",
        version in proptest::option::of("[0-9a-z=?-]{0,12}"),
        mcp_method in proptest::option::of("[a-z/_]{0,20}"),
        name in proptest::option::of("[a-z_=?]{0,12}"),
        meta in proptest::option::of(proptest::prelude::any::<bool>()),
    ) {
        let mut params = json!({"name": name.clone().unwrap_or_default()});
        if let Some(with_caps) = meta {
            params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": version.clone().unwrap_or_default()});
            if with_caps {
                params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
            }
        }
        let mut headers = Vec::new();
        if let Some(v) = &version { headers.push(("mcp-protocol-version", v.as_str())); }
        if let Some(m) = &mcp_method { headers.push(("mcp-method", m.as_str())); }
        if let Some(n) = &name { headers.push(("mcp-name", n.as_str())); }
        let req = post(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}), &headers);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let a = runtime.block_on(send(req));
        proptest::prop_assert!(
            a.status == StatusCode::OK || a.status == StatusCode::ACCEPTED || a.status.is_client_error(),
            "{}", a.status
        );
        if a.status.is_client_error() {
            proptest::prop_assert!(a.json()["error"]["code"].is_i64());
        }
    }
}

#[path = "surface_tests.rs"]
mod surface;

// ---------------------------------------------------------------- notifications, SSE, cancellation

#[path = "stream_tests.rs"]
mod stream;

// ---------------------------------------------------------------- sessions, elicitation, sampling

#[path = "session_tests.rs"]
mod session;
