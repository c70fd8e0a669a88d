//! Multi-zone serving (`KEYCARD_ZONES`): each zone at `/{zone}/mcp` with its own
//! metadata, issuer, audience, credentials and token cache; a token of one zone is
//! refused on another's path; the classic single zone is unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::gateway::Gateway;
use crate::auth::tests::{NOW, OTHER_ZONE, ZONE_1, rsa_jwk, sign};
use crate::config::{ConfigError, Zones};
use crate::ports::Ports;
use crate::ports::rust_crypto::RustCrypto;
use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
use crate::server::Server;

const ORIGIN: &str = "https://mcp.example.com";
const ISS_A: &str = "https://acme.keycard.test";
const ISS_B: &str = "https://globex.keycard.test";
const UPSTREAM: &str = "https://api.github.test";

fn zones_env(name: &str) -> Option<String> {
    match name {
        "KEYCARD_ZONES" => Some(format!(
            r#"{{"acme": {{"issuer": "{ISS_A}", "client_id": "acme-app", "resource_url": "{UPSTREAM}"}},
                "globex": {{"issuer": "{ISS_B}", "client_id": "globex-app", "upstreams": {{"default": "{UPSTREAM}"}},
                            "required_scopes": ["mcp:tools", "globex:read"]}}}}"#
        )),
        "KEYCARD_ZONE_ACME_CLIENT_SECRET" => Some("acme-secret".into()),
        "KEYCARD_ZONE_GLOBEX_CLIENT_SECRET" => Some("globex-secret".into()),
        "KEYCARD_REQUIRED_SCOPES" => Some("mcp:tools".into()),
        _ => None,
    }
}

/// Both zones' discovery, JWKS and STS, and an upstream that echoes which token it got.
fn world() -> (Arc<ScriptedHttp>, Ports) {
    let http = ScriptedHttp::new(|req| {
        let uri = req.uri().to_string();
        let zone = |iss: &str, pem: &str, kid: &str| {
            if uri == format!("{iss}/.well-known/oauth-authorization-server") {
                Some(json_response(
                    200,
                    json!({
                        "issuer": iss,
                        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
                        "token_endpoint": format!("{iss}/oauth/token"),
                        "authorization_endpoint": format!("{iss}/oauth/authorize"),
                        "response_types_supported": ["code"],
                    }),
                ))
            } else if uri == format!("{iss}/.well-known/jwks.json") {
                Some(json_response(
                    200,
                    json!({"keys": [rsa_jwk(pem, kid, Some("RS256"))]}),
                ))
            } else if uri == format!("{iss}/oauth/token") {
                Some(json_response(
                    200,
                    json!({"access_token": format!("upstream-from-{iss}"), "token_type": "Bearer", "expires_in": 600}),
                ))
            } else {
                None
            }
        };
        if let Some(r) = zone(ISS_A, ZONE_1, "ka").or_else(|| zone(ISS_B, OTHER_ZONE, "kb")) {
            return Ok(r);
        }
        if uri.starts_with(UPSTREAM) {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            return Ok(json_response(200, json!({"login": auth})));
        }
        Ok(json_response(404, json!({"error": "not_found"})))
    });
    let ports = Ports {
        clock: Arc::new(SharedManualClock(ManualClock::new(NOW * 1000))),
        http: http.clone(),
        crypto: Arc::new(RustCrypto),
    };
    (http, ports)
}

fn gateway() -> (Arc<ScriptedHttp>, Gateway) {
    let (http, ports) = world();
    let zones = Zones::from_env(zones_env).unwrap();
    (http, Gateway::new(zones, ports, Server::demo()).unwrap())
}

fn token(iss: &str, aud: &str, sub: &str) -> String {
    let (pem, kid) = if iss == ISS_A {
        (ZONE_1, "ka")
    } else {
        (OTHER_ZONE, "kb")
    };
    sign(
        &json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
        &json!({
            "iss": iss, "sub": sub, "aud": aud, "client_id": "cursor",
            "exp": NOW + 600, "iat": NOW - 5, "scope": "mcp:tools globex:read", "jti": format!("{iss}-{sub}"),
        }),
        pem,
    )
}

fn post(path: &str, token: &str, body: Value) -> http::Request<Bytes> {
    http::Request::post(format!("{ORIGIN}{path}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .header("mcp-protocol-version", "2025-06-18")
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(format!("{ORIGIN}{path}"))
        .body(Bytes::new())
        .unwrap()
}

fn body(r: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn challenge(r: &http::Response<Bytes>) -> String {
    r.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn structured(r: &http::Response<Bytes>) -> Value {
    let b = body(r);
    assert!(
        b["error"].is_null() && b["result"]["isError"] != json!(true),
        "{b}"
    );
    b["result"]["structuredContent"].clone()
}

#[tokio::test]
async fn each_zone_publishes_its_own_metadata() {
    let (_, g) = gateway();
    for (zone, iss, scopes) in [
        ("acme", ISS_A, json!(["mcp:tools"])),
        ("globex", ISS_B, json!(["mcp:tools", "globex:read"])),
    ] {
        let prm = g
            .handle(get(&format!(
                "/.well-known/oauth-protected-resource/{zone}/mcp"
            )))
            .await;
        assert_eq!(prm.status(), 200);
        let doc = body(&prm);
        assert_eq!(doc["resource"], format!("{ORIGIN}/{zone}/mcp"));
        assert_eq!(doc["authorization_servers"], json!([iss]));
        assert_eq!(doc["scopes_supported"], scopes);
        insta::assert_json_snapshot!(format!("zone_prm_{zone}"), doc);

        // 2025-03-26 clients: the zone's proxied AS metadata, RFC 8414 path-inserted.
        let legacy = g
            .handle(
                http::Request::get(format!(
                    "{ORIGIN}/.well-known/oauth-protected-resource/{zone}/mcp"
                ))
                .header("mcp-protocol-version", "2025-03-26")
                .body(Bytes::new())
                .unwrap(),
            )
            .await;
        let as_base = format!("{ORIGIN}/{zone}");
        assert_eq!(body(&legacy)["authorization_servers"], json!([as_base]));
        let asm = g
            .handle(get(&format!(
                "/.well-known/oauth-authorization-server/{zone}"
            )))
            .await;
        assert_eq!(asm.status(), 200);
        let asm = body(&asm);
        assert_eq!(asm["issuer"], as_base);
        assert_eq!(asm["token_endpoint"], format!("{iss}/oauth/token"));
        let authorize = asm["authorization_endpoint"].as_str().unwrap();
        assert!(
            authorize.starts_with(&format!("{iss}/oauth/authorize?resource=")),
            "{authorize}"
        );
    }
    // The root documents and /mcp would not say which zone: 404 naming the zones.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = g.handle(get(path)).await;
        assert_eq!(r.status(), 404, "{path}");
        let text = String::from_utf8_lossy(r.body()).into_owned();
        assert!(text.contains("acme, globex"), "{text}");
    }
    for path in [
        "/.well-known/oauth-protected-resource/initech/mcp",
        "/.well-known/oauth-authorization-server/initech",
        "/.well-known/oauth-protected-resource/acme",
    ] {
        assert_eq!(g.handle(get(path)).await.status(), 404, "{path}");
    }
    let r = g.handle(post("/mcp", "x", call("whoami"))).await;
    assert_eq!(r.status(), 404);
    let r = g.handle(post("/initech/mcp", "x", call("whoami"))).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn unauthenticated_challenge_points_to_the_zones_metadata() {
    let (_, g) = gateway();
    for zone in ["acme", "globex"] {
        let r = g
            .handle(
                http::Request::post(format!("{ORIGIN}/{zone}/mcp"))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(Bytes::from(call("whoami").to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status(), 401);
        let c = challenge(&r);
        assert!(
            c.contains(&format!(
                r#"resource_metadata="{ORIGIN}/.well-known/oauth-protected-resource/{zone}/mcp""#
            )),
            "{c}"
        );
    }
    // The preflight of a zone's MCP endpoint advertises POST.
    let pre = g
        .handle(
            http::Request::options(format!("{ORIGIN}/acme/mcp"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(
        pre.headers()["access-control-allow-methods"],
        crate::http::cors::MCP_METHODS
    );
}

#[tokio::test]
async fn a_token_of_one_zone_is_refused_on_the_other_zones_path() {
    let (http, g) = gateway();
    let acme_aud = format!("{ORIGIN}/acme/mcp");
    let globex_aud = format!("{ORIGIN}/globex/mcp");
    let acme = token(ISS_A, &acme_aud, "alice");
    let globex = token(ISS_B, &globex_aud, "alice");
    // Each on its own path: accepted.
    let ok = g.handle(post("/acme/mcp", &acme, call("whoami"))).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(structured(&ok)["issuer"], ISS_A);
    let ok = g.handle(post("/globex/mcp", &globex, call("whoami"))).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(structured(&ok)["issuer"], ISS_B);

    // Crossed: 401 with the zone's own challenge, whether the token names the other
    // zone's audience or this one's (a foreign issuer is never trusted here).
    for (path, token, zone) in [
        ("/globex/mcp", acme.clone(), "globex"),
        ("/acme/mcp", globex.clone(), "acme"),
        ("/globex/mcp", token(ISS_A, &globex_aud, "alice"), "globex"),
        ("/acme/mcp", token(ISS_B, &acme_aud, "alice"), "acme"),
        // The right issuer with the other zone's audience.
        ("/acme/mcp", token(ISS_A, &globex_aud, "alice"), "acme"),
    ] {
        let r = g.handle(post(path, &token, call("whoami"))).await;
        assert_eq!(r.status(), 401, "{path}");
        let c = challenge(&r);
        assert!(c.contains(r#"error="invalid_token""#), "{c}");
        assert!(
            c.contains(&format!("oauth-protected-resource/{zone}/mcp")),
            "{c}"
        );
    }
    // A refused foreign token made no request to the other zone (issuer allow-list
    // before any fetch).
    let after = http.requests();
    assert!(
        after
            .iter()
            .filter(|r| r.uri().to_string().contains("oauth/token"))
            .count()
            == 0
    );
}

#[tokio::test]
async fn each_zone_exchanges_at_its_own_sts_with_its_own_credentials_and_cache() {
    let (http, g) = gateway();
    let acme = token(ISS_A, &format!("{ORIGIN}/acme/mcp"), "alice");
    let globex = token(ISS_B, &format!("{ORIGIN}/globex/mcp"), "alice");
    for _ in 0..2 {
        let a = g
            .handle(post("/acme/mcp", &acme, call("github_user")))
            .await;
        assert_eq!(
            structured(&a)["login"],
            format!("Bearer upstream-from-{ISS_A}")
        );
        let b = g
            .handle(post("/globex/mcp", &globex, call("github_user")))
            .await;
        assert_eq!(
            structured(&b)["login"],
            format!("Bearer upstream-from-{ISS_B}")
        );
    }
    let exchanges: Vec<_> = http
        .requests()
        .into_iter()
        .filter(|r| r.uri().path() == "/oauth/token")
        .collect();
    // One exchange per zone (the second round is served by each zone's cache).
    assert_eq!(exchanges.len(), 2);
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    for (iss, id, secret) in [
        (ISS_A, "acme-app", "acme-secret"),
        (ISS_B, "globex-app", "globex-secret"),
    ] {
        let r = exchanges
            .iter()
            .find(|r| r.uri().to_string().starts_with(iss))
            .unwrap_or_else(|| panic!("no exchange at {iss}"));
        assert_eq!(r.headers()["authorization"], basic(id, secret).as_str());
    }
    assert_eq!(g.zone_upstream("acme").unwrap().cache_stats().entries, 1);
    assert_eq!(g.zone_upstream("globex").unwrap().cache_stats().entries, 1);
    assert_eq!(g.cache_stats().entries, 2);
}

#[tokio::test]
async fn the_single_zone_configuration_is_unchanged() {
    let (_, ports) = world();
    let env = |name: &str| {
        match name {
            "KEYCARD_ISSUER" => Some(ISS_A),
            "KEYCARD_RESOURCE_URL" => Some(UPSTREAM),
            "KEYCARD_CLIENT_ID" => Some("acme-app"),
            "KEYCARD_CLIENT_SECRET" => Some("acme-secret"),
            _ => None,
        }
        .map(str::to_owned)
    };
    let zones = Zones::from_env(env).unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!(zones.iter().next().unwrap().zone, None);
    let g = Gateway::new(zones, ports, Server::demo()).unwrap();
    let prm = body(
        &g.handle(get("/.well-known/oauth-protected-resource/mcp"))
            .await,
    );
    assert_eq!(prm["resource"], ORIGIN);
    let ok = g
        .handle(post("/mcp", &token(ISS_A, ORIGIN, "alice"), call("whoami")))
        .await;
    assert_eq!(ok.status(), 200);
    // A zone path means nothing here.
    let r = g
        .handle(post(
            "/acme/mcp",
            &token(ISS_A, ORIGIN, "alice"),
            call("whoami"),
        ))
        .await;
    assert_eq!(r.status(), 404);
    let r = g
        .handle(get("/.well-known/oauth-protected-resource/acme/mcp"))
        .await;
    assert_eq!(r.status(), 404);
}

#[test]
fn zone_config_errors_name_the_zones_own_variable() {
    let with = |zones: &'static str, extra: &'static [(&'static str, &'static str)]| {
        Zones::from_env(move |name| {
            if name == "KEYCARD_ZONES" {
                return Some(zones.to_owned());
            }
            extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let msg = |r: Result<Zones, ConfigError>| r.unwrap_err().to_string();

    let m = msg(with(
        r#"{"acme": {"issuer": "https://a.test", "resource_url": "https://u.test"}}"#,
        &[],
    ));
    assert!(
        m.contains("wrangler secret put KEYCARD_ZONE_ACME_CLIENT_SECRET"),
        "{m}"
    );
    assert!(m.contains("KEYCARD_ZONE_ACME_PRIVATE_KEY"), "{m}");

    let m = msg(with(
        r#"{"acme": {"issuer": "https://a.test", "client_id": "x", "resource_url": "https://u.test"}}"#,
        &[],
    ));
    assert!(m.contains("KEYCARD_ZONE_ACME_CLIENT_SECRET"), "{m}");
    assert!(!m.contains("put KEYCARD_CLIENT_SECRET"), "{m}");

    let m = msg(with(r#"{"acme": {"resource_url": "https://u.test"}}"#, &[]));
    assert!(m.contains(r#"zone "acme" has no issuer"#), "{m}");

    let m = msg(with(
        r#"{"acme": {"issuer": "https://a.test", "client_id": "x"}}"#,
        &[("KEYCARD_ZONE_ACME_CLIENT_SECRET", "s")],
    ));
    assert!(m.contains(r#"KEYCARD_ZONES["acme"].resource_url"#), "{m}");

    let m = msg(with(
        r#"{"acme": {"issuer": "https://a.test", "client_secret": "oops"}}"#,
        &[],
    ));
    assert!(
        m.contains("wrangler secret put KEYCARD_ZONE_ACME_CLIENT_SECRET"),
        "{m}"
    );
    assert!(!m.contains("oops"), "{m}");

    for bad in [
        r#"{"Acme": {}}"#,
        r#"{"a/b": {}}"#,
        r#"{"mcp": {}}"#,
        r#"{}"#,
        r#"["acme"]"#,
        r#"{"acme": "https://a.test"}"#,
        "not json",
    ] {
        let err = with(bad, &[]).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "KEYCARD_ZONES",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }

    // Per-zone variables instead of JSON members; a secret is never inherited from
    // the single-zone variables.
    let zones = with(
        r#"{"my-zone": {}}"#,
        &[
            ("KEYCARD_ZONE_MY_ZONE_ISSUER", "https://m.test"),
            ("KEYCARD_ZONE_MY_ZONE_RESOURCE_URL", "https://u.test"),
            ("KEYCARD_ZONE_MY_ZONE_CLIENT_ID", "m"),
            ("KEYCARD_ZONE_MY_ZONE_CLIENT_SECRET", "s"),
            ("KEYCARD_RESOURCE_NAME", "Shared name"),
        ],
    )
    .unwrap();
    let config = zones.get("my-zone").unwrap();
    assert_eq!(config.issuer, "https://m.test");
    assert_eq!(config.resource_name, "Shared name");
    let m = msg(with(
        r#"{"acme": {"issuer": "https://a.test", "client_id": "x", "resource_url": "https://u.test"}}"#,
        &[("KEYCARD_CLIENT_SECRET", "global")],
    ));
    assert!(m.contains("KEYCARD_ZONE_ACME_CLIENT_SECRET"), "{m}");
}

/// `Server::tool_if_configured`: a tool is offered in the zones that configure all its
/// upstreams and left out (not a configuration error) in the others; `Server::tool`
/// with the same tool stays a configuration error; the classic single zone without the
/// upstreams builds and does not list it.
#[tokio::test]
async fn a_conditional_tool_is_offered_only_in_zones_with_its_upstreams() {
    use crate::tools::builtin::my_day;
    const CALENDAR: &str = "https://calendar.test";
    let env = |name: &str| match name {
        "KEYCARD_ZONES" => Some(format!(
            r#"{{"acme": {{"issuer": "{ISS_A}", "client_id": "acme-app", "resource_url": "{UPSTREAM}",
                           "upstreams": {{"github": "{UPSTREAM}", "calendar": "{CALENDAR}"}}}},
                "globex": {{"issuer": "{ISS_B}", "client_id": "globex-app", "resource_url": "{UPSTREAM}",
                            "upstreams": {{"github": "{UPSTREAM}"}}}}}}"#
        )),
        other => zones_env(other),
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let names = |r: &http::Response<Bytes>| -> Vec<String> {
        let b = body(r);
        b["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (_, ports) = world();
    let server = Server::demo().tool_if_configured(my_day());
    let g = Gateway::new(Zones::from_env(env).unwrap(), ports, server).unwrap();
    let acme = token(ISS_A, &format!("{ORIGIN}/acme/mcp"), "alice");
    let globex = token(ISS_B, &format!("{ORIGIN}/globex/mcp"), "alice");
    let r = g.handle(post("/acme/mcp", &acme, list.clone())).await;
    assert_eq!(names(&r), ["whoami", "github_user", "my_day"]);
    let r = g.handle(post("/globex/mcp", &globex, list.clone())).await;
    assert_eq!(names(&r), ["whoami", "github_user"]);
    let r = g.handle(post("/globex/mcp", &globex, call("my_day"))).await;
    let b = body(&r);
    assert_eq!(b["result"]["isError"], json!(true), "{b}");
    assert!(b.to_string().contains("my_day"), "{b}");

    // Registered unconditionally, the missing upstream is a configuration error.
    let (_, ports) = world();
    let err = Gateway::new(
        Zones::from_env(env).unwrap(),
        ports,
        Server::demo().tool(my_day()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("my_day") && err.contains("calendar") && err.contains("globex"),
        "{err}"
    );
    // `tool` after `tool_if_configured` makes it unconditional again.
    let (_, ports) = world();
    let server = Server::demo().tool_if_configured(my_day()).tool(my_day());
    assert!(Gateway::new(Zones::from_env(env).unwrap(), ports, server).is_err());

    // The classic single zone (the seed's four variables): builds, without my_day.
    let single = |name: &str| match name {
        "KEYCARD_ISSUER" => Some(ISS_A.to_owned()),
        "KEYCARD_RESOURCE_URL" => Some(UPSTREAM.to_owned()),
        "KEYCARD_CLIENT_ID" => Some("acme-app".to_owned()),
        "KEYCARD_CLIENT_SECRET" => Some("acme-secret".to_owned()),
        _ => None,
    };
    let (_, ports) = world();
    let server = Server::demo().tool_if_configured(my_day());
    let g = Gateway::new(Zones::from_env(single).unwrap(), ports, server).unwrap();
    let r = g
        .handle(post("/mcp", &token(ISS_A, ORIGIN, "alice"), list))
        .await;
    assert_eq!(names(&r), ["whoami", "github_user"]);
}
