//! `private_key_jwt` (RFC 7523) client authentication: the web-identity application's JWKS is
//! fetched from a real socket; assertion checks and `jti` replay protection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::get;
use mock_keycard::{CLIENT_ASSERTION_TYPE, JwkSet, KeyPair, Zone, ZoneConfig, other_zone_key};
use serde_json::{Map, Value, json};

use crate::helpers::{ISSUER, UPSTREAM, call, claims, exchange_pairs, form, user_token};

const WORKER_PEM: &str = include_str!("../../../fixtures/keys/worker-web-identity.pem");

/// The MCP server's web identity: its key and a socket serving `/.well-known/jwks.json`.
struct WebIdentity {
    key: KeyPair,
    origin: String,
    fetches: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

async fn web_identity() -> WebIdentity {
    let key = KeyPair::from_pem("worker", WORKER_PEM).expect("worker key");
    let jwks = JwkSet {
        keys: vec![key.jwk().clone()],
    };
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    WebIdentity {
        key,
        origin,
        fetches,
        _task: task,
    }
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time")
}

fn assertion(key: &KeyPair, kid: Option<&str>, patch: Value) -> String {
    let origin = patch["iss"].as_str().unwrap_or_default().to_owned();
    let mut claims = Map::new();
    claims.insert("iss".into(), origin.clone().into());
    claims.insert("sub".into(), origin.into());
    claims.insert("aud".into(), format!("{ISSUER}/token").into());
    claims.insert("iat".into(), now().into());
    claims.insert("exp".into(), (now() + 120).into());
    claims.insert("jti".into(), format!("jti-{}", rand_suffix()).into());
    if let Value::Object(patch) = patch {
        for (k, v) in patch {
            claims.insert(k, v);
        }
    }
    mock_keycard::jwt::sign(key, kid, &claims).expect("sign")
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    u64::try_from(N.fetch_add(1, Ordering::SeqCst)).unwrap_or(0)
        + u64::try_from(now()).unwrap_or(0) * 1000
}

async fn exchange_with(zone: &Zone, subject: &str, assertion: &str) -> crate::helpers::Reply {
    let mut pairs = exchange_pairs(subject, UPSTREAM);
    pairs.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
    pairs.push(("client_assertion", assertion));
    call(zone, form("/token", &pairs, None)).await
}

#[tokio::test]
async fn web_identity_exchange_succeeds_and_the_jwks_is_cached() {
    let wi = web_identity().await;
    let zone =
        Zone::new(ZoneConfig::default().with_mcp_resource(&wi.origin), ISSUER).expect("zone");
    let subject = user_token(&zone, "alice");
    for aud in [format!("{ISSUER}/token"), ISSUER.to_owned()] {
        let a = assertion(&wi.key, None, json!({ "iss": wi.origin, "aud": aud }));
        let reply = exchange_with(&zone, &subject, &a).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let c = claims(reply.json()["access_token"].as_str().expect("token"));
        assert_eq!(c["act"]["sub"], wi.origin.as_str());
        assert_eq!(c["sub"], "alice");
    }
    assert_eq!(
        wi.fetches.load(Ordering::SeqCst),
        1,
        "JWKS fetched once, then cached"
    );
}

#[tokio::test]
async fn assertion_refusals() {
    let wi = web_identity().await;
    let zone =
        Zone::new(ZoneConfig::default().with_mcp_resource(&wi.origin), ISSUER).expect("zone");
    let subject = user_token(&zone, "alice");
    let base = json!({ "iss": wi.origin });
    let patch = |extra: Value| {
        let mut v = base.clone();
        if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
            v.extend(extra);
        }
        v
    };

    // Replay: the same assertion twice.
    let once = assertion(&wi.key, None, base.clone());
    assert_eq!(exchange_with(&zone, &subject, &once).await.status, 200);
    let replay = exchange_with(&zone, &subject, &once).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.json()["error"], "invalid_client");
    assert!(
        replay.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("replay")
    );

    let other = other_zone_key().expect("other key");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong aud",
            assertion(
                &wi.key,
                None,
                patch(json!({ "aud": "http://127.0.0.1:8788/elsewhere" })),
            ),
            "aud must be",
        ),
        (
            "expired",
            assertion(&wi.key, None, patch(json!({ "exp": now() - 10 }))),
            "expired",
        ),
        (
            "exp too far",
            assertion(&wi.key, None, patch(json!({ "exp": now() + 3600 }))),
            "more than 300 s",
        ),
        (
            "iss != sub",
            assertion(&wi.key, None, patch(json!({ "sub": "someone-else" }))),
            "iss and sub",
        ),
        (
            "no jti",
            assertion(&wi.key, None, patch(json!({ "jti": null }))),
            "no jti",
        ),
        (
            "unknown client",
            assertion(&wi.key, None, json!({ "iss": "http://127.0.0.1:1" })),
            "unknown client",
        ),
        (
            "bad signature",
            assertion(&other, Some(wi.key.kid()), base.clone()),
            "signature does not verify",
        ),
        (
            "unknown kid",
            assertion(&other, None, base.clone()),
            "kid not found",
        ),
    ];
    for (name, a, needle) in cases {
        let reply = exchange_with(&zone, &subject, &a).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        assert_eq!(reply.json()["error"], "invalid_client", "{name}");
        let description = reply.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(description.contains(needle), "{name}: {description}");
    }

    let mut pairs = exchange_pairs(&subject, UPSTREAM);
    let a = assertion(&wi.key, None, base.clone());
    pairs.push(("client_assertion_type", "urn:wrong"));
    pairs.push(("client_assertion", &a));
    let reply = call(&zone, form("/token", &pairs, None)).await;
    assert_eq!(reply.json()["error"], "invalid_client");
}

#[tokio::test]
async fn unreachable_application_jwks_is_invalid_client() {
    let zone = Zone::new(
        ZoneConfig::default().with_mcp_resource("http://127.0.0.1:1"),
        ISSUER,
    )
    .expect("zone");
    let key = KeyPair::from_pem("worker", WORKER_PEM).expect("key");
    let subject = user_token(&zone, "alice");
    let a = assertion(&key, None, json!({ "iss": "http://127.0.0.1:1" }));
    let reply = exchange_with(&zone, &subject, &a).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot fetch")
    );
}
