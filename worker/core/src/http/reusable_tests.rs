//! [`Reusable`]: a response the gateway marks reusable is the same (status, headers, body)
//! for every request with the same method, URL and `MCP-Protocol-Version`, whatever else
//! the request carries; and the gateway marks nothing else. A host that answers from a
//! copy (the wasm host does, for the protected-resource metadata) relies on exactly this.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;

use super::Reusable;
use super::gateway::Gateway;
use crate::auth::tests::{RESOURCE, Zone, good_claims, rs256, test_config};
use crate::oauth::metadata::{AS_METADATA_PATH, PRM_MCP_PATH, PRM_PATH};
use crate::server::Server;

fn gateway(zone: &Zone) -> Gateway {
    Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap()
}

/// What a copy must reproduce.
type Answer = (u16, Vec<(String, String)>, Bytes);

async fn answer(
    gateway: &Gateway,
    method: &str,
    path: &str,
    version: Option<&str>,
    others: &[(&str, String)],
) -> (Answer, bool) {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{RESOURCE}{path}"));
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    for (name, value) in others {
        b = b.header(*name, value.as_str());
    }
    let response = gateway
        .handle_streaming(b.body(Bytes::new()).unwrap())
        .await;
    let reusable = response.extensions().get::<Reusable>().is_some();
    let (parts, body) = response.into_parts();
    let body = match body {
        super::body::Body::Full(b) => b,
        super::body::Body::Stream(_) => Bytes::from_static(b"<stream>"),
    };
    let mut headers: Vec<_> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    ((parts.status.as_u16(), headers, body), reusable)
}

/// The requests of `others`' variations whose answer differs from the first one's.
async fn variations(
    gateway: &Gateway,
    method: &str,
    path: &str,
    version: Option<&str>,
    others: &[Vec<(&str, String)>],
) -> usize {
    let (first, _) = answer(gateway, method, path, version, &[]).await;
    let mut differ = 0;
    for o in others {
        if answer(gateway, method, path, version, o).await.0 != first {
            differ += 1;
        }
    }
    differ
}

fn other_headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let name = prop::sample::select(vec![
        "authorization",
        "origin",
        "accept",
        "content-type",
        "user-agent",
        "cookie",
        "mcp-session-id",
        "x-forwarded-host",
        "host",
        "last-event-id",
    ]);
    let value = prop_oneof![
        Just(format!("Bearer {}", rs256("k1", &good_claims()))),
        Just("https://evil.example".to_owned()),
        Just("application/json, text/event-stream".to_owned()),
        "[ -~]{0,40}",
    ];
    prop::collection::vec((name, value), 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every answer marked reusable is the same for any other headers.
    #[test]
    fn a_reusable_answer_depends_on_method_url_and_version_alone(
        others in other_headers(),
        path in prop::sample::select(vec![PRM_PATH, PRM_MCP_PATH]),
        version in prop::option::of(prop::sample::select(vec!["2025-03-26", "2025-06-18", "2025-11-25"])),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let zone = Zone::new();
            let gateway = gateway(&zone);
            let (plain, reusable) = answer(&gateway, "GET", path, version, &[]).await;
            prop_assert!(reusable, "the metadata is reusable");
            prop_assert_eq!(plain.0, 200);
            let (with_others, reusable) = answer(&gateway, "GET", path, version, &others).await;
            if reusable {
                prop_assert_eq!(with_others, plain);
            }
            Ok(())
        })?;
    }
}

/// The comparison above catches an answer that depends on more than its key (a 401 for a
/// malformed token and the answer for a good one differ), and no other answer is marked
/// reusable.
#[tokio::test]
async fn answers_that_depend_on_more_are_not_reusable_and_the_check_sees_it() {
    let zone = Zone::new();
    let gateway = gateway(&zone);
    let tokens = vec![
        vec![("authorization", "Bearer not.a.token".to_owned())],
        vec![(
            "authorization",
            format!("Bearer {}", rs256("k1", &good_claims())),
        )],
    ];
    // A deliberately wrong marking would be caught: these answers vary with a header
    // outside the key.
    assert!(variations(&gateway, "POST", "/mcp", None, &tokens).await > 0);
    for (method, path) in [
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("GET", AS_METADATA_PATH),
        ("GET", "/health"),
        ("GET", "/nowhere"),
        ("OPTIONS", PRM_PATH),
        ("POST", PRM_PATH),
    ] {
        let (_, reusable) = answer(&gateway, method, path, None, &[]).await;
        assert!(!reusable, "{method} {path} must not be marked reusable");
    }
}
