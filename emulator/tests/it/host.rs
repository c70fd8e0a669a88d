//! The axum front, driven with `oneshot` (no socket).

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mock_keycard::MintRequest;
use tower::ServiceExt;

use crate::helpers::{ORIGIN, in_process_host, in_process_host_with, tool_call};

async fn body_json(response: axum::response::Response) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_through_an_isolate() {
    let (state, _zone) = in_process_host(2);
    let response = emulator::host::app(state)
        .oneshot(
            Request::get("/health")
                .header(header::HOST, "emu.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_without_token_is_challenged_with_resource_metadata() {
    let (state, _zone) = in_process_host(1);
    let response = emulator::host::app(state)
        .oneshot(
            Request::post("/mcp")
                .header(header::HOST, "emu.test")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(tool_call("whoami")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains(&format!(
                "resource_metadata=\"{ORIGIN}/.well-known/oauth-protected-resource"
            )),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_before_any_isolate() {
    let (state, _zone) = in_process_host(1);
    let response = emulator::host::app(state)
        .oneshot(
            Request::post("/mcp")
                .header(header::HOST, "emu.test")
                .body(Body::from(vec![b'x'; 65 * 1024]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_with_a_zone_token_reports_the_caller() {
    let (state, zone) = in_process_host(1);
    let token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let response = emulator::host::app(state)
        .oneshot(
            Request::post("/mcp")
                .header(header::HOST, "emu.test")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header(header::CONTENT_TYPE, "application/json")
                .header("mcp-protocol-version", "2025-11-25")
                .body(Body::from(tool_call("whoami")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(
        body["result"]["structuredContent"]["subject"], "alice",
        "{body}"
    );
    assert_eq!(
        body["result"]["structuredContent"]["issuer"],
        "http://zone.test"
    );
}

/// A tool's log message reaches the client while the tool still runs: the SSE answer is
/// streamed through the isolate and axum, not buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_stream_through_the_host_while_the_call_runs() {
    use keycard_core::tools::{LogLevel, NoArgs, Tool, ToolContext, ToolError};
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let opened = gate.clone();
    let (state, zone) = in_process_host_with(1, move || {
        let gate = gate.clone();
        keycard_core::Server::new("gated", "1.0.0").tool(Tool::new("gated").handler(
            move |ctx: ToolContext, _: NoArgs| {
                let gate = gate.clone();
                async move {
                    ctx.log(LogLevel::Info, "waiting at the gate");
                    gate.notified().await;
                    Ok::<_, ToolError>("through")
                }
            },
        ))
    });
    let token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let response = emulator::host::app(state)
        .oneshot(
            Request::post("/mcp")
                .header(header::HOST, "emu.test")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header(header::CONTENT_TYPE, "application/json")
                .header("mcp-protocol-version", "2025-11-25")
                .body(Body::from(tool_call("gated")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
        .await
        .expect("the first event arrives while the tool waits")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(first.contains("waiting at the gate"), "{first}");
    assert!(!first.contains("result"), "{first}");
    opened.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    let rest = String::from_utf8(rest.to_vec()).unwrap();
    assert!(
        rest.contains(r#""result""#) && rest.contains("through"),
        "{rest}"
    );
}
