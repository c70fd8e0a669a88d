//! Fault injection: statuses, malformed bodies, dropped connections, latency that interleaves,
//! seeded probabilities; through the admin API, the config and in-process.

use std::time::{Duration, Instant};

use mock_keycard::{Endpoint, FaultSpec, Faults, MockKeycard, ZoneConfig};
use serde_json::json;

use crate::helpers::{call, get, json_post, zone};

#[tokio::test]
async fn admin_api_sets_and_clears_error_status_faults() {
    let zone = zone();
    let reply = call(
        &zone,
        json_post("/admin/faults", &json!({ "token": { "status": 503 } })),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = call(
        &zone,
        crate::helpers::form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("mcp-worker", "mcp-worker-secret")),
        ),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.json()["error"], "temporarily_unavailable");
    assert_eq!(
        call(&zone, get("/admin/faults")).await.json()["token"]["status"],
        503
    );
    // Other endpoints are unaffected.
    assert_eq!(call(&zone, get("/.well-known/jwks.json")).await.status, 200);
    let cleared = call(
        &zone,
        http::Request::delete("/admin/faults")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(cleared.status, 204);
    let reply = call(
        &zone,
        crate::helpers::form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("mcp-worker", "mcp-worker-secret")),
        ),
    )
    .await;
    assert_eq!(reply.status, 200);
    let bad = call(
        &zone,
        json_post("/admin/faults", &json!({ "jwks": { "status": 200 } })),
    )
    .await;
    assert_eq!(bad.status, 400);
    let bad = call(
        &zone,
        json_post("/admin/faults", &json!({ "jwks": { "stauts": 500 } })),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn malformed_bodies_are_not_json() {
    let zone = zone();
    zone.set_faults(Faults::default().with(
        Endpoint::Discovery,
        FaultSpec {
            malformed: true,
            ..FaultSpec::default()
        },
    ))
    .expect("faults");
    let reply = call(&zone, get("/.well-known/openid-configuration")).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&reply.text).is_err());
    zone.set_faults(Faults::default().with(
        Endpoint::Upstream,
        FaultSpec {
            status: Some(500),
            ..FaultSpec::default()
        },
    ))
    .expect("faults");
    let reply = call(&zone, get("/upstream/github/user")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["message"], "injected fault");
}

#[tokio::test]
async fn dropped_connections_fail_at_the_client() {
    let faults = Faults::default().with(
        Endpoint::Jwks,
        FaultSpec {
            drop: true,
            ..FaultSpec::default()
        },
    );
    let server = MockKeycard::start(ZoneConfig::default().with_faults(faults))
        .await
        .expect("start");
    let http = reqwest::Client::new();
    let result = match http.get(server.url("/.well-known/jwks.json")).send().await {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        result.is_err(),
        "a dropped connection must not look like an answer"
    );
    server.zone().clear_faults();
    let ok = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn latency_sleeps_asynchronously_so_requests_interleave() {
    let faults = Faults::default().with(
        Endpoint::Discovery,
        FaultSpec {
            latency_ms: 300,
            ..FaultSpec::default()
        },
    );
    let server = MockKeycard::start(ZoneConfig::default().with_faults(faults))
        .await
        .expect("start");
    let http = reqwest::Client::new();
    let url = server.url("/.well-known/oauth-authorization-server");
    let started = Instant::now();
    let requests = (0..6).map(|_| {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.expect("join").expect("GET"), 200);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1500),
        "6 × 300 ms must overlap, took {elapsed:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn seeded_probability_is_reproducible_over_http() {
    let run = || async {
        let zone = zone();
        let faults = Faults {
            seed: Some(42),
            ..Faults::default()
        }
        .with(
            Endpoint::Jwks,
            FaultSpec {
                status: Some(429),
                probability: Some(0.5),
                ..FaultSpec::default()
            },
        );
        let reply = call(
            &zone,
            json_post(
                "/admin/faults",
                &serde_json::to_value(&faults).expect("json"),
            ),
        )
        .await;
        assert_eq!(reply.status, 200);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                call(&zone, get("/.well-known/jwks.json"))
                    .await
                    .status
                    .as_u16(),
            );
        }
        statuses
    };
    let (first, second) = (run().await, run().await);
    assert_eq!(first, second);
    let failed = first.iter().filter(|s| **s == 429).count();
    assert!((8..=32).contains(&failed), "{failed} of 40");
    assert!(first.iter().all(|s| *s == 200 || *s == 429));
}

#[tokio::test]
async fn faults_from_the_config_file_apply_from_the_start() {
    let toml = format!(
        "{}\n[faults.token]\nstatus = 500\n",
        mock_keycard::DEFAULT_ZONE_TOML
    );
    let config = ZoneConfig::from_toml_str(&toml).expect("config");
    let zone = mock_keycard::Zone::new(config, crate::helpers::ISSUER).expect("zone");
    let reply = call(
        &zone,
        crate::helpers::form("/token", &[("grant_type", "client_credentials")], None),
    )
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "server_error");
    assert!(
        ZoneConfig::from_toml_str(&format!(
            "{}\n[faults.token]\nprobability = 2.0\n",
            mock_keycard::DEFAULT_ZONE_TOML
        ))
        .is_err()
    );
}
