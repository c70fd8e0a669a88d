//! `Gateway::handle` limits: the request-header size limit (431) and the per-request
//! outbound time budget, driven with a manual clock and scripted HTTP (no sockets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::gateway::{Gateway, header_bytes};
use crate::auth::tests::{RESOURCE, Zone, good_claims, rs256, test_config};
use crate::ports::testing::{ManualClock, SharedManualClock, json_response};
use crate::ports::{BoxFuture, Clock, HttpClient, HttpError, Ports};
use crate::server::Server;

const KIB: usize = 1024;
const STEP: Duration = Duration::from_millis(10);

fn body(r: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

/// Polls `fut` to completion, advancing `clock` by [`STEP`] whenever it is pending (the
/// only thing anything here waits for is the manual clock). Panics after `max` of
/// simulated time: a request that outlives its budget by that much is a failure.
fn drive<F: Future>(clock: &ManualClock, max: Duration, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut spent = Duration::ZERO;
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(spent < max, "still pending after {max:?} of manual time");
        clock.advance(STEP);
        spent += STEP;
    }
}

// ------------------------------------------------------------------ header size

/// `GET /health` with one padding header sized so the headers total exactly `total`.
fn health_with_headers_totalling(total: usize) -> http::Request<Bytes> {
    let name = "x-padding";
    let request = http::Request::get(format!("{RESOURCE}/health"))
        .header(name, "a".repeat(total - name.len()))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(header_bytes(request.headers(), 8 * KIB), total);
    request
}

#[test]
fn headers_at_the_limit_pass_and_one_byte_more_is_431() {
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let limit = g.config().limits.max_header_bytes;
    assert_eq!(limit, 16 * KIB);

    let ok = drive(
        &zone.clock,
        STEP,
        g.handle(health_with_headers_totalling(limit)),
    );
    assert_eq!(ok.status(), 200);

    let r = drive(
        &zone.clock,
        STEP,
        g.handle(health_with_headers_totalling(limit + 1)),
    );
    assert_eq!(r.status(), 431);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        body(&r),
        json!({
            "error": "request_header_fields_too_large",
            "error_description": "the request headers total more than 16384 bytes",
        })
    );
    assert_eq!(zone.http.request_count(), 0);
}

fn mcp_ping(authorization: &str, extra: Option<(&str, String)>) -> http::Request<Bytes> {
    let mut b = http::Request::post(format!("{RESOURCE}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", authorization);
    if let Some((name, value)) = extra {
        b = b.header(name, value);
    }
    b.body(Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    ))
    .unwrap()
}

#[test]
fn an_oversized_token_gets_the_token_limit_401_not_431() {
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let max_token = g.config().limits.max_token_bytes;
    // Just over the token limit (well under the header limit), and far over both.
    for size in [max_token + 1, 64 * KIB, 1024 * KIB] {
        let token = "a".repeat(size);
        let r = drive(
            &zone.clock,
            STEP,
            g.handle(mcp_ping(&format!("Bearer {token}"), None)),
        );
        assert_eq!(r.status(), 401, "{size}-byte token");
        assert_eq!(body(&r)["error"], "invalid_token");
        assert_eq!(
            body(&r)["error_description"],
            format!("the access token is larger than {max_token} bytes")
        );
    }
    assert_eq!(zone.http.request_count(), 0);
}

#[test]
fn other_headers_plus_a_maximal_token_must_fit() {
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let limits = g.config().limits.clone();
    let token = "a".repeat(limits.max_token_bytes);
    let base = header_bytes(
        mcp_ping(&format!("Bearer {token}"), None).headers(),
        limits.max_token_bytes,
    );
    let pad = |n: usize| Some(("x-padding", "b".repeat(n - "x-padding".len())));
    let room = limits.max_header_bytes - base;

    // Exactly filling the limit reaches the token check (401 for the fake token).
    let r = drive(
        &zone.clock,
        STEP,
        g.handle(mcp_ping(&format!("Bearer {token}"), pad(room))),
    );
    assert_eq!(r.status(), 401);
    assert_eq!(body(&r)["error"], "invalid_token");
    // One byte more is refused before authentication.
    let r = drive(
        &zone.clock,
        STEP,
        g.handle(mcp_ping(&format!("Bearer {token}"), pad(room + 1))),
    );
    assert_eq!(r.status(), 431);
    // An oversized token does not buy room for other headers: it counts at its cap.
    let big = "a".repeat(4 * limits.max_token_bytes);
    let r = drive(
        &zone.clock,
        STEP,
        g.handle(mcp_ping(&format!("Bearer {big}"), pad(room + 1))),
    );
    assert_eq!(r.status(), 431);
    assert_eq!(zone.http.request_count(), 0);
}

#[test]
fn the_header_limit_is_configurable() {
    let zone = Zone::new();
    let mut config = test_config();
    config.limits.max_header_bytes = 12 * KIB;
    let g = Gateway::new(config, zone.ports(), Server::demo()).unwrap();
    let r = drive(
        &zone.clock,
        STEP,
        g.handle(health_with_headers_totalling(12 * KIB + 1)),
    );
    assert_eq!(r.status(), 431);
    assert!(
        body(&r)["error_description"]
            .as_str()
            .unwrap()
            .contains("12288 bytes")
    );
}

// ------------------------------------------------------------------ request budget

const STS: &str = "https://zone.keycard.cloud/oauth/token";
const UPSTREAM: &str = "https://api.github.com/user";

/// How the fake STS and upstream behave; discovery and JWKS come from the [`Zone`]
/// instantly.
#[derive(Clone, Copy)]
struct Script {
    /// The STS answers a token after this long.
    sts_delay: Duration,
    /// The upstream answers after this long with this status (`None`: never answers).
    upstream: Option<(Duration, u16)>,
}

struct SlowWorld {
    world: Arc<ScriptedWorld>,
}

struct ScriptedWorld {
    zone_http: Arc<crate::ports::testing::ScriptedHttp>,
    clock: SharedManualClock,
    script: Script,
    log: std::sync::Mutex<Vec<(String, u64)>>,
}

impl HttpClient for ScriptedWorld {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        let uri = request.uri().to_string();
        self.log
            .lock()
            .unwrap()
            .push((uri.clone(), self.clock.now_ms()));
        match uri.as_str() {
            STS => {
                let sleep = self.clock.sleep(self.script.sts_delay);
                Box::pin(async move {
                    sleep.await;
                    Ok(json_response(
                        200,
                        json!({"access_token": "gh-token", "token_type": "Bearer", "expires_in": 3600}),
                    ))
                })
            }
            UPSTREAM => match self.script.upstream {
                None => Box::pin(futures::future::pending()),
                Some((delay, status)) => {
                    let sleep = self.clock.sleep(delay);
                    Box::pin(async move {
                        sleep.await;
                        Ok(json_response(status, json!({"login": "alice"})))
                    })
                }
            },
            _ => self.zone_http.send(request),
        }
    }
}

impl SlowWorld {
    fn calls_to(&self, url: &str) -> Vec<u64> {
        self.world
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == url)
            .map(|(_, at)| at)
            .copied()
            .collect()
    }
}

fn slow_world(zone: &Zone, script: Script) -> (SlowWorld, Ports) {
    let world = Arc::new(ScriptedWorld {
        zone_http: zone.http.clone(),
        clock: SharedManualClock(zone.clock.clone()),
        script,
        log: std::sync::Mutex::default(),
    });
    let ports = Ports {
        http: world.clone(),
        ..zone.ports()
    };
    (SlowWorld { world }, ports)
}

/// A gateway in a [`slow_world`] with this outbound timeout and request budget.
fn budget_gateway(
    zone: &Zone,
    script: Script,
    outbound_ms: u64,
    budget_ms: u64,
) -> (SlowWorld, Gateway) {
    let (world, ports) = slow_world(zone, script);
    let mut config = test_config();
    config.limits.outbound_timeout = Duration::from_millis(outbound_ms);
    config.limits.request_budget = Duration::from_millis(budget_ms);
    let g = Gateway::new(config, ports, Server::demo()).unwrap();
    (world, g)
}

fn call_github_user() -> http::Request<Bytes> {
    let token = rs256("k1", &good_claims());
    http::Request::post(format!("{RESOURCE}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::from(
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                   "params": {"name": "github_user", "arguments": {}}})
            .to_string(),
        ))
        .unwrap()
}

/// Runs one `github_user` call; returns the JSON-RPC result and the manual time it took.
fn timed_call(zone: &Zone, g: &Gateway) -> (Value, Duration) {
    let clock = SharedManualClock(zone.clock.clone());
    let t0 = clock.now_ms();
    let r = drive(
        &zone.clock,
        Duration::from_secs(120),
        g.handle(call_github_user()),
    );
    let elapsed = clock.now_ms() - t0;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    (body(&r)["result"].clone(), Duration::from_millis(elapsed))
}

fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_silent_upstream_fails_by_the_budget_not_by_the_outbound_timeout() {
    let zone = Zone::new();
    let script = Script {
        sts_delay: Duration::from_secs(3),
        upstream: None,
    };
    // Outbound timeout 10 s, budget 4 s: the exchange eats 3 s, the upstream gets 1 s.
    let (world, g) = budget_gateway(&zone, script, 10_000, 4_000);
    let (result, elapsed) = timed_call(&zone, &g);
    let text = error_text(&result);
    assert!(text.contains("upstream"), "{text}");
    assert!(!text.contains("gh-token"), "{text}");
    assert_eq!(elapsed, Duration::from_secs(4));
    assert_eq!(world.calls_to(STS).len(), 1);
    let upstream = world.calls_to(UPSTREAM);
    assert_eq!(upstream.len(), 1);
    // The upstream call started once the exchange was done, 3 s in.
    assert_eq!(
        upstream[0] - world.calls_to(STS)[0],
        3_000,
        "the upstream call follows the 3 s exchange"
    );

    // Same world with the budget as large as the old behaviour: the outbound timeout
    // (10 s) is what stops the upstream call, i.e. 13 s in all.
    let zone = Zone::new();
    let (_, g) = budget_gateway(&zone, script, 10_000, 60_000);
    let (result, elapsed) = timed_call(&zone, &g);
    error_text(&result);
    assert_eq!(elapsed, Duration::from_secs(13));
}

#[test]
fn a_spent_budget_skips_the_retry_instead_of_sending_it() {
    let zone = Zone::new();
    // STS 1 s, upstream answers 401 after 2 s. Budget 4 s: exchange (1 s), upstream 401
    // (2 s, t=3 s), fresh exchange (1 s, t=4 s) — and then nothing is left for the retry.
    let (world, g) = budget_gateway(
        &zone,
        Script {
            sts_delay: Duration::from_secs(1),
            upstream: Some((Duration::from_secs(2), 401)),
        },
        10_000,
        4_000,
    );
    let (result, elapsed) = timed_call(&zone, &g);
    let text = error_text(&result);
    assert!(text.contains("budget"), "{text}");
    assert_eq!(elapsed, Duration::from_secs(4));
    assert_eq!(world.calls_to(STS).len(), 2);
    assert_eq!(
        world.calls_to(UPSTREAM).len(),
        1,
        "the retry was not sent on a spent budget"
    );
}

#[test]
fn the_budget_caps_the_exchange_too_and_is_per_request() {
    let zone = Zone::new();
    // An STS slower than the whole budget: the exchange is cut at the deadline (2.5 s),
    // not at the 10 s outbound timeout, and the tool answers isError.
    let (world, g) = budget_gateway(
        &zone,
        Script {
            sts_delay: Duration::from_secs(30),
            upstream: Some((Duration::ZERO, 200)),
        },
        10_000,
        2_500,
    );
    let (result, elapsed) = timed_call(&zone, &g);
    let text = error_text(&result);
    assert!(text.contains("did not answer in time"), "{text}");
    assert_eq!(elapsed, Duration::from_millis(2_500));
    assert!(world.calls_to(UPSTREAM).is_empty());
    // The next request starts a fresh budget of its own (no state carried over): it
    // also gets its full 2.5 s.
    let (result, elapsed) = timed_call(&zone, &g);
    error_text(&result);
    assert_eq!(elapsed, Duration::from_millis(2_500));
    assert_eq!(world.calls_to(STS).len(), 2);
}
