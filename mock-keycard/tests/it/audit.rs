//! The audit log over HTTP: filters and the HTML view.

use mock_keycard::{AuditFilter, MintRequest, Outcome};

use crate::helpers::{UPSTREAM, call, claims, exchange_pairs, form, get, zone};

#[tokio::test]
async fn audit_filters_by_sub_client_outcome_and_jti() {
    let zone = zone();
    let worker = Some(("mcp-worker", "mcp-worker-secret"));
    let mut issued_jtis = Vec::new();
    for (sub, client) in [
        ("alice", "mcp-client-a"),
        ("bob", "mcp-client-b"),
        ("mallory", "mcp-client-a"),
    ] {
        let subject = zone
            .mint(MintRequest {
                sub: Some(sub.into()),
                client_id: Some(client.into()),
                ..Default::default()
            })
            .expect("mint")
            .access_token;
        let reply = call(
            &zone,
            form("/token", &exchange_pairs(&subject, UPSTREAM), worker),
        )
        .await;
        if reply.status == 200 {
            issued_jtis.push(
                claims(reply.json()["access_token"].as_str().expect("token"))["jti"]
                    .as_str()
                    .expect("jti")
                    .to_owned(),
            );
        }
    }
    assert_eq!(issued_jtis.len(), 2);
    let fetch = |query: &str| {
        let zone = zone.clone();
        let path = format!("/audit{query}");
        async move {
            let reply = call(&zone, get(&path)).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.json().as_array().cloned().expect("array")
        }
    };
    assert_eq!(fetch("").await.len(), 3);
    let alice = fetch("?sub=alice").await;
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0]["event"], "credentials:issue");
    assert_eq!(alice[0]["original_client"], "mcp-client-a");
    assert_eq!(alice[0]["application"], "mcp-worker");
    assert_eq!(fetch("?client_id=mcp-client-a").await.len(), 2);
    assert_eq!(fetch("?client_id=mcp-worker").await.len(), 3);
    let refused = fetch("?outcome=refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["user"], "mallory");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid_grant")
    );
    let by_jti = fetch(&format!("?jti={}", issued_jtis[1])).await;
    assert_eq!(by_jti.len(), 1);
    assert_eq!(by_jti[0]["user"], "bob");
    assert_eq!(fetch("?sub=bob&outcome=refused").await.len(), 0);
    assert_eq!(call(&zone, get("/audit?outcome=maybe")).await.status, 400);

    let in_process = zone.audit_query(&AuditFilter {
        outcome: Some(Outcome::Issued),
        ..Default::default()
    });
    assert_eq!(in_process.len(), 2);
    assert_eq!(
        zone.audit_by_jti(&issued_jtis[0]).and_then(|e| e.user),
        Some("alice".into())
    );
    assert!(zone.audit_by_jti("nope").is_none());

    let html = call(&zone, get("/audit.html?client_id=mcp-client-a")).await;
    assert_eq!(html.status, 200);
    assert!(
        html.text.contains("mallory") && html.text.contains("alice") && !html.text.contains("bob")
    );
}
