//! The corpus files load, every recipe builds, and the built tokens have the intended
//! shape (checked with the zone's own verifier, not with the code under test).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::config::ZoneConfig;
use crate::jws::JwsError;
use crate::zone::{VerifyError, Zone};

const RESOURCE: &str = "http://127.0.0.1:8787";
const NOW: i64 = 1_700_000_000;

fn zone() -> Zone {
    Zone::new(
        ZoneConfig::default().with_mcp_resource(RESOURCE),
        "http://127.0.0.1:8788",
    )
    .expect("zone")
}

fn corpus() -> Vec<Case> {
    load_corpus(default_dir()).expect("the corpus loads")
}

fn case(name: &str) -> Case {
    corpus()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn vars(zone: &Zone) -> Placeholders {
    Placeholders::for_zone(zone, RESOURCE, "http://127.0.0.1:9", NOW).expect("vars")
}

fn build(name: &str) -> String {
    let zone = zone();
    build_token(&case(name), &zone, &vars(&zone)).expect("build")
}

fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

#[test]
fn corpus_loads_with_unique_names_and_covers_the_issue() {
    let cases = corpus();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for required in [
        "alg-none",
        "hs256-public-key-as-secret",
        "kid-unknown",
        "kid-path-traversal",
        "kid-sql-injection",
        "jku-elsewhere",
        "x5u-elsewhere",
        "jwk-embedded-ignored",
        "crit-unknown",
        "iss-wrong",
        "iss-missing",
        "iss-trailing-slash",
        "iss-different-case",
        "aud-missing",
        "aud-wrong",
        "aud-array-without-us",
        "exp-expired-beyond-leeway",
        "nbf-future",
        "exp-string",
        "exp-float",
        "exp-huge",
        "exp-negative",
        "client-id-missing",
        "sub-missing-whoami",
        "sub-missing-github-user",
        "scope-array",
        "scope-string",
        "scope-missing-required",
        "invalid-base64url",
        "two-parts",
        "four-parts",
        "token-64kib",
        "deeply-nested-claims",
        "other-zone-key-claiming-our-kid",
        "key-rotated-out",
        "non-bearer-scheme",
    ] {
        assert!(names.contains(&required), "missing case {required}");
    }
}

#[test]
fn every_recipe_builds() {
    let zone = zone();
    let vars = vars(&zone);
    for case in corpus() {
        let token =
            build_token(&case, &zone, &vars).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(!token.is_empty(), "{}", case.name);
    }
}

#[test]
fn baseline_is_valid_and_verifies_with_the_zone_key() {
    let zone = zone();
    let token = build("valid-baseline");
    let claims = zone.verify_signature(&token).expect("zone signature");
    assert_eq!(claims.str("iss"), Some(zone.issuer().as_str()));
    assert_eq!(claims.str("sub"), Some("alice"));
    assert_eq!(claims.str("aud"), Some(RESOURCE));
    assert_eq!(claims.int("exp"), Some(NOW + 600));
    assert_eq!(claims.str("client_id"), Some("mcp-client-a"));
    let header = part(&token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], zone.current_kid());
}

#[test]
fn overrides_and_operators_land_in_the_token() {
    let claims = part(&build("exp-expired-beyond-leeway"), 1);
    assert_eq!(claims["exp"], NOW - 31);
    assert_eq!(
        part(&build("exp-string"), 1)["exp"],
        json!((NOW + 600).to_string())
    );
    assert_eq!(
        part(&build("exp-float"), 1)["exp"],
        json!(NOW as f64 + 600.5)
    );
    assert!(
        part(&build("client-id-missing"), 1)
            .get("client_id")
            .is_none()
    );
    assert_eq!(
        part(&build("iss-different-case"), 1)["iss"],
        "HTTP://127.0.0.1:8788"
    );
    let jku = part(&build("jku-elsewhere"), 0);
    assert_eq!(jku["jku"], "http://127.0.0.1:9/jwks.json");
    let jwk = part(&build("jwk-embedded-ignored"), 0);
    assert_eq!(jwk["jwk"]["kty"], "RSA");
    assert_ne!(jwk["jwk"]["kid"], jwk["kid"]);
}

#[test]
fn signers_do_what_they_say() {
    let zone = zone();
    // Another zone's key under our kid: the zone's verifier refuses the signature.
    assert_eq!(
        zone.verify_signature(&build("other-zone-key-claiming-our-kid"))
            .err(),
        Some(VerifyError::Jws(JwsError::Signature))
    );
    // Unpublished keys: their kid is not in the zone's JWKS.
    for name in ["key-rotated-out", "other-zone-key"] {
        assert!(matches!(
            zone.verify_signature(&build(name)),
            Err(VerifyError::UnknownKid(_))
        ));
    }
    // Tampered claims: alice's signature over bob's claims.
    let tampered = build("tampered-claims");
    assert_eq!(part(&tampered, 1)["sub"], "bob");
    assert_eq!(
        zone.verify_signature(&tampered).err(),
        Some(VerifyError::Jws(JwsError::Signature))
    );
    // alg none: empty signature.
    let none = build("alg-none");
    assert!(none.ends_with('.'));
    assert_eq!(part(&none, 0)["alg"], "none");
    // HS256: an HMAC keyed with the zone's public key PEM over the signing input.
    let hs = build("hs256-public-key-as-secret");
    assert_eq!(part(&hs, 0)["alg"], "HS256");
    let (input, signature) = hs.rsplit_once('.').expect("parts");
    let pem = public_key_pem(&zone.current_key()).expect("pem");
    assert_eq!(
        URL_SAFE_NO_PAD.decode(signature).expect("b64"),
        hmac_sha256(pem.as_bytes(), input.as_bytes()).expect("hmac")
    );
    // ES256: the fixture key's kid, a 64-byte signature.
    let es = build("es256-unpublished-key");
    assert_eq!(part(&es, 0)["alg"], "ES256");
    assert_eq!(part(&es, 0)["kid"], Es256Key::fixture().expect("es").kid());
    let sig = es.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
    assert_eq!(URL_SAFE_NO_PAD.decode(sig).expect("b64").len(), 64);
}

#[test]
fn mutations_shape_the_token() {
    assert_eq!(build("two-parts").split('.').count(), 2);
    assert_eq!(build("four-parts").split('.').count(), 4);
    let bad = build("invalid-base64url");
    let payload = bad.split('.').nth(1).unwrap_or_default();
    assert!(payload.starts_with('~'));
    assert!(URL_SAFE_NO_PAD.decode(payload).is_err());
    let big = build("token-64kib");
    assert!((65_536..=65_537).contains(&big.len()), "{}", big.len());
    assert_eq!(part(&big, 1)["sub"], "alice");
    let deep = build("deeply-nested-claims");
    assert!(deep.len() < 8192, "nesting must stay under the size limit");
    let text = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(deep.split('.').nth(1).unwrap_or_default())
            .expect("b64"),
    )
    .expect("utf8");
    assert!(text.starts_with(&format!("{{\"nested\":{}0", "[".repeat(2000))));
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "too deep for serde_json"
    );
}

#[test]
fn padding_reaches_exactly_the_smallest_length() {
    let zone = zone();
    let vars = vars(&zone);
    for len in [2000, 2001, 2002, 2003, 5000] {
        let mut case = case("valid-baseline");
        case.recipe.mutate = vec![Mutation::PadToBytes(len)];
        let token = build_token(&case, &zone, &vars).expect("build");
        assert!(
            (len..=len + 1).contains(&token.len()),
            "{len}: {}",
            token.len()
        );
        zone.verify_signature(&token).expect("still signed");
    }
}

#[test]
fn authorization_templates() {
    assert_eq!(
        authorization(&case("valid-baseline"), "t").as_deref(),
        Some("Bearer t")
    );
    assert_eq!(
        authorization(&case("non-bearer-scheme"), "t").as_deref(),
        Some("Basic t")
    );
    let mut none = case("valid-baseline");
    none.recipe = serde_json::from_value(json!({"authorization": null})).expect("recipe");
    assert_eq!(authorization(&none, "t"), None);
}

#[test]
fn invalid_cases_are_refused_with_the_file_named() {
    let dir = std::env::temp_dir().join(format!("corpus-invalid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str, value: Value| {
        std::fs::write(dir.join(name), value.to_string()).expect("write");
    };
    for (doc, needle) in [
        (
            json!({"name": "a", "why": "w", "recipe": {}, "expect": {"status": 200, "error": null}}),
            "outcome",
        ),
        (
            json!({"name": "a", "why": "w", "recipe": {}, "expect": {"status": 401, "error": "invalid_token"}}),
            "description",
        ),
        (
            json!({"name": "a", "why": "w", "recipe": {"mutate": "explode"}, "expect": {"status": 401, "error": "x", "description": "y"}}),
            "unknown mutation",
        ),
        (
            json!({"name": "a", "why": "w", "recipe": {"sign": "rot13"}, "expect": {"status": 401, "error": "x", "description": "y"}}),
            "rot13",
        ),
        (
            json!({"name": "a", "why": "w", "recipe": {"raw": "x", "claims": {"a": 1}}, "expect": {"status": 401, "error": "x", "description": "y"}}),
            "raw",
        ),
        (
            json!({"name": "a", "why": "w", "recipe": {}, "expect": {"status": 401, "error": "x", "description": "y", "typo": 1}}),
            "typo",
        ),
    ] {
        write("case.json", doc);
        let err = load_corpus(&dir).expect_err("invalid").to_string();
        assert!(err.contains("case.json") && err.contains(needle), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A deliberately naive MCP server for testing the remote runner: it refuses `alg: none`
/// exactly as the core does, accepts everything else without checking, and follows `jku`.
async fn naive_server(request: axum::http::Request<axum::body::Body>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let decode = |i: usize| -> Value {
        token
            .split('.')
            .nth(i)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let (header, claims) = (decode(0), decode(1));
    if header["alg"] == "none" {
        let description = "unsigned tokens (alg none) are not accepted";
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"http://x/.well-known/oauth-protected-resource\""
                ),
            )],
            json!({"error": "invalid_token", "error_description": description}).to_string(),
        )
            .into_response();
    }
    if let Some(jku) = header["jku"].as_str() {
        let _ = reqwest::get(jku).await;
    }
    let structured = json!({
        "subject": claims["sub"],
        "client_id": claims["client_id"],
        "scopes": [claims["scope"]],
    });
    axum::Json(json!({
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"content": [{"type": "text", "text": "ok"}], "structuredContent": structured, "isError": false},
    }))
    .into_response()
}

#[tokio::test]
async fn remote_runner_judges_a_naive_server_and_catches_it_following_jku() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let app = axum::Router::new().fallback(naive_server);
        axum::serve(listener, app).await
    });
    let zone = zone();
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| {
            [
                "valid-baseline",
                "alg-none",
                "jku-elsewhere",
                "exp-expired-beyond-leeway",
            ]
            .contains(&c.name.as_str())
        })
        .collect();
    assert_eq!(cases.len(), 4);
    let report = run_remote(&zone, &target, RESOURCE, &cases)
        .await
        .expect("run");
    server.abort();
    let verdict = |name: &str| {
        report
            .results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.problems.clone())
            .expect("result")
    };
    assert_eq!(verdict("valid-baseline"), Vec::<String>::new());
    assert_eq!(verdict("alg-none"), Vec::<String>::new());
    // The naive server answers the jku case "correctly" (200)…
    assert_eq!(verdict("jku-elsewhere"), Vec::<String>::new());
    // …but it fetched the attacker's URL, and it accepts an expired token.
    assert_eq!(report.honeypot_hits, 1);
    let expired = verdict("exp-expired-beyond-leeway");
    assert!(
        expired.len() == 1 && expired[0].starts_with("status 200 (expected 401)"),
        "{expired:?}"
    );
    assert_eq!(report.failed(), 1);
    assert!(!report.passed());
}

#[tokio::test]
async fn honeypot_counts_connections() {
    let honeypot = Honeypot::start().await.expect("honeypot");
    assert_eq!(honeypot.hits(), 0);
    let response = reqwest::get(format!("{}/jwks.json", honeypot.url())).await;
    assert_eq!(
        response
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{e:?}")),
        Ok(404)
    );
    assert_eq!(honeypot.hits(), 1);
}
