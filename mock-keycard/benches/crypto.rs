//! The zone's per-request crypto: `Zone::mint` (RS256 access tokens, the replay's setup), a
//! full RFC 8693 exchange through the router (subject-token check + upstream-token signature),
//! and the demo upstream's token check (`verify_upstream_token`) on a repeated token.
//!
//! `cargo bench -p mock-keycard --bench crypto`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::body::Body;
use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, header};
use http_body_util::BodyExt as _;
use mock_keycard::{ACCESS_TOKEN_TYPE, MintRequest, TOKEN_EXCHANGE, Zone, ZoneConfig, app};
use tower::ServiceExt as _;

const ISSUER: &str = "http://127.0.0.1:8788";

fn exchange_request(subject: &str, upstream: &str) -> Request<Body> {
    let body = serde_urlencoded::to_string([
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", upstream),
    ])
    .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode("mcp-worker:mcp-worker-secret");
    Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(body))
        .unwrap()
}

async fn exchange(zone: &Zone, subject: &str) -> String {
    let response = app(zone.clone())
        .oneshot(exchange_request(subject, &zone.upstream_url()))
        .await
        .unwrap();
    assert!(response.status().is_success());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn crypto(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let zone = Zone::new(ZoneConfig::default(), ISSUER).unwrap();
    let alice = || MintRequest {
        sub: Some("alice".into()),
        ..MintRequest::default()
    };
    let mut group = c.benchmark_group("mock_keycard");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("mint_rs256", |b| {
        b.iter(|| zone.mint(alice()).unwrap());
    });
    let subject = zone.mint(alice()).unwrap().access_token;
    group.bench_function("exchange_same_subject", |b| {
        b.iter(|| runtime.block_on(exchange(&zone, &subject)));
    });
    let upstream = runtime.block_on(exchange(&zone, &subject));
    group.bench_function("upstream_verify_repeated_token", |b| {
        b.iter(|| {
            runtime
                .block_on(zone.verify_upstream_token(&upstream))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
