//! Discovery documents, JWKS shape, key rotation with grace removal.

use std::time::Duration;

use mock_keycard::{MockKeycard, ZoneConfig, thumbprint};
use serde_json::Value;

use crate::helpers::{
    ISSUER, MCP, UPSTREAM, call, exchange_pairs, form, get, json_post, normalise_ports, user_token,
    zone,
};

#[tokio::test]
async fn discovery_documents_over_a_socket_match_the_snapshot() {
    let server = MockKeycard::start(ZoneConfig::default())
        .await
        .expect("start");
    assert!(server.issuer().starts_with("http://127.0.0.1:"));
    assert!(!server.issuer().ends_with('/'));
    let http = reqwest::Client::new();
    let mut documents = Vec::new();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = http.get(server.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.as_bytes()),
            Some(&b"*"[..])
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["issuer"], server.issuer());
        documents.push(body);
    }
    assert_eq!(documents[0], documents[1]);
    assert_eq!(
        documents[0]["token_endpoint"],
        server.zone().token_endpoint()
    );
    assert_eq!(server.url("/token"), server.zone().token_endpoint());
    let normalised: Value =
        serde_json::from_str(&normalise_ports(&documents[0].to_string())).expect("json");
    insta::assert_json_snapshot!("discovery", normalised);
    server.shutdown().await;
}

#[tokio::test]
async fn jwks_has_the_rs256_key_then_the_es256_upstream_key_with_thumbprint_kids() {
    let zone = zone();
    let reply = call(&zone, get("/.well-known/jwks.json")).await;
    assert_eq!(reply.status, 200);
    let mut jwks = reply.json();
    let key = &jwks["keys"][0];
    let parsed: mock_keycard::Jwk = serde_json::from_value(key.clone()).expect("jwk");
    let kid = parsed.common.key_id.as_deref();
    assert_eq!(kid, Some(thumbprint(&parsed).as_str()));
    assert_eq!(kid, Some(zone.current_kid().as_str()));
    let upstream: mock_keycard::Jwk =
        serde_json::from_value(jwks["keys"][1].clone()).expect("ec jwk");
    let upstream_kid = upstream.common.key_id.as_deref();
    assert_eq!(upstream_kid, Some(thumbprint(&upstream).as_str()));
    assert_eq!(upstream_kid, zone.upstream_kid().as_deref());
    assert_ne!(upstream_kid, kid);
    jwks["keys"][0]["n"] = Value::String("[n]".into());
    jwks["keys"][0]["kid"] = Value::String("[kid]".into());
    insta::assert_json_snapshot!("jwks_shape", jwks);
}

#[tokio::test]
async fn rotation_publishes_new_key_keeps_old_for_grace_then_removes_it() {
    let zone = mock_keycard::Zone::new(
        ZoneConfig::default().with_key_grace(Duration::from_millis(300)),
        ISSUER,
    )
    .expect("zone");
    let old_kid = zone.current_kid();
    let old_token = user_token(&zone, "alice");

    let reply = call(&zone, json_post("/admin/rotate", &serde_json::json!({}))).await;
    assert_eq!(reply.status, 200);
    let rotation = reply.json();
    assert_eq!(rotation["retired_kid"], old_kid.as_str());
    let new_kid = rotation["new_kid"].as_str().expect("new kid").to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(zone.current_kid(), new_kid);

    let jwks = call(&zone, get("/.well-known/jwks.json")).await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);

    // New tokens carry the new kid; the old token still exchanges during the grace period.
    let new_token = user_token(&zone, "alice");
    let header = mock_keycard::jwt::decode(&new_token)
        .expect("decode")
        .header;
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    let pairs = exchange_pairs(&old_token, UPSTREAM);
    let reply = call(
        &zone,
        form("/token", &pairs, Some(("mcp-worker", "mcp-worker-secret"))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let jwks = call(&zone, get("/.well-known/jwks.json")).await.json();
    // The RSA key past its grace is gone; the ES256 upstream key does not rotate.
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
    assert_eq!(jwks["keys"][1]["kty"], "EC");
    let reply = call(
        &zone,
        form("/token", &pairs, Some(("mcp-worker", "mcp-worker-secret"))),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert!(
        reply.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown signing key")
    );
    let fresh = exchange_pairs(&new_token, UPSTREAM);
    let reply = call(
        &zone,
        form("/token", &fresh, Some(("mcp-worker", "mcp-worker-secret"))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(MCP, zone.mcp_resource());
}

#[tokio::test]
async fn start_with_a_prebound_listener_and_an_issuer_override() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let config = ZoneConfig::default().with_issuer("http://localhost:1234/");
    let server = MockKeycard::start_with_listener(config, listener)
        .await
        .expect("start");
    assert_eq!(server.addr().port(), port);
    assert_eq!(server.issuer(), "http://localhost:1234");
    assert_eq!(
        server.upstream_url(),
        "http://localhost:1234/upstream/github"
    );
    let body: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(body["issuer"], "http://localhost:1234");
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
            .await
            .is_err(),
        "dropped server stops"
    );
}
