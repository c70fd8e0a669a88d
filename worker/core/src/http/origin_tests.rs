//! The gateway's request-level hardening: pinned public origins (421, nothing derived
//! from an origin this server does not serve), the browser `Origin` check against the
//! configured origins (DNS rebinding), duplicate singleton headers (400), and a CORS
//! preflight that advertises only what each path accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde_json::{Value, json};

use super::gateway::Gateway;
use crate::auth::tests::{ISS, RESOURCE, Zone, good_claims, rs256, test_config};
use crate::config::Config;
use crate::server::Server;

const EVIL: &str = "http://evil.example:8787";
const PRM: &str = "/.well-known/oauth-protected-resource/mcp";

fn body(r: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

/// The test configuration with `KEYCARD_PUBLIC_ORIGINS` set to `origins`.
fn pinned(origins: &[&str]) -> Config {
    let mut config = test_config();
    config.public_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    config
}

fn mcp_ping(origin: &str, token: &str, extra: &[(&str, &str)]) -> http::Request<Bytes> {
    let mut b = http::Request::post(format!("{origin}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in extra {
        b = b.header(*name, *value);
    }
    b.body(Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    ))
    .unwrap()
}

fn get(url: &str, extra: &[(&str, &str)]) -> http::Request<Bytes> {
    let mut b = http::Request::get(url);
    for (name, value) in extra {
        b = b.header(*name, *value);
    }
    b.body(Bytes::new()).unwrap()
}

fn token_for(audience: &str) -> String {
    let mut claims = good_claims();
    claims["aud"] = json!(audience);
    rs256("k1", &claims)
}

#[tokio::test]
async fn unpinned_gateway_takes_the_resource_from_the_routed_origin() {
    // The Workers default: the routed URL is trustworthy, so each origin is its own
    // resource. Documented, and the reason a native host must pin.
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let prm = g.handle(get(&format!("{EVIL}{PRM}"), &[])).await;
    assert_eq!(body(&prm)["resource"], EVIL);
}

#[tokio::test]
async fn a_pinned_gateway_refuses_every_other_origin_with_421_before_deriving_anything() {
    let zone = Zone::new();
    let g = Gateway::new(pinned(&[RESOURCE]), zone.ports(), Server::demo()).unwrap();
    let evil_token = token_for(EVIL);
    let forged = [
        EVIL,
        "https://evil.example",
        "http://mcp.example.com",       // other scheme
        "https://mcp.example.com:8443", // other port
        "https://mcp.example.com.evil.example",
        "http://127.0.0.1:8787",
    ];
    for origin in forged {
        for request in [
            mcp_ping(origin, &evil_token, &[]),
            get(&format!("{origin}{PRM}"), &[]),
            get(
                &format!("{origin}/.well-known/oauth-protected-resource"),
                &[],
            ),
            get(
                &format!("{origin}/.well-known/oauth-authorization-server"),
                &[],
            ),
            get(&format!("{origin}/.well-known/jwks.json"), &[]),
            get(&format!("{origin}/nowhere"), &[]),
        ] {
            let path = request.uri().path().to_owned();
            let r = g.handle(request).await;
            assert_eq!(r.status(), 421, "{origin}{path}");
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(r.headers()["access-control-allow-origin"], "*");
            let b = body(&r);
            assert_eq!(b["error"], "misdirected_request", "{origin}{path}");
            let description = b["error_description"].as_str().unwrap();
            assert!(description.contains(RESOURCE), "{description}");
            assert!(r.headers().get("www-authenticate").is_none());
        }
    }
    // Nothing was fetched: no discovery, no JWKS, no token verification, no exchange.
    assert_eq!(zone.http.request_count(), 0);

    // The pinned origin works as before; its metadata names only it.
    let prm = g.handle(get(&format!("{RESOURCE}{PRM}"), &[])).await;
    assert_eq!(prm.status(), 200);
    assert_eq!(body(&prm)["resource"], RESOURCE);
    let legacy = g
        .handle(get(
            &format!("{RESOURCE}{PRM}"),
            &[("mcp-protocol-version", "2025-03-26")],
        ))
        .await;
    assert_eq!(body(&legacy)["authorization_servers"], json!([RESOURCE]));
    // A token for the forged audience is refused at the pinned origin too.
    let r = g.handle(mcp_ping(RESOURCE, &evil_token, &[])).await;
    assert_eq!(r.status(), 401);
    let r = g
        .handle(mcp_ping(RESOURCE, &token_for(RESOURCE), &[]))
        .await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    // Health and preflight answer on any origin (load balancers, browsers).
    assert_eq!(
        g.handle(get(&format!("{EVIL}/health"), &[])).await.status(),
        200
    );
    let options = http::Request::options(format!("{EVIL}/mcp"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(g.handle(options).await.status(), 204);
}

#[tokio::test]
async fn a_pinned_gateway_serves_each_of_several_origins_as_its_own_resource() {
    let zone = Zone::new();
    let other = "https://mcp.example.net";
    let g = Gateway::new(pinned(&[RESOURCE, other]), zone.ports(), Server::demo()).unwrap();
    for origin in [RESOURCE, other] {
        let prm = g.handle(get(&format!("{origin}{PRM}"), &[])).await;
        assert_eq!(body(&prm)["resource"], origin);
    }
    // One origin's token is not the other's.
    let r = g.handle(mcp_ping(other, &token_for(RESOURCE), &[])).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        g.handle(mcp_ping(other, &token_for(other), &[]))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_pinned_gateway_without_an_absolute_uri_is_400_not_a_guess() {
    let zone = Zone::new();
    let g = Gateway::new(pinned(&[RESOURCE]), zone.ports(), Server::demo()).unwrap();
    let r = g.handle(get(PRM, &[("host", "mcp.example.com")])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn the_origin_check_uses_the_configured_origins_not_the_host() {
    let zone = Zone::new();
    let token = token_for(RESOURCE);
    // Unpinned, with a configured resource id: a page on that origin may call; a
    // rebinding page whose Host and Origin both name its own domain may not, even though
    // the (non-absolute) request's Host agrees with its Origin.
    let mut config = test_config();
    config.resource_id = Some(RESOURCE.into());
    let g = Gateway::new(config, zone.ports(), Server::demo()).unwrap();
    let r = g
        .handle(mcp_ping(RESOURCE, &token, &[("origin", RESOURCE)]))
        .await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));

    // Pinned: own origins are the pinned ones; the rebinding page is refused (its
    // request is misdirected, and its Origin would be refused anyway).
    let g = Gateway::new(pinned(&[RESOURCE]), zone.ports(), Server::demo()).unwrap();
    let r = g.handle(mcp_ping(EVIL, &token, &[("origin", EVIL)])).await;
    assert_eq!(r.status(), 421);
    let r = g
        .handle(mcp_ping(RESOURCE, &token, &[("origin", EVIL)]))
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(body(&r)["error"]["code"], -32000);
    let r = g
        .handle(mcp_ping(
            RESOURCE,
            &token,
            &[("origin", "https://MCP.example.com:443")],
        ))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn duplicate_singleton_headers_are_400_on_every_path() {
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let token = token_for(RESOURCE);
    let cases: [(&str, &str, &str); 6] = [
        ("mcp-protocol-version", "2025-06-18", "2025-03-26"),
        ("mcp-method", "ping", "tools/call"),
        ("mcp-name", "whoami", "github_user"),
        ("origin", RESOURCE, "https://evil.example"),
        ("content-type", "application/json", "text/plain"),
        // The same value twice is still two headers: an intermediary may join them.
        ("mcp-protocol-version", "2025-06-18", "2025-06-18"),
    ];
    for (name, first, second) in cases {
        let r = g
            .handle(mcp_ping(RESOURCE, &token, &[(name, first), (name, second)]))
            .await;
        assert_eq!(r.status(), 400, "{name}");
        let b = body(&r);
        assert_eq!(b["jsonrpc"], "2.0", "{name}");
        assert_eq!(b["error"]["code"], -32000, "{name}");
        let message = b["error"]["message"].as_str().unwrap().to_ascii_lowercase();
        assert!(message.contains(name), "{message}");
        assert!(message.contains("at most once"), "{message}");
        // Outside /mcp: the OAuth-shaped body.
        let r = g
            .handle(get(
                &format!("{RESOURCE}{PRM}"),
                &[(name, first), (name, second)],
            ))
            .await;
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(body(&r)["error"], "invalid_request");
    }
    // Refused before authentication: nothing fetched.
    assert_eq!(zone.http.request_count(), 0);
    // One of each is fine.
    let r = g
        .handle(mcp_ping(
            RESOURCE,
            &token,
            &[
                ("mcp-protocol-version", "2025-06-18"),
                ("mcp-method", "ping"),
            ],
        ))
        .await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    let _ = ISS;
}

#[tokio::test]
async fn the_preflight_advertises_only_what_each_path_accepts() {
    let zone = Zone::new();
    let g = Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap();
    let preflight = |path: &str| {
        http::Request::options(format!("{RESOURCE}{path}"))
            .header("access-control-request-method", "POST")
            .body(Bytes::new())
            .unwrap()
    };
    let mcp = g.handle(preflight("/mcp")).await;
    assert_eq!(mcp.status(), 204);
    assert_eq!(
        mcp.headers()["access-control-allow-methods"],
        "POST, DELETE, OPTIONS"
    );
    let allowed = mcp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "mcp-session-id",
    ] {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }
    assert!(
        !allowed.contains("last-event-id"),
        "last-event-id in {allowed}"
    );
    let prm = g.handle(preflight(PRM)).await;
    assert_eq!(
        prm.headers()["access-control-allow-methods"],
        "GET, OPTIONS"
    );
    // No GET stream; and without sessions (this gateway has none) DELETE is refused too.
    for method in [http::Method::GET, http::Method::DELETE] {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(format!("{RESOURCE}/mcp"))
            .body(Bytes::new())
            .unwrap();
        assert_eq!(g.handle(request).await.status(), 405, "{method}");
    }
    let exposed = mcp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    // Exposed so a browser client can read the id `initialize` issues (sessions on).
    assert!(
        exposed.to_ascii_lowercase().contains("mcp-session-id"),
        "{exposed}"
    );
}
