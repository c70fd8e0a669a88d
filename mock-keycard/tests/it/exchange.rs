//! RFC 8693 token exchange: success with the full identity chain, and every refusal.

use std::collections::BTreeMap;

use http::header;
use mock_keycard::{Audience, MintRequest, Outcome, Zone};
use serde_json::{Value, json};

use crate::helpers::{
    MCP, UPSTREAM, WORKER, basic, call, claims, exchange_pairs, form, json_post, user_token, zone,
};

async fn upstream_user(zone: &Zone, token: &str) -> crate::helpers::Reply {
    let request = http::Request::get("/upstream/github/user")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .expect("request");
    call(zone, request).await
}

#[tokio::test]
async fn exchange_issues_an_upstream_token_bound_to_user_application_and_resource() {
    let zone = zone();
    let subject = user_token(&zone, "alice");
    let subject_jti = claims(&subject)["jti"].clone();
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&subject, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["issued_token_type"], mock_keycard::ACCESS_TOKEN_TYPE);
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read:user user:email");
    let token = body["access_token"].as_str().expect("access_token");
    let header = mock_keycard::jwt::decode(token).expect("decode").header;
    // Upstream tokens are ES256 with the zone's upstream key (`[keys] upstream_alg`).
    assert_eq!(header.alg, "ES256");
    assert_eq!(header.kid, zone.upstream_kid());
    let c = claims(token);
    assert_eq!(c["iss"], crate::helpers::ISSUER);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], UPSTREAM);
    assert_eq!(c["client_id"], "mcp-client-a");
    assert_eq!(c["act"], json!({ "sub": "mcp-worker" }));
    assert_eq!(c["subject_jti"], subject_jti);
    let jti = c["jti"].as_str().expect("jti");
    assert_ne!(Some(jti), subject_jti.as_str());

    let event = zone.audit_by_jti(jti).expect("audited");
    assert_eq!(event.event, "credentials:issue");
    assert_eq!(event.outcome, Outcome::Issued);
    assert_eq!(event.user.as_deref(), Some("alice"));
    assert_eq!(event.application.as_deref(), Some("mcp-worker"));
    assert_eq!(event.original_client.as_deref(), Some("mcp-client-a"));
    assert_eq!(event.resource.as_deref(), Some(UPSTREAM));
    assert_eq!(
        event.grant_type.as_deref(),
        Some(mock_keycard::TOKEN_EXCHANGE)
    );

    let user = upstream_user(&zone, token).await;
    assert_eq!(user.status, 200, "{}", user.text);
    let user = user.json();
    assert_eq!(user["login"], "alice");
    assert_eq!(user["id"], 1001);
    assert_eq!(user["keycard"]["sub"], "alice");
    assert_eq!(user["keycard"]["iss"], crate::helpers::ISSUER);
    assert_eq!(user["keycard"]["client_id"], "mcp-client-a");
    assert_eq!(user["keycard"]["act"], "mcp-worker");
    assert_eq!(user["keycard"]["jti"], jti);
    assert_eq!(user["keycard"]["audited"], true);
}

#[tokio::test]
async fn subject_audience_matches_the_provided_resource_canonically() {
    let zone = zone();
    let subject = zone
        .mint(MintRequest {
            sub: Some("alice".into()),
            audience: Some(Audience::Many(vec![
                "http://other.test".into(),
                format!("{MCP}/"),
            ])),
            ..MintRequest::default()
        })
        .expect("mint")
        .access_token;
    let reply = call(
        &zone,
        form(
            "/token",
            &exchange_pairs(&subject, &format!("{UPSTREAM}/")),
            WORKER,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        claims(reply.json()["access_token"].as_str().expect("token"))["aud"],
        UPSTREAM
    );
}

#[tokio::test]
async fn client_secret_post_and_scope_narrowing_work() {
    let zone = zone();
    let subject = user_token(&zone, "bob");
    let mut pairs = exchange_pairs(&subject, UPSTREAM);
    pairs.extend([
        ("client_id", "mcp-worker"),
        ("client_secret", "mcp-worker-secret"),
        ("scope", "read:user"),
    ]);
    let reply = call(&zone, form("/token", &pairs, None)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["scope"], "read:user");
    assert_eq!(
        claims(reply.json()["access_token"].as_str().expect("token"))["sub"],
        "bob"
    );
}

#[tokio::test]
async fn adversarial_subjects_and_two_clients_keep_their_identity() {
    let zone = zone();
    for user in zone.users().into_iter().filter(|u| !u.consents.is_empty()) {
        for client in ["mcp-client-a", "mcp-client-b"] {
            let subject = zone
                .mint(MintRequest {
                    sub: Some(user.sub.clone()),
                    client_id: Some(client.to_owned()),
                    ..MintRequest::default()
                })
                .expect("mint")
                .access_token;
            let reply = call(
                &zone,
                form("/token", &exchange_pairs(&subject, UPSTREAM), WORKER),
            )
            .await;
            assert_eq!(reply.status, 200, "{}: {}", user.sub, reply.text);
            let token = reply.json()["access_token"]
                .as_str()
                .expect("token")
                .to_owned();
            let seen = upstream_user(&zone, &token).await.json();
            assert_eq!(seen["login"], user.profile.login.as_str());
            assert_eq!(seen["keycard"]["sub"], user.sub.as_str());
            assert_eq!(seen["keycard"]["client_id"], client);
        }
    }
}

/// Runs one refused exchange and returns `(status, body)`, checking the audit recorded it.
async fn refused(zone: &Zone, request: http::Request<axum::body::Body>) -> (u16, Value) {
    let before = zone.audit().len();
    let reply = call(zone, request).await;
    assert!(reply.status.is_client_error(), "{}", reply.text);
    let body = reply.json();
    let audit = zone.audit();
    assert_eq!(audit.len(), before + 1);
    let last = audit.last().expect("event");
    assert_eq!(last.outcome, Outcome::Refused);
    assert!(last.jti.is_none());
    let reason = last.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with(body["error"].as_str().unwrap_or("?")),
        "{reason}"
    );
    if reply.status == 401 {
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Basic realm="mock-keycard", charset="UTF-8""#)
        );
    }
    (reply.status.as_u16(), body)
}

#[tokio::test]
async fn every_refusal_has_the_right_status_error_and_description() {
    let zone = zone();
    let mint = |req: MintRequest| zone.mint(req).expect("mint").access_token;
    let alice = user_token(&zone, "alice");
    let forged = mint(MintRequest {
        sub: Some("alice".into()),
        key: Some("other-zone".into()),
        kid: Some(zone.current_kid()),
        ..MintRequest::default()
    });
    let foreign_kid = mint(MintRequest {
        sub: Some("alice".into()),
        key: Some("other-zone".into()),
        ..MintRequest::default()
    });
    let wrong_aud = mint(MintRequest {
        sub: Some("alice".into()),
        audience: Some(Audience::Many(vec![
            "http://other.test".into(),
            UPSTREAM.into(),
        ])),
        ..MintRequest::default()
    });
    let expired = mint(MintRequest {
        sub: Some("alice".into()),
        lifetime_secs: Some(-5),
        ..MintRequest::default()
    });
    let wrong_iss = mint(MintRequest {
        sub: Some("alice".into()),
        extra_claims: [("iss".to_owned(), json!("http://127.0.0.1:9999"))]
            .into_iter()
            .collect(),
        ..MintRequest::default()
    });
    let subless = mint(MintRequest::default());
    let mallory = user_token(&zone, "mallory");
    let stranger = user_token(&zone, "not-a-fixture-user");

    let ex = |subject: &str| {
        exchange_pairs(subject, UPSTREAM)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    let to_form = |pairs: &[(String, String)], auth: Option<(&str, &str)>| {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form("/token", &borrowed, auth)
    };
    let with = |mut pairs: Vec<(String, String)>, extra: &[(&str, &str)]| {
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        pairs
    };
    let retarget = |resource: &str| {
        exchange_pairs(&alice, resource)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };

    let cases: Vec<(&str, http::Request<axum::body::Body>, u16, &str)> = vec![
        (
            "bad_signature",
            to_form(&ex(&forged), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "unknown_kid",
            to_form(&ex(&foreign_kid), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "wrong_audience",
            to_form(&ex(&wrong_aud), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "expired_subject_token",
            to_form(&ex(&expired), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "wrong_issuer",
            to_form(&ex(&wrong_iss), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "subless_subject_token",
            to_form(&ex(&subless), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "unknown_user",
            to_form(&ex(&stranger), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "garbage_subject_token",
            to_form(&ex("not.a.jwt"), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "unknown_client",
            to_form(&ex(&alice), Some(("nobody", "x"))),
            401,
            "invalid_client",
        ),
        (
            "wrong_secret",
            to_form(&ex(&alice), Some(("mcp-worker", "wrong"))),
            401,
            "invalid_client",
        ),
        (
            "wrong_secret_post",
            to_form(
                &with(
                    ex(&alice),
                    &[("client_id", "mcp-worker"), ("client_secret", "nope")],
                ),
                None,
            ),
            401,
            "invalid_client",
        ),
        (
            "no_client_auth",
            to_form(&ex(&alice), None),
            401,
            "invalid_client",
        ),
        (
            "confidential_client_without_secret",
            to_form(&with(ex(&alice), &[("client_id", "mcp-worker")]), None),
            401,
            "invalid_client",
        ),
        (
            "public_client_cannot_exchange",
            to_form(&with(ex(&alice), &[("client_id", "mcp-client-a")]), None),
            400,
            "unauthorized_client",
        ),
        (
            "resource_not_a_dependency",
            to_form(&ex(&alice), Some(("no-deps-worker", "no-deps-secret"))),
            400,
            "invalid_target",
        ),
        (
            "unknown_resource",
            to_form(&retarget("http://other.test/api"), WORKER),
            400,
            "invalid_target",
        ),
        (
            "user_without_consent",
            to_form(&ex(&mallory), WORKER),
            400,
            "invalid_grant",
        ),
        (
            "invalid_scope",
            to_form(&with(ex(&alice), &[("scope", "admin:org")]), WORKER),
            400,
            "invalid_scope",
        ),
        (
            "missing_subject_token",
            to_form(
                &[
                    ("grant_type".into(), mock_keycard::TOKEN_EXCHANGE.into()),
                    ("resource".into(), UPSTREAM.into()),
                ],
                WORKER,
            ),
            400,
            "invalid_request",
        ),
        (
            "bad_subject_token_type",
            to_form(
                &ex(&alice)
                    .into_iter()
                    .map(|(k, v)| {
                        if k == "subject_token_type" {
                            (k, "urn:x".into())
                        } else {
                            (k, v)
                        }
                    })
                    .collect::<Vec<_>>(),
                WORKER,
            ),
            400,
            "invalid_request",
        ),
        (
            "missing_resource",
            to_form(
                &ex(&alice)
                    .into_iter()
                    .filter(|(k, _)| k != "resource")
                    .collect::<Vec<_>>(),
                WORKER,
            ),
            400,
            "invalid_request",
        ),
        (
            "two_auth_methods",
            to_form(
                &with(
                    ex(&alice),
                    &[
                        ("client_id", "mcp-worker"),
                        ("client_secret", "mcp-worker-secret"),
                    ],
                ),
                WORKER,
            ),
            400,
            "invalid_request",
        ),
        (
            "unsupported_grant_type",
            form("/token", &[("grant_type", "password")], WORKER),
            400,
            "unsupported_grant_type",
        ),
        (
            "missing_grant_type",
            form("/token", &[("scope", "x")], WORKER),
            400,
            "invalid_request",
        ),
        (
            "repeated_parameter",
            form(
                "/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("grant_type", "client_credentials"),
                ],
                WORKER,
            ),
            400,
            "invalid_request",
        ),
        (
            "json_body",
            json_post("/token", &json!({"grant_type": "client_credentials"})),
            400,
            "invalid_request",
        ),
    ];
    let mut bodies = BTreeMap::new();
    for (name, request, status, error) in cases {
        let (got_status, body) = refused(&zone, request).await;
        assert_eq!(
            (got_status, body["error"].as_str()),
            (status, Some(error)),
            "{name}: {body}"
        );
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "{name}");
        assert!(
            !description.contains("mcp-worker-secret") && !description.contains("eyJ"),
            "{name} leaks: {description}"
        );
        bodies.insert(name, body);
    }
    insta::assert_json_snapshot!("token_error_bodies", bodies);
}

#[tokio::test]
async fn consent_revoked_at_runtime_refuses_until_granted_again() {
    let zone = zone();
    let subject = user_token(&zone, "bob");
    let exchange = || form("/token", &exchange_pairs(&subject, UPSTREAM), WORKER);
    assert_eq!(call(&zone, exchange()).await.status, 200);
    let reply = call(
        &zone,
        json_post("/admin/consent", &json!({"sub": "bob", "granted": false})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["resource"], UPSTREAM);
    assert!(!zone.has_consented("bob", UPSTREAM));
    let reply = call(&zone, exchange()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert!(zone.grant_consent("bob", UPSTREAM));
    assert_eq!(call(&zone, exchange()).await.status, 200);
    assert!(zone.revoke_consent("bob", UPSTREAM));
    assert_eq!(call(&zone, exchange()).await.status, 400);
    let unknown = call(
        &zone,
        json_post("/admin/consent", &json!({"sub": "nobody", "granted": true})),
    )
    .await;
    assert_eq!(unknown.status, 404);
    // Runtime consent changes survive a change of the MCP resource.
    zone.set_mcp_resource("http://127.0.0.1:9000");
    assert!(!zone.has_consented("bob", UPSTREAM));
    assert!(zone.has_consented("alice", UPSTREAM));
}

#[tokio::test]
async fn mcp_resource_set_at_runtime_moves_the_applications() {
    let zone = zone();
    let old = user_token(&zone, "alice");
    zone.set_mcp_resource("http://127.0.0.1:9000/");
    assert_eq!(zone.mcp_resource(), "http://127.0.0.1:9000");
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&old, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_grant", "{}", reply.text);
    let fresh = user_token(&zone, "alice");
    assert_eq!(claims(&fresh)["aud"], "http://127.0.0.1:9000");
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&fresh, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = call(
        &zone,
        json_post("/admin/mcp-resource", &json!({"url": MCP})),
    )
    .await;
    assert_eq!(reply.json()["mcp_resource"], MCP);
    assert!(zone.application("http://127.0.0.1:8787").is_some());
}

#[tokio::test]
async fn client_credentials_issue_application_tokens_for_confidential_clients_only() {
    let zone = zone();
    let reply = call(
        &zone,
        form("/token", &[("grant_type", "client_credentials")], WORKER),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let c = claims(reply.json()["access_token"].as_str().expect("token"));
    assert_eq!(c["sub"], "mcp-worker");
    assert_eq!(c["client_id"], "mcp-worker");
    assert_eq!(c["aud"], MCP);
    assert_eq!(c["scope"], "mcp:tools");
    let reply = call(
        &zone,
        form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "mcp-client-a"),
            ],
            None,
        ),
    )
    .await;
    assert_eq!(reply.json()["error"], "unauthorized_client");
    let reply = call(
        &zone,
        http::Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::AUTHORIZATION,
                basic("mcp-worker", "mcp-worker-secret"),
            )
            .body(axum::body::Body::from(
                "grant_type=client_credentials&resource=http%3A%2F%2Fnope.test",
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_target");
}
