//! `cargo run -p emulator` as a library: the embedded zone, real sockets, real clients.

use emulator::cli::ServeArgs;
use mock_keycard::MintRequest;

use crate::helpers::{spawn_dev_server, tool_call};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_server_serves_both_tools_with_the_embedded_zone() {
    let server = spawn_dev_server().await;
    let zone = server.zone.as_ref().unwrap();
    let banner = server.banner();
    assert!(banner.contains(&server.mcp_url), "{banner}");
    assert!(banner.contains("\"mcpServers\""), "{banner}");
    assert!(
        banner.contains(r#""args":["mcp-remote","http://127.0.0.1:"#),
        "{banner}"
    );
    assert!(banner.contains(r#""url":"http://127.0.0.1:"#), "{banner}");
    assert!(banner.contains("/dev/token"), "{banner}");
    assert!(banner.contains("token --sub alice"), "{banner}");

    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/health", server.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let call = |name: &str| {
        client
            .post(&server.mcp_url)
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(tool_call(name))
            .send()
    };
    let whoami: serde_json::Value = call("whoami").await.unwrap().json().await.unwrap();
    assert_eq!(
        whoami["result"]["structuredContent"]["subject"], "alice",
        "{whoami}"
    );
    let gh: serde_json::Value = call("github_user").await.unwrap().json().await.unwrap();
    let profile = &gh["result"]["structuredContent"];
    assert_eq!(profile["login"], "alice", "{gh}");
    assert_eq!(profile["keycard"]["sub"], "alice", "{gh}");
    assert_eq!(profile["keycard"]["iss"], zone.issuer().as_str(), "{gh}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_external_config_is_a_clear_error() {
    let args = ServeArgs {
        port: Some(0),
        ..ServeArgs::default()
    };
    let env = vec![
        (
            "KEYCARD_ISSUER".to_owned(),
            "https://zone.example".to_owned(),
        ),
        (
            "KEYCARD_RESOURCE_URL".to_owned(),
            "https://api.github.com".to_owned(),
        ),
    ];
    let err = emulator::serve::start_with_env(&args, env)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KEYCARD_CLIENT_ID"), "{err}");
}

#[test]
fn token_command_mints_a_token_the_default_zone_accepts() {
    let args = emulator::token::TokenArgs {
        sub: Some("bob".into()),
        no_sub: false,
        client_id: None,
        scope: None,
        lifetime_secs: Some(60),
        issuer: emulator::token::DEFAULT_ZONE_ISSUER.into(),
        resource: emulator::token::DEFAULT_RESOURCE.into(),
        json: true,
    };
    let out: serde_json::Value =
        serde_json::from_str(&emulator::token::mint(&args).unwrap()).unwrap();
    let token = out["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["iss"], emulator::token::DEFAULT_ZONE_ISSUER);
    assert_eq!(claims["aud"], emulator::token::DEFAULT_RESOURCE);
    let no_subject = emulator::token::TokenArgs {
        sub: None,
        json: false,
        ..args
    };
    assert!(emulator::token::mint(&no_subject).is_err());
}
