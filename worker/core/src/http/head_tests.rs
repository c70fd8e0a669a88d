//! [`Gateway::answer_from_head`]: a request refused from its head alone gets exactly the
//! answer [`Gateway::handle`] gives it (status, headers, body), whatever its body; a
//! request it lets through is answered by `handle` as if it had never been looked at; and
//! the claim checks it leaves behind are used only for the same `Authorization` header.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde_json::json;

use super::gateway::Gateway;
use crate::auth::tests::{NOW, RESOURCE, Zone, good_claims, rs256, test_config};
use crate::server::Server;

const PING: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn token_with(change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut claims = good_claims();
    change(&mut claims);
    rs256("k1", &claims)
}

/// `POST /mcp` with `headers` and `body`, split into a head and the body.
fn post(headers: &[(&str, &str)], body: &[u8]) -> (http::Request<()>, Bytes) {
    let mut b = http::Request::post(format!("{RESOURCE}/mcp"));
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    (b.body(()).unwrap(), Bytes::copy_from_slice(body))
}

fn gateway(zone: &Zone) -> Gateway {
    Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap()
}

#[tokio::test]
async fn a_request_answered_from_its_head_gets_what_handle_answers() {
    let zone = Zone::new();
    let good = format!("Bearer {}", rs256("k1", &good_claims()));
    let expired = format!("Bearer {}", token_with(|c| c["exp"] = json!(NOW - 600)));
    let elsewhere = format!(
        "Bearer {}",
        token_with(|c| c["aud"] = json!("https://other.example"))
    );
    let json_types = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        json_types
            .iter()
            .chain(extra)
            .map(|(n, v)| (*n, (*v).to_owned()))
            .collect()
    };
    // (case, headers, answered from the head?)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, bool);
    let cases: Vec<Case> = vec![
        ("no token", with(&[]), true),
        (
            "not a JWT",
            with(&[("authorization", "Bearer bad.token.value")]),
            true,
        ),
        ("expired", with(&[("authorization", &expired)]), true),
        (
            "another resource",
            with(&[("authorization", &elsewhere)]),
            true,
        ),
        ("basic auth", with(&[("authorization", "Basic YTpi")]), true),
        (
            "announced body too large",
            with(&[("authorization", &good), ("content-length", "99999999")]),
            true,
        ),
        (
            "no token, announced body too large",
            with(&[("content-length", "99999999")]),
            true,
        ),
        (
            "not JSON",
            vec![
                ("content-type", "text/plain".into()),
                ("authorization", good.clone()),
            ],
            true,
        ),
        ("valid", with(&[("authorization", &good)]), false),
    ];
    for (case, headers, from_head) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let g = gateway(&zone);
        let (head, body) = post(&headers, PING);
        let plain = g.handle(head.map(|()| body)).await;

        let g = gateway(&zone);
        let (mut head, body) = post(&headers, PING);
        let early = g.answer_from_head(&mut head);
        assert_eq!(early.is_some(), from_head, "{case}");
        let answer = match early {
            Some(answer) => answer,
            None => g.handle(head.map(|()| body)).await,
        };
        assert_eq!(answer.status(), plain.status(), "{case}");
        assert_eq!(answer.headers(), plain.headers(), "{case}");
        assert_eq!(answer.body(), plain.body(), "{case}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_without_content_length_is_checked_after_the_token() {
    let zone = Zone::new();
    let big = vec![b' '; test_config().limits.max_body_bytes + 1];
    let types = [("content-type", "application/json")];
    let (head, body) = post(&types, &big);
    let anonymous = gateway(&zone).handle(head.map(|()| body)).await;
    assert_eq!(anonymous.status(), http::StatusCode::UNAUTHORIZED);

    let good = format!("Bearer {}", rs256("k1", &good_claims()));
    let (head, body) = post(&[types[0], ("authorization", &good)], &big);
    let known = gateway(&zone).handle(head.map(|()| body)).await;
    assert_eq!(known.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_early_checks_are_used_only_for_the_same_authorization_header() {
    let zone = Zone::new();
    let g = gateway(&zone);
    let good = format!("Bearer {}", rs256("k1", &good_claims()));
    let (mut head, body) = post(
        &[
            ("content-type", "application/json"),
            ("authorization", &good),
        ],
        PING,
    );
    assert!(g.answer_from_head(&mut head).is_none());
    // A host that changes the header afterwards gets the new header checked.
    head.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_static("Bearer bad.token.value"),
    );
    let answer = g.handle(head.map(|()| body)).await;
    assert_eq!(answer.status(), http::StatusCode::UNAUTHORIZED);

    // Unchanged, the request goes through (the checks are not lost either).
    let (mut head, body) = post(
        &[
            ("content-type", "application/json"),
            ("authorization", &good),
        ],
        PING,
    );
    assert!(g.answer_from_head(&mut head).is_none());
    assert_eq!(
        g.handle(head.map(|()| body)).await.status(),
        http::StatusCode::OK
    );
}
