//! End to end through `Gateway::handle`: `POST /mcp` `tools/call github_user` for two
//! users of two issuers through one gateway, with real RS256 bearer tokens (minted from
//! `fixtures/keys/zone-1.pem`) verified against the fake zone's discovery and JWKS, an
//! RFC 8693 exchange at its STS and the upstream answering from its issuance log.

use bytes::Bytes;
use futures::executor::block_on;
use keycard_core::Gateway;
use serde_json::{Value, json};

use crate::support::fake_zone::Chain;
use crate::support::tokens::{claims, signed};
use crate::support::world::{ISSUER_A, ISSUER_B, RESOURCE_ID, T0_MS, World, WorldSpec};

async fn call_github_user(gateway: &Gateway, bearer: &str) -> Value {
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": { "name": "github_user", "arguments": {} },
    });
    let request = http::Request::post(format!("{RESOURCE_ID}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", format!("Bearer {bearer}"))
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = gateway.handle(request).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    serde_json::from_slice(response.body()).unwrap()
}

fn profile_chain(reply: &Value) -> Chain {
    let result = &reply["result"];
    assert_eq!(result["isError"], false, "{reply}");
    let profile = &result["structuredContent"];
    Chain {
        issuer: profile["iss"].as_str().unwrap().to_owned(),
        subject: profile["sub"].as_str().map(str::to_owned),
        client_id: profile["client_id"].as_str().unwrap().to_owned(),
        audience: profile["aud"].as_str().unwrap().to_owned(),
    }
}

fn chain(issuer: &str, subject: &str, client_id: &str) -> Chain {
    Chain {
        issuer: issuer.into(),
        subject: Some(subject.into()),
        client_id: client_id.into(),
        audience: RESOURCE_ID.into(),
    }
}

#[test]
fn two_users_through_one_gateway_get_their_own_profiles() {
    let world = World::new(&WorldSpec {
        token_lifetime_secs: 3600,
        max_entries: 100,
        latency: vec![2, 0, 1],
    });
    let gateway = world.gateway();
    let now = T0_MS / 1000;
    // The same `sub` at two issuers: the pair a `{sub}::{resource}` cache confuses.
    let alice_a = signed(&claims(ISSUER_A, Some("alice"), "cursor", RESOURCE_ID, now)).unwrap();
    let alice_b = signed(&claims(ISSUER_B, Some("alice"), "cursor", RESOURCE_ID, now)).unwrap();

    let (first_a, first_b) = block_on(futures::future::join(
        call_github_user(&gateway, &alice_a),
        call_github_user(&gateway, &alice_b),
    ));
    assert_eq!(profile_chain(&first_a), chain(ISSUER_A, "alice", "cursor"));
    assert_eq!(profile_chain(&first_b), chain(ISSUER_B, "alice", "cursor"));
    let summary = first_a["result"]["content"][0]["text"].as_str().unwrap();
    assert!(summary.contains("alice"), "{summary}");

    // Again: served from the cache, still each their own.
    assert_eq!(
        profile_chain(&block_on(call_github_user(&gateway, &alice_b))),
        chain(ISSUER_B, "alice", "cursor")
    );
    assert_eq!(
        profile_chain(&block_on(call_github_user(&gateway, &alice_a))),
        chain(ISSUER_A, "alice", "cursor")
    );
    let issued = world.zone.issued();
    assert_eq!(issued.len(), 2, "{issued:?}");
    let stats = gateway.cache_stats();
    assert_eq!((stats.hits, stats.exchanges), (2, 2), "{stats:?}");
    // Four upstream calls, all 200, with exactly the two issued tokens.
    let calls = world.zone.upstream_calls();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.status == 200));
    let mut used: Vec<_> = calls.iter().filter_map(|c| c.token.clone()).collect();
    used.sort();
    used.dedup();
    let mut tokens: Vec<_> = issued.iter().map(|i| i.token.clone()).collect();
    tokens.sort();
    assert_eq!(used, tokens);
    // Nothing secret in the replies.
    for reply in [&first_a, &first_b] {
        let text = reply.to_string();
        assert!(!text.contains("up-1") && !text.contains("up-2"), "{text}");
        assert!(!text.contains(&alice_a) && !text.contains(&alice_b));
    }
}

#[test]
fn a_subless_token_is_refused_by_the_tool_without_an_exchange() {
    let world = World::new(&WorldSpec {
        token_lifetime_secs: 3600,
        max_entries: 100,
        latency: Vec::new(),
    });
    let gateway = world.gateway();
    let service = signed(&claims(ISSUER_A, None, "cursor", RESOURCE_ID, T0_MS / 1000)).unwrap();
    let reply = block_on(call_github_user(&gateway, &service));
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("no subject"), "{text}");
    assert!(world.zone.issued().is_empty());
    assert!(world.zone.upstream_calls().is_empty());
}
