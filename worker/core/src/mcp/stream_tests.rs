//! Logging and progress streamed as SSE during a call, and `notifications/cancelled`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::oneshot;

use super::*;
use crate::http::body::Body;
use crate::resources::Resource;
use crate::tools::{LogLevel, NoArgs, Tool, ToolContext, ToolError};
use serde_json::json;

/// Sets its flag when dropped: proves a handler's future was dropped (stopped).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Fixture {
    endpoint: Endpoint,
    /// Opens the `gated` tool's gate.
    gate: Mutex<Option<oneshot::Sender<()>>>,
    /// Set once `forever` started, and once its future was dropped.
    started: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

fn fixture() -> Fixture {
    let (open, gate) = oneshot::channel::<()>();
    let gate = Arc::new(Mutex::new(Some(gate)));
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (s, d) = (started.clone(), dropped.clone());
    let server = Server::new("stream-test", "1.0.0")
        .resource(
            Resource::new("test://logged").handler(|ctx: ToolContext| async move {
                ctx.log(LogLevel::Notice, "reading");
                Ok::<_, ToolError>("contents")
            }),
        )
        .tool(
            Tool::new("steps").handler(|ctx: ToolContext, _: NoArgs| async move {
                ctx.log(LogLevel::Debug, "debug detail");
                ctx.log(LogLevel::Info, "starting");
                ctx.log_from("db", LogLevel::Warning, json!({ "slow": true }));
                ctx.progress(1.0, Some(3.0), Some("one"));
                ctx.progress(2.0, Some(3.0), None);
                ctx.progress(2.0, Some(3.0), None); // not increasing: dropped
                ctx.progress(3.0, Some(3.0), None);
                Ok::<_, ToolError>("done")
            }),
        )
        .tool(
            Tool::new("quiet")
                .handler(|_ctx: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>("quiet") }),
        )
        .tool(
            Tool::new("gated").handler(move |ctx: ToolContext, _: NoArgs| {
                let gate = gate.lock().unwrap().take();
                async move {
                    ctx.log(LogLevel::Info, "before the gate");
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    ctx.log(LogLevel::Info, "after the gate");
                    Ok::<_, ToolError>("through")
                }
            }),
        )
        .tool(
            Tool::new("forever").handler(move |ctx: ToolContext, _: NoArgs| {
                let (s, d) = (s.clone(), d.clone());
                async move {
                    let _flag = DropFlag(d);
                    s.store(true, Ordering::SeqCst);
                    ctx.log(LogLevel::Info, "running");
                    futures::future::pending::<()>().await;
                    Ok::<_, ToolError>("never")
                }
            }),
        );
    Fixture {
        endpoint: Endpoint::new(Arc::new(config()), server),
        gate: Mutex::new(Some(open)),
        started,
        dropped,
    }
}

fn call(tool: &str, meta: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": tool, "arguments": {}, "_meta": meta}})
}

fn legacy_call(tool: &str, meta: Value, accept: &str) -> Request<Bytes> {
    post(
        call(tool, meta),
        &[("mcp-protocol-version", "2025-11-25"), ("accept", accept)],
    )
}

fn modern_call(tool: &str, extra_meta: Value) -> Request<Bytes> {
    let mut params = modern_params(json!({"name": tool, "arguments": {}}));
    for (k, v) in extra_meta.as_object().unwrap() {
        params["_meta"][k] = v.clone();
    }
    post(
        json!({"jsonrpc": "2.0", "id": "req-1", "method": "tools/call", "params": params}),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
    )
}

const BOTH: &str = "application/json, text/event-stream";

/// The JSON messages of an SSE body (`event: message` / `data:` pairs).
fn events(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?}");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut lines = e.lines();
            assert_eq!(lines.next(), Some("event: message"), "{e:?}");
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert_eq!(lines.next(), None);
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

async fn run(f: &Fixture, req: Request<Bytes>) -> (http::response::Parts, Bytes) {
    let (parts, body) = f
        .endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await
        .into_parts();
    (parts, body.collect().await)
}

fn content_type(parts: &http::response::Parts) -> &str {
    parts.headers["content-type"].to_str().unwrap()
}

#[tokio::test]
async fn a_call_with_a_progress_token_streams_its_notifications_then_the_result() {
    let f = fixture();
    let (parts, body) = run(
        &f,
        legacy_call("steps", json!({"progressToken": "tok"}), BOTH),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(content_type(&parts), "text/event-stream");
    let events = events(&body);
    let methods: Vec<&str> = events
        .iter()
        .map(|e| e["method"].as_str().unwrap_or("(response)"))
        .collect();
    // Legacy default level is info: the debug message is not sent; the repeated 2 is dropped.
    assert_eq!(
        methods,
        [
            "notifications/message",
            "notifications/message",
            "notifications/progress",
            "notifications/progress",
            "notifications/progress",
            "(response)"
        ]
    );
    assert_eq!(
        events[0]["params"],
        json!({"level": "info", "data": "starting"})
    );
    assert_eq!(
        events[1]["params"],
        json!({"level": "warning", "logger": "db", "data": {"slow": true}})
    );
    assert_eq!(
        events[2]["params"],
        json!({"progressToken": "tok", "progress": 1, "total": 3, "message": "one"})
    );
    assert_eq!(events[3]["params"]["progress"], 2);
    assert_eq!(events[4]["params"]["progress"], 3);
    assert_eq!(events[5]["id"], 1);
    assert_eq!(events[5]["result"]["content"][0]["text"], "done");
}

#[tokio::test]
async fn a_client_that_accepts_only_json_gets_json_and_no_notifications() {
    let f = fixture();
    let (parts, body) = run(
        &f,
        legacy_call("steps", json!({"progressToken": "tok"}), "application/json"),
    )
    .await;
    assert_eq!(content_type(&parts), "application/json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "done");
}

#[tokio::test]
async fn a_call_that_sends_nothing_is_answered_with_json() {
    let f = fixture();
    let (parts, body) = run(&f, legacy_call("quiet", json!({"progressToken": 7}), BOTH)).await;
    assert_eq!(content_type(&parts), "application/json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "quiet");
}

#[tokio::test]
async fn a_legacy_request_may_name_its_log_level_in_meta() {
    let f = fixture();
    let meta = json!({"io.modelcontextprotocol/logLevel": "debug"});
    let (_, body) = run(&f, legacy_call("steps", meta, BOTH)).await;
    let events = events(&body);
    assert_eq!(
        events[0]["params"],
        json!({"level": "debug", "data": "debug detail"})
    );
    // No progress token: no progress notifications.
    assert!(
        events
            .iter()
            .all(|e| e["method"] != "notifications/progress")
    );
}

#[tokio::test]
async fn modern_calls_log_only_when_their_meta_names_a_level() {
    let f = fixture();
    let (_, body) = run(&f, modern_call("steps", json!({"progressToken": "p"}))).await;
    let progressed = events(&body);
    assert!(
        progressed
            .iter()
            .all(|e| e["method"] != "notifications/message"),
        "{progressed:?}"
    );
    assert_eq!(
        progressed.len(),
        4,
        "three progress notifications and the response"
    );
    assert_eq!(progressed[3]["result"]["resultType"], "complete");

    let meta = json!({"io.modelcontextprotocol/logLevel": "warning"});
    let (_, body) = run(&f, modern_call("steps", meta)).await;
    let warned = events(&body);
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert_eq!(warned[0]["params"]["level"], "warning");

    // Without a level or a progress token, nothing can be sent: JSON.
    let (parts, _) = run(&f, modern_call("steps", json!({}))).await;
    assert_eq!(content_type(&parts), "application/json");
}

#[tokio::test]
async fn an_unknown_log_level_is_invalid_params() {
    let f = fixture();
    let meta = json!({"io.modelcontextprotocol/logLevel": "loud"});
    let (parts, body) = run(&f, modern_call("steps", meta)).await;
    assert_eq!(parts.status, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], -32602);
    assert!(v["error"]["message"].as_str().unwrap().contains("logLevel"));
}

#[tokio::test]
async fn notifications_are_streamed_as_they_happen() {
    let f = fixture();
    let req = legacy_call("gated", json!({}), BOTH);
    let response = f
        .endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await;
    // The head is back while the handler still waits at its gate.
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let Body::Stream(mut stream) = response.into_body() else {
        panic!("expected a streamed body");
    };
    let first = stream.next().await.unwrap();
    assert_eq!(events(&first)[0]["params"]["data"], "before the gate");
    f.gate.lock().unwrap().take().unwrap().send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk);
    }
    let rest = events(&rest);
    assert_eq!(rest[0]["params"]["data"], "after the gate");
    assert_eq!(rest[1]["result"]["content"][0]["text"], "through");
}

fn cancel_from(id: Value) -> Request<Bytes> {
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": id, "reason": "user pressed stop"}}),
        &[("mcp-protocol-version", "2025-11-25")],
    )
}

async fn wait_for(flag: &AtomicBool) {
    for _ in 0..1000 {
        if flag.load(Ordering::SeqCst) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the handler never got there");
}

#[tokio::test]
async fn a_callers_cancellation_stops_its_call_and_another_callers_does_not() {
    for accept in ["application/json", BOTH] {
        let f = Arc::new(fixture());
        let req = legacy_call("forever", json!({"progressToken": 1}), accept);
        let call = {
            let f = f.clone();
            tokio::spawn(async move {
                let (parts, body) = f
                    .endpoint
                    .handle(&req, identity(), FakeWorld::quiet().access)
                    .await
                    .into_parts();
                (parts.status, body.collect().await)
            })
        };
        wait_for(&f.started).await;
        assert_eq!(f.endpoint.calls.len(), 1);

        // Another user (same issuer and client, another subject), same request id.
        let mut bob = identity();
        bob.subject = Some("user-bob".into());
        let r = f
            .endpoint
            .handle(&cancel_from(json!(1)), bob, FakeWorld::quiet().access)
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        // The caller itself, naming another id.
        let r = f
            .endpoint
            .handle(
                &cancel_from(json!("1")),
                identity(),
                FakeWorld::quiet().access,
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(
            !f.dropped.load(Ordering::SeqCst),
            "{accept}: cancelled by someone else"
        );
        assert!(!call.is_finished());

        let r = f
            .endpoint
            .handle(
                &cancel_from(json!(1)),
                identity(),
                FakeWorld::quiet().access,
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(5), call)
            .await
            .expect("the cancelled call ends")
            .unwrap();
        assert!(
            f.dropped.load(Ordering::SeqCst),
            "{accept}: the handler was dropped"
        );
        assert_eq!(f.endpoint.calls.len(), 0);
        if accept == BOTH {
            // The stream carried the log message, then ended without a response.
            assert_eq!(status, StatusCode::OK);
            let events = events(&body);
            assert_eq!(events.len(), 1);
            assert_eq!(events[0]["method"], "notifications/message");
        } else {
            assert_eq!(status, StatusCode::ACCEPTED);
            assert!(body.is_empty());
        }
    }
}

#[tokio::test]
async fn dropping_the_stream_stops_the_call() {
    let f = fixture();
    let req = legacy_call("forever", json!({}), BOTH);
    let response = f
        .endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await;
    assert!(response.body().is_stream());
    assert!(f.started.load(Ordering::SeqCst));
    assert!(!f.dropped.load(Ordering::SeqCst));
    drop(response);
    assert!(f.dropped.load(Ordering::SeqCst));
    assert_eq!(f.endpoint.calls.len(), 0);
}

#[tokio::test]
async fn both_eras_declare_logging() {
    let f = fixture();
    let (_, body) = run(
        &f,
        legacy("initialize", json!({"protocolVersion": "2025-11-25"}), None),
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["capabilities"]["logging"], json!({}));
    let (_, body) = run(&f, modern("server/discover", json!({}))).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["capabilities"]["logging"], json!({}));
}

#[tokio::test]
async fn resource_handlers_notify_too() {
    let f = fixture();
    let req = post(
        json!({"jsonrpc": "2.0", "id": 9, "method": "resources/read",
               "params": {"uri": "test://logged"}}),
        &[("mcp-protocol-version", "2025-06-18")],
    );
    let (parts, body) = run(&f, req).await;
    assert_eq!(content_type(&parts), "text/event-stream");
    let events = events(&body);
    assert_eq!(
        events[0]["params"],
        json!({"level": "notice", "data": "reading"})
    );
    assert_eq!(events[1]["result"]["contents"][0]["text"], "contents");
}
