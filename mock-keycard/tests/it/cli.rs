//! The dev mint: `POST /dev/token`, `Zone::mint` and the `mock-keycard mint` CLI.

use std::process::Command;

use mock_keycard::{Zone, ZoneConfig};
use serde_json::json;

use crate::helpers::{MCP, call, claims, json_post, zone};

#[tokio::test]
async fn dev_token_endpoint_mints_arbitrary_claims_and_is_marked_as_a_mock_feature() {
    let zone = zone();
    let reply = call(
        &zone,
        json_post(
            "/dev/token",
            &json!({
                "client_id": "cli",
                "audience": ["http://a.test", "http://b.test"],
                "scope": "x y",
                "lifetime_secs": 60,
                "extra_claims": { "client_id": null, "custom": [1, 2] },
            }),
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply
            .header("x-mock-keycard")
            .unwrap_or_default()
            .contains("dev-mint")
    );
    let body = reply.json();
    assert_eq!(body["expires_in"], 60);
    let c = claims(body["access_token"].as_str().expect("token"));
    assert!(c.get("sub").is_none(), "sub omitted → sub-less token");
    assert!(c.get("client_id").is_none(), "null extra claim removes it");
    assert_eq!(c["aud"], json!(["http://a.test", "http://b.test"]));
    assert_eq!(c["scope"], "x y");
    assert_eq!(c["custom"], json!([1, 2]));
    assert_eq!(c["jti"], body["jti"]);

    let defaults = call(&zone, json_post("/dev/token", &json!({ "sub": "alice" })))
        .await
        .json();
    let c = claims(defaults["access_token"].as_str().expect("token"));
    assert_eq!(c["aud"], MCP);
    assert_eq!(c["client_id"], "mcp-client-a");
    assert_eq!(c["scope"], "mcp:tools");
    assert_eq!(
        c["exp"].as_i64().unwrap_or_default() - c["iat"].as_i64().unwrap_or_default(),
        3600
    );
    for bad in [
        json!({ "key": "zone-9" }),
        json!({ "sub": 5 }),
        json!({ "surprise": true }),
    ] {
        assert_eq!(
            call(&zone, json_post("/dev/token", &bad)).await.status,
            400,
            "{bad}"
        );
    }
}

#[test]
fn mint_is_fast_because_keys_are_parsed_once() {
    let zone = Zone::new(ZoneConfig::default(), crate::helpers::ISSUER).expect("zone");
    let started = std::time::Instant::now();
    for i in 0..50 {
        let minted = zone
            .mint(mock_keycard::MintRequest {
                sub: Some(format!("user-{i}")),
                ..Default::default()
            })
            .expect("mint");
        assert_eq!(minted.kid, zone.current_kid());
    }
    // 2048-bit RSA signing is ~1–2 ms with the optimised rsa crate; parsing per call would be
    // far slower in debug builds.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let debug = format!(
        "{:?}",
        zone.mint(mock_keycard::MintRequest::default())
            .expect("mint")
    );
    assert!(
        !debug.contains("eyJ"),
        "Debug must not print the token: {debug}"
    );
}

#[test]
fn cli_mint_prints_a_verifiable_token_and_help_works() {
    let bin = env!("CARGO_BIN_EXE_mock-keycard");
    let output = Command::new(bin)
        .args([
            "mint",
            "--sub",
            "dave/../admin",
            "--client-id",
            "cli-client",
            "--audience",
            "http://x.test",
            "--scope",
            "a b",
            "--port",
            "9999",
            "--lifetime",
            "120",
        ])
        .output()
        .expect("run mock-keycard mint");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let c = claims(&token);
    assert_eq!(c["iss"], "http://127.0.0.1:9999");
    assert_eq!(c["sub"], "dave/../admin");
    assert_eq!(c["client_id"], "cli-client");
    assert_eq!(c["aud"], "http://x.test");
    assert_eq!(c["scope"], "a b");
    // Signed by the default zone's current key.
    let zone = Zone::new(ZoneConfig::default(), "http://127.0.0.1:9999").expect("zone");
    let decoded = mock_keycard::jwt::decode(&token).expect("decode");
    assert_eq!(
        decoded.header.kid.as_deref(),
        Some(zone.current_kid().as_str())
    );
    let verified = zone
        .verify_signature(&token)
        .expect("signed by the zone's current key");
    assert_eq!(verified.str("sub"), Some("dave/../admin"));
    let key = &mock_keycard::embedded_pool().expect("pool")[0];
    assert_eq!(
        key.verify_token(&token).map(|c| c.int("exp").is_some()),
        Ok(true)
    );
    let other = mock_keycard::other_zone_key().expect("other");
    assert!(other.verify_token(&token).is_err());

    let help = Command::new(bin).arg("--help").output().expect("help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--config", "--port", "--host", "mint", "serve"] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
    let bad = Command::new(bin)
        .args(["mint", "--config", "/nonexistent.toml"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read zone config"));
}
