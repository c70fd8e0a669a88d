//! The demo upstream: ground-truth identity, refusals, peer zones ("same sub at two issuers").

use std::collections::BTreeMap;

use http::header;
use mock_keycard::{Audience, MintRequest, MockKeycard, PeerConfig, Zone, ZoneConfig};
use serde_json::Value;

use crate::helpers::{ISSUER, UPSTREAM, basic, call, exchange_pairs, form, user_token, zone};

fn user_request(token: Option<&str>) -> http::Request<axum::body::Body> {
    let mut builder = http::Request::get("/upstream/github/user");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(axum::body::Body::empty()).expect("request")
}

#[tokio::test]
async fn upstream_refuses_every_token_it_did_not_issue_for_itself() {
    let zone = zone();
    let mint = |req: MintRequest| zone.mint(req).expect("mint").access_token;
    let for_upstream = |req: MintRequest| {
        mint(MintRequest {
            sub: Some("alice".into()),
            audience: Some(Audience::One(UPSTREAM.into())),
            ..req
        })
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("garbage".into())),
        ("mcp_audience", Some(user_token(&zone, "alice"))),
        (
            "expired",
            Some(for_upstream(MintRequest {
                lifetime_secs: Some(-1),
                ..Default::default()
            })),
        ),
        (
            "other_zone_key",
            Some(for_upstream(MintRequest {
                key: Some("other-zone".into()),
                kid: Some(zone.current_kid()),
                ..Default::default()
            })),
        ),
        (
            "untrusted_issuer",
            Some(for_upstream(MintRequest {
                extra_claims: [("iss".to_owned(), Value::from("http://127.0.0.1:1"))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            })),
        ),
        (
            "no_sub",
            Some(mint(MintRequest {
                audience: Some(Audience::One(UPSTREAM.into())),
                ..Default::default()
            })),
        ),
    ];
    let mut bodies = BTreeMap::new();
    for (name, token) in cases {
        let reply = call(&zone, user_request(token.as_deref())).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        bodies.insert(name, reply.json());
    }
    insta::assert_json_snapshot!("upstream_error_bodies", bodies);
    // A dev-minted token for the upstream is accepted but is not in the audit log.
    let reply = call(
        &zone,
        user_request(Some(&for_upstream(MintRequest::default()))),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["keycard"]["audited"], false);
}

async fn exchange_at(
    zone: &MockKeycard,
    sub: &str,
    http: &reqwest::Client,
    resource: &str,
) -> String {
    let subject = zone
        .zone()
        .mint(MintRequest {
            sub: Some(sub.into()),
            ..Default::default()
        })
        .expect("mint")
        .access_token;
    let response = http
        .post(format!("{}/token", zone.issuer()))
        .header(
            header::AUTHORIZATION,
            basic("mcp-worker", "mcp-worker-secret"),
        )
        .form(&exchange_pairs(&subject, resource))
        .send()
        .await
        .expect("exchange");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn same_sub_at_two_issuers_is_told_apart_by_the_upstream() {
    let a = MockKeycard::start(ZoneConfig::default())
        .await
        .expect("zone a");
    let b = MockKeycard::start(ZoneConfig::default().with_upstream_url(a.upstream_url()))
        .await
        .expect("zone b");
    assert_eq!(b.upstream_url(), a.upstream_url());
    let http = reqwest::Client::new();
    let from_a = exchange_at(&a, "alice", &http, &a.upstream_url()).await;
    let from_b = exchange_at(&b, "alice", &http, &a.upstream_url()).await;
    let get_user = |token: String| {
        let http = http.clone();
        let url = format!("{}/user", a.upstream_url());
        async move {
            let response = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("upstream");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    };
    let (status, body) = get_user(from_b.clone()).await;
    assert_eq!(status, 401, "untrusted before trust_peer: {body}");
    a.zone().trust_peer(&b.zone());
    let (status_a, seen_a) = get_user(from_a).await;
    let (status_b, seen_b) = get_user(from_b.clone()).await;
    assert_eq!((status_a, status_b), (200, 200));
    assert_eq!(seen_a["keycard"]["sub"], "alice");
    assert_eq!(seen_b["keycard"]["sub"], "alice");
    assert_eq!(seen_a["keycard"]["iss"], a.issuer());
    assert_eq!(seen_b["keycard"]["iss"], b.issuer());
    assert_eq!(seen_b["keycard"]["audited"], true);
    assert_ne!(seen_a["keycard"]["jti"], seen_b["keycard"]["jti"]);

    // A third zone trusting b through configuration fetches b's JWKS over HTTP.
    let mut config = ZoneConfig::default().with_upstream_url(a.upstream_url());
    config.peers.push(PeerConfig {
        issuer: b.issuer(),
        jwks_uri: format!("{}/.well-known/jwks.json", b.issuer()),
    });
    let c = Zone::new(config, ISSUER).expect("zone c");
    let reply = call(&c, user_request(Some(&from_b))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["keycard"]["iss"], b.issuer());
    assert_eq!(reply.json()["keycard"]["audited"], false);
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn exchanged_token_expires_at_the_upstream() {
    let mut config = ZoneConfig::default();
    config.lifetimes.upstream_token_secs = 1;
    let zone = Zone::new(config, ISSUER).expect("zone");
    let subject = user_token(&zone, "alice");
    let reply = call(
        &zone,
        form(
            "/token",
            &exchange_pairs(&subject, UPSTREAM),
            Some(("mcp-worker", "mcp-worker-secret")),
        ),
    )
    .await;
    let token = reply.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(call(&zone, user_request(Some(&token))).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply = call(&zone, user_request(Some(&token))).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "token expired");
}

#[tokio::test]
async fn every_answer_carries_the_users_canary_and_the_log_names_the_caller() {
    let zone = zone();
    zone.record_upstream_calls(8);
    let alice = crate::helpers::exchanged(&zone, "alice").await;
    let bob = crate::helpers::exchanged(&zone, "bob").await;
    let get = |path: &str, token: &str, tag: &str| {
        http::Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(mock_keycard::CORRELATION_HEADER, tag)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let a = call(&zone, get("/upstream/github/user/repos?x=1", &alice, "7")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = a.json();
    let a_canary = zone.canary_for(ISSUER, "alice");
    assert_eq!(a["canary"], a_canary.as_str());
    assert_eq!(
        (a["method"].as_str(), a["path"].as_str()),
        (Some("POST"), Some("/user/repos"))
    );
    assert_eq!(a["keycard"]["sub"], "alice");
    let b = call(&zone, user_request(Some(&bob))).await.json();
    let b_canary = zone.canary_for(ISSUER, "bob");
    assert_eq!(b["canary"], b_canary.as_str());
    assert_ne!(a_canary, b_canary);
    assert!(a_canary.starts_with(mock_keycard::CANARY_PREFIX));
    // Another zone (another salt) gives the same user another canary.
    assert_ne!(crate::helpers::zone().canary_for(ISSUER, "alice"), a_canary);
    // Recording (harness mode) also writes the canary into `login` and `name`.
    assert!(a["login"].as_str().unwrap().ends_with(&a_canary), "{a}");
    let both = format!("{a}{b}");
    let mut found = mock_keycard::find_canaries(&both).collect::<Vec<_>>();
    found.dedup();
    assert_eq!(found, [a_canary.as_str(), b_canary.as_str()]);
    // A refused token is not logged; accepted ones are, with the correlation tag.
    assert_eq!(
        call(&zone, get("/upstream/github/x", "garbage", "9"))
            .await
            .status,
        401
    );
    let log = zone.take_upstream_calls();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].correlation.as_deref(), Some("7"));
    assert_eq!(
        (log[0].identity.sub.as_str(), log[0].path.as_str()),
        ("alice", "/user/repos")
    );
    assert_eq!(
        (log[1].correlation.as_deref(), log[1].canary.as_str()),
        (None, b_canary.as_str())
    );
    assert!(zone.take_upstream_calls().is_empty());
}

/// The calendar: its own resource, its own consent per user, its own answer shape, the
/// same per-user canary in every event; a token for one demo upstream is refused by the
/// other.
#[tokio::test]
async fn the_calendar_is_a_second_upstream_with_its_own_consent() {
    use crate::helpers::{CALENDAR, WORKER, exchanged};
    let zone = zone();
    assert_eq!(zone.calendar_url(), CALENDAR);
    zone.record_upstream_calls(8);
    let exchange = |sub: &'static str| {
        let zone = zone.clone();
        async move {
            let subject = user_token(&zone, sub);
            call(
                &zone,
                form("/token", &exchange_pairs(&subject, CALENDAR), WORKER),
            )
            .await
        }
    };
    // alice consented to both upstreams, bob to GitHub only.
    let alice = exchange("alice").await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    assert_eq!(alice.json()["scope"], "calendar:read");
    let alice = alice.json()["access_token"].as_str().unwrap().to_owned();
    let bob = exchange("bob").await;
    assert_eq!(bob.status, 400, "{}", bob.text);
    assert_eq!(bob.json()["error"], "invalid_grant");
    assert!(zone.has_consented("bob", UPSTREAM) && !zone.has_consented("bob", CALENDAR));

    let events = |token: &str, path: &str| {
        http::Request::get(format!("/upstream/calendar{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let reply = call(&zone, events(&alice, "/events")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let canary = zone.canary_for(ISSUER, "alice");
    assert_eq!(body["kind"], "calendar#events");
    assert_eq!(body["owner"], "alice");
    assert_eq!(body["keycard"]["sub"], "alice");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|e| e["canary"] == canary.as_str()),
        "{body}"
    );
    assert!(body.get("path").is_none());
    let other = call(&zone, events(&alice, "/calendars/primary"))
        .await
        .json();
    assert_eq!(other["path"], "/calendars/primary");

    // Audiences are per upstream: a GitHub token does not open the calendar, nor back.
    let github = exchanged(&zone, "alice").await;
    let refused = call(&zone, events(&github, "/events")).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json()["reason"],
        "token audience is not this upstream"
    );
    let refused = call(&zone, user_request(Some(&alice))).await;
    assert_eq!(refused.status, 401);

    let log = zone.take_upstream_calls();
    assert_eq!(
        log.iter()
            .map(|c| (c.upstream, c.path.as_str()))
            .collect::<Vec<_>>(),
        [
            (mock_keycard::DemoUpstream::Calendar, "/events"),
            (mock_keycard::DemoUpstream::Calendar, "/calendars/primary"),
        ]
    );
}
