//! End-to-end tests of bearer verification: real signatures (fixture keys, RustCrypto),
//! a scripted zone (discovery + JWKS) and a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::Authenticator;
use crate::auth::bearer::BearerError;
use crate::auth::error::AuthError;
use crate::auth::jwks::KeyringError;
use crate::auth::jwt::JwtError;
use crate::config::Config;
use crate::http::response::{auth_error as auth_error_response, auth_status};
use crate::oauth::discovery::Discovery;
use crate::ports::rust_crypto::RustCrypto;
use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
use crate::ports::{BoxFuture, HttpClient, HttpError, Ports};

pub(crate) const ISS: &str = "https://zone.keycard.cloud";
pub(crate) const RESOURCE: &str = "https://mcp.example.com";
pub(crate) const NOW: u64 = 1_700_000_000;
const JWKS_URL: &str = "https://zone.keycard.cloud/.well-known/jwks.json";

macro_rules! key {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/keys/",
            $name
        ))
    };
}
pub(crate) const ZONE_1: &str = key!("zone-1.pem");
const ZONE_2: &str = key!("zone-2.pem");
pub(crate) const OTHER_ZONE: &str = key!("other-zone.pem");
const ES256_ZONE: &str = key!("es256-zone.pem");

fn der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).expect("fixture PEM")
}

pub(crate) fn rsa_jwk(pem: &str, kid: &str, alg: Option<&str>) -> Value {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der(pem)).expect("RSA fixture");
    let mut jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

fn ec_jwk(pem: &str, kid: &str) -> Value {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    use p256::pkcs8::DecodePrivateKey as _;
    let key = p256::SecretKey::from_pkcs8_der(&der(pem)).expect("EC fixture");
    let point = key.public_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
        "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
    })
}

/// The default zone key set: k1 (RS256, zone-1), k2 (no alg, zone-2), ec1 (ES256).
fn default_jwks() -> Value {
    json!({"keys": [
        rsa_jwk(ZONE_1, "k1", Some("RS256")),
        rsa_jwk(ZONE_2, "k2", None),
        ec_jwk(ES256_ZONE, "ec1"),
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        "not an object",
    ]})
}

pub(crate) fn test_config() -> Config {
    Config::from_env(|k| {
        match k {
            "KEYCARD_ISSUER" => Some(ISS),
            "KEYCARD_RESOURCE_URL" => Some("https://api.github.com"),
            "KEYCARD_CLIENT_ID" => Some("mcp-server"),
            "KEYCARD_CLIENT_SECRET" => Some("s3cr3t"),
            "KEYCARD_REQUIRED_SCOPES" => Some("mcp:tools files:read"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .expect("test config")
}

pub(crate) fn good_claims() -> Value {
    json!({
        "iss": ISS, "sub": "alice", "aud": RESOURCE, "client_id": "cursor",
        "exp": NOW + 600, "iat": NOW - 5, "nbf": NOW - 5,
        "scope": "mcp:tools files:read", "jti": "t-1",
    })
}

/// Signs `header.claims` with `pem` (or an HMAC secret / nothing for the bad algs).
pub(crate) fn sign(header: &Value, claims: &Value, pem: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = match header["alg"].as_str() {
        Some("RS256") => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM"),
            Algorithm::RS256,
        ),
        Some("PS256") => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM"),
            Algorithm::PS256,
        ),
        Some("ES256") => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_ec_pem(pem.as_bytes()).expect("EC PEM"),
            Algorithm::ES256,
        ),
        // HS256 "signed" with the zone's public key as the HMAC secret (the classic
        // algorithm-confusion attack).
        Some("HS256") => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(rsa_jwk(pem, "x", None).to_string().as_bytes()),
            Algorithm::HS256,
        ),
        _ => Ok(String::new()),
    }
    .expect("signing");
    format!("{input}.{sig}")
}

pub(crate) fn rs256(kid: &str, claims: &Value) -> String {
    sign(
        &json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
        claims,
        ZONE_1,
    )
}

pub(crate) fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    h
}

/// An HTTP double that records immediately (through `ScriptedHttp`) but answers only
/// after `delay` on the manual clock, so concurrent callers really overlap.
struct DelayedHttp {
    inner: Arc<ScriptedHttp>,
    clock: SharedManualClock,
    delay: Duration,
}

impl HttpClient for DelayedHttp {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        let answer = self.inner.send(request);
        let sleep = crate::ports::Clock::sleep(&self.clock, self.delay);
        Box::pin(async move {
            sleep.await;
            answer.await
        })
    }
}

/// A scripted zone: discovery document + a mutable, breakable JWKS.
pub(crate) struct Zone {
    pub clock: Arc<ManualClock>,
    pub http: Arc<ScriptedHttp>,
    pub jwks: Arc<Mutex<Value>>,
    pub jwks_down: Arc<AtomicBool>,
    pub discovery_doc: Arc<Mutex<Value>>,
    pub config: Arc<Config>,
}

impl Zone {
    pub(crate) fn new() -> Self {
        let jwks = Arc::new(Mutex::new(default_jwks()));
        let jwks_down = Arc::new(AtomicBool::new(false));
        let discovery_doc = Arc::new(Mutex::new(json!({
            "issuer": ISS,
            "jwks_uri": JWKS_URL,
            "token_endpoint": format!("{ISS}/oauth/token"),
            "authorization_endpoint": format!("{ISS}/oauth/authorize?prompt=consent"),
            "response_types_supported": ["code"],
        })));
        let (j, d, doc) = (jwks.clone(), jwks_down.clone(), discovery_doc.clone());
        let http = ScriptedHttp::new(move |req| match req.uri().to_string().as_str() {
            "https://zone.keycard.cloud/.well-known/oauth-authorization-server" => {
                Ok(json_response(200, doc.lock().expect("lock").clone()))
            }
            JWKS_URL if d.load(Ordering::SeqCst) => {
                Err(HttpError::Connect("connection refused".into()))
            }
            JWKS_URL => Ok(json_response(200, j.lock().expect("lock").clone())),
            _ => Ok(json_response(404, json!({"error": "not_found"}))),
        });
        Self {
            clock: ManualClock::new(NOW * 1000),
            http,
            jwks,
            jwks_down,
            discovery_doc,
            config: Arc::new(test_config()),
        }
    }

    pub(crate) fn ports(&self) -> Ports {
        Ports {
            clock: Arc::new(SharedManualClock(self.clock.clone())),
            http: self.http.clone(),
            crypto: Arc::new(RustCrypto),
        }
    }

    fn authenticator(&self) -> Authenticator {
        let ports = self.ports();
        let discovery = Arc::new(Discovery::new(self.config.clone(), ports.clone()));
        Authenticator::new(self.config.clone(), ports, discovery)
    }

    fn jwks_fetches(&self) -> usize {
        self.http.count_matching("jwks.json")
    }
}

async fn auth(a: &Authenticator, token: &str) -> Result<crate::Identity, AuthError> {
    a.authenticate(&bearer(token), RESOURCE).await
}

#[tokio::test]
async fn valid_tokens_for_every_allowed_algorithm() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let id = auth(&a, &rs256("k1", &good_claims())).await.unwrap();
    assert_eq!(id.issuer, ISS);
    assert_eq!(id.subject.as_deref(), Some("alice"));
    assert_eq!(id.client_id, "cursor");
    assert_eq!(id.scopes, vec!["mcp:tools", "files:read"]);
    assert_eq!(id.expires_at, NOW + 600);
    assert_eq!(id.token_id.as_deref(), Some("t-1"));
    assert_eq!(
        zone.http.request_count(),
        2,
        "one discovery + one JWKS fetch"
    );

    // k2 has no `alg`: RSA keys then serve RS256 and PS256.
    let ps = sign(
        &json!({"alg": "PS256", "kid": "k2"}),
        &good_claims(),
        ZONE_2,
    );
    assert!(auth(&a, &ps).await.is_ok());
    let rs = sign(
        &json!({"alg": "RS256", "kid": "k2"}),
        &good_claims(),
        ZONE_2,
    );
    assert!(auth(&a, &rs).await.is_ok());
    let es = sign(
        &json!({"alg": "ES256", "kid": "ec1"}),
        &good_claims(),
        ES256_ZONE,
    );
    assert!(auth(&a, &es).await.is_ok());
    assert_eq!(zone.http.request_count(), 2, "keys are cached");
}

#[tokio::test]
async fn alg_none_and_hmac_refused_without_any_request() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let none = sign(&json!({"alg": "none", "kid": "k1"}), &good_claims(), ZONE_1);
    assert_eq!(
        auth(&a, &none).await.unwrap_err(),
        AuthError::Token(JwtError::AlgNone)
    );
    let hs = sign(
        &json!({"alg": "HS256", "kid": "k1"}),
        &good_claims(),
        ZONE_1,
    );
    let err = auth(&a, &hs).await.unwrap_err();
    assert_eq!(err, AuthError::Token(JwtError::AlgHmac));
    assert_eq!(auth_status(&err), 401);
    assert_eq!(zone.http.request_count(), 0);
}

#[tokio::test]
async fn untrusted_issuer_refused_without_any_request() {
    let zone = Zone::new();
    let a = zone.authenticator();
    for iss in [
        "https://evil.example",
        "https://zone.keycard.cloud/",
        "https://ZONE.keycard.cloud",
    ] {
        let mut claims = good_claims();
        claims["iss"] = json!(iss);
        let err = auth(&a, &rs256("k1", &claims)).await.unwrap_err();
        assert_eq!(err, AuthError::Token(JwtError::UntrustedIssuer), "{iss}");
        assert_eq!(auth_status(&err), 401);
    }
    assert_eq!(zone.http.request_count(), 0);
}

#[tokio::test]
async fn audience_array_without_us_is_401() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let mut claims = good_claims();
    claims["aud"] = json!(["https://other.example", "https://mcp.example.com/other"]);
    let err = auth(&a, &rs256("k1", &claims)).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Token(JwtError::WrongAudience { .. })),
        "{err}"
    );
    assert_eq!(auth_status(&err), 401);
    claims["aud"] = json!(["https://other.example", "HTTPS://MCP.EXAMPLE.COM/"]);
    assert!(auth(&a, &rs256("k1", &claims)).await.is_ok());
}

#[tokio::test]
async fn every_claim_rule_is_enforced_end_to_end() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let cases: Vec<(&str, Value, AuthError)> = vec![
        ("exp", json!(NOW - 31), AuthError::Token(JwtError::Expired)),
        (
            "exp",
            json!("2030"),
            AuthError::Token(JwtError::TimeNotNumber(crate::auth::jwt::TimeClaim::Exp)),
        ),
        (
            "nbf",
            json!(NOW + 120),
            AuthError::Token(JwtError::NotYetValid),
        ),
        (
            "iat",
            json!(NOW + 120),
            AuthError::Token(JwtError::IssuedInFuture),
        ),
        (
            "client_id",
            Value::Null,
            AuthError::Token(JwtError::MissingClientId),
        ),
        (
            "aud",
            Value::Null,
            AuthError::Token(JwtError::MissingAudience),
        ),
    ];
    for (claim, value, expected) in cases {
        let mut claims = good_claims();
        claims[claim] = value;
        assert_eq!(
            auth(&a, &rs256("k1", &claims)).await.unwrap_err(),
            expected,
            "{claim}"
        );
    }
    assert_eq!(
        zone.http.request_count(),
        0,
        "no claim failure reaches the network"
    );
    let no_kid = sign(&json!({"alg": "RS256"}), &good_claims(), ZONE_1);
    assert_eq!(
        auth(&a, &no_kid).await.unwrap_err(),
        AuthError::Token(JwtError::MissingKid)
    );
    let crit = sign(
        &json!({"alg": "RS256", "kid": "k1", "crit": ["x"]}),
        &good_claims(),
        ZONE_1,
    );
    assert_eq!(
        auth(&a, &crit).await.unwrap_err(),
        AuthError::Token(JwtError::Crit)
    );
    let mut no_sub = good_claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert_eq!(auth(&a, &rs256("k1", &no_sub)).await.unwrap().subject, None);
}

#[tokio::test]
async fn header_key_pointers_are_never_fetched() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let header = json!({
        "alg": "RS256", "kid": "k1",
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "jwk": rsa_jwk(OTHER_ZONE, "k1", Some("RS256")),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    });
    // Signed with the attacker's key that the embedded `jwk` describes: refused.
    let forged = sign(&header, &good_claims(), OTHER_ZONE);
    assert_eq!(
        auth(&a, &forged).await.unwrap_err(),
        AuthError::BadSignature
    );
    // Signed with the zone key: accepted, and the pointers were ignored.
    let genuine = sign(&header, &good_claims(), ZONE_1);
    assert!(auth(&a, &genuine).await.is_ok());
    assert_eq!(zone.http.count_matching("evil"), 0);
}

#[tokio::test]
async fn signature_and_key_algorithm_checks() {
    let zone = Zone::new();
    let a = zone.authenticator();
    // Another zone's key under our kid.
    let other = sign(
        &json!({"alg": "RS256", "kid": "k1"}),
        &good_claims(),
        OTHER_ZONE,
    );
    assert_eq!(auth(&a, &other).await.unwrap_err(), AuthError::BadSignature);
    // Tampered claims.
    let token = rs256("k1", &good_claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut claims = good_claims();
    claims["sub"] = json!("mallory");
    let forged_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    parts[1] = &forged_claims;
    assert_eq!(
        auth(&a, &parts.join(".")).await.unwrap_err(),
        AuthError::BadSignature
    );
    // k1 is RS256-only: a PS256 or ES256 token naming it is refused before verifying.
    let ps = sign(
        &json!({"alg": "PS256", "kid": "k1"}),
        &good_claims(),
        ZONE_1,
    );
    assert_eq!(
        auth(&a, &ps).await.unwrap_err(),
        AuthError::Keyring(KeyringError::AlgMismatch { alg: "PS256" })
    );
    let es = sign(
        &json!({"alg": "ES256", "kid": "k1"}),
        &good_claims(),
        ES256_ZONE,
    );
    assert_eq!(
        auth(&a, &es).await.unwrap_err(),
        AuthError::Keyring(KeyringError::AlgMismatch { alg: "ES256" })
    );
    // The EC key cannot serve RS256.
    let rs_ec = sign(
        &json!({"alg": "RS256", "kid": "ec1"}),
        &good_claims(),
        ZONE_1,
    );
    assert_eq!(
        auth(&a, &rs_ec).await.unwrap_err(),
        AuthError::Keyring(KeyringError::AlgMismatch { alg: "RS256" })
    );
    // Keys that are not signature keys were never imported.
    let sym = rs256("sym", &good_claims());
    assert_eq!(
        auth(&a, &sym).await.unwrap_err(),
        AuthError::Keyring(KeyringError::UnknownKid)
    );
}

#[tokio::test]
async fn scopes_string_array_and_403_with_full_list() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let mut claims = good_claims();
    claims["scope"] = json!(["files:read", "mcp:tools", "extra"]);
    assert_eq!(
        auth(&a, &rs256("k1", &claims)).await.unwrap().scopes,
        vec!["files:read", "mcp:tools", "extra"]
    );
    claims["scope"] = json!("mcp:tools");
    let err = auth(&a, &rs256("k1", &claims)).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::InsufficientScope {
            missing: vec!["files:read".into()]
        }
    );
    let response = auth_error_response(
        &err,
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        &zone.config.required_scopes,
    );
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="mcp:tools files:read""#),
        "{challenge}"
    );
    claims.as_object_mut().unwrap().remove("scope");
    assert!(matches!(
        auth(&a, &rs256("k1", &claims)).await.unwrap_err(),
        AuthError::InsufficientScope { missing } if missing.len() == 2
    ));
}

#[tokio::test]
async fn bearer_errors() {
    let zone = Zone::new();
    let a = zone.authenticator();
    assert_eq!(
        a.authenticate(&HeaderMap::new(), RESOURCE)
            .await
            .unwrap_err(),
        AuthError::Bearer(BearerError::Missing)
    );
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    assert_eq!(
        auth_status(&a.authenticate(&h, RESOURCE).await.unwrap_err()),
        401
    );
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer"));
    assert_eq!(
        auth_status(&a.authenticate(&h, RESOURCE).await.unwrap_err()),
        400
    );
    let huge = "a".repeat(zone.config.limits.max_token_bytes + 1);
    assert_eq!(
        auth(&a, &huge).await.unwrap_err(),
        AuthError::Token(JwtError::TooLarge {
            max: zone.config.limits.max_token_bytes
        })
    );
    assert_eq!(zone.http.request_count(), 0);
}

#[tokio::test]
async fn random_kid_flood_costs_at_most_one_fetch_per_cooldown() {
    let zone = Zone::new();
    let a = zone.authenticator();
    auth(&a, &rs256("k1", &good_claims())).await.unwrap();
    assert_eq!(zone.jwks_fetches(), 1);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut flood = || {
        (0..100)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("rand-{seed:016x}")
            })
            .collect::<Vec<_>>()
    };
    // The first unknown kid refetches once (a key may just have been rotated in); the
    // other 99 inside the cooldown do not.
    for kid in flood() {
        let err = auth(&a, &rs256(&kid, &good_claims())).await.unwrap_err();
        assert_eq!(err, AuthError::Keyring(KeyringError::UnknownKid));
        assert_eq!(auth_status(&err), 401);
    }
    assert_eq!(zone.jwks_fetches(), 2);
    // Past the cooldown: again one refetch for the next 100.
    zone.clock
        .advance(zone.config.jwks.refetch_cooldown + Duration::from_secs(1));
    for kid in flood() {
        assert!(auth(&a, &rs256(&kid, &good_claims())).await.is_err());
    }
    assert_eq!(zone.jwks_fetches(), 3);
    // A new key published meanwhile is picked up by the next allowed refetch.
    zone.jwks.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(rsa_jwk(ZONE_1, "k-new", Some("RS256")));
    assert_eq!(
        auth(&a, &rs256("k-new", &good_claims())).await.unwrap_err(),
        AuthError::Keyring(KeyringError::UnknownKid),
        "still cooling down"
    );
    zone.clock.advance(zone.config.jwks.refetch_cooldown);
    assert!(auth(&a, &rs256("k-new", &good_claims())).await.is_ok());
    assert_eq!(zone.jwks_fetches(), 4);
    // Good kids never waited on any of this.
    assert!(auth(&a, &rs256("k1", &good_claims())).await.is_ok());
    assert_eq!(zone.http.count_matching("oauth-authorization-server"), 1);
}

#[tokio::test]
async fn a_key_rotated_in_right_after_a_fetch_is_picked_up_at_once() {
    let zone = Zone::new();
    let a = zone.authenticator();
    auth(&a, &rs256("k1", &good_claims())).await.unwrap();
    assert_eq!(zone.jwks_fetches(), 1);
    // The zone rotates one second after our fetch: the new kid must not wait out the
    // cooldown of that (successful) fetch.
    zone.clock.advance(Duration::from_secs(1));
    zone.jwks.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(rsa_jwk(ZONE_1, "k-rotated", Some("RS256")));
    assert!(auth(&a, &rs256("k-rotated", &good_claims())).await.is_ok());
    assert_eq!(zone.jwks_fetches(), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let zone = Zone::new();
    let clock = SharedManualClock(zone.clock.clone());
    let ports = Ports {
        clock: Arc::new(clock.clone()),
        http: Arc::new(DelayedHttp {
            inner: zone.http.clone(),
            clock,
            delay: Duration::from_secs(1),
        }),
        crypto: Arc::new(RustCrypto),
    };
    let discovery = Arc::new(Discovery::new(zone.config.clone(), ports.clone()));
    let a = Arc::new(Authenticator::new(zone.config.clone(), ports, discovery));
    let done = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (a, done) = (a.clone(), done.clone());
        let mut claims = good_claims();
        claims["sub"] = json!(format!("user-{i}"));
        let token = rs256("k1", &claims);
        tasks.push(tokio::spawn(async move {
            let r = auth(&a, &token).await;
            done.fetch_add(1, Ordering::SeqCst);
            r
        }));
    }
    for _ in 0..10 {
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(zone.http.request_count().min(2), zone.http.request_count());
        zone.clock.advance(Duration::from_millis(500));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(done.load(Ordering::SeqCst), 20);
    assert_eq!(zone.http.count_matching("oauth-authorization-server"), 1);
    assert_eq!(zone.jwks_fetches(), 1);
}

#[tokio::test]
async fn grace_period_keeps_known_keys_then_expires() {
    let zone = Zone::new();
    let a = zone.authenticator();
    let jwks = zone.config.jwks.clone();
    let token = |clock: &Arc<ManualClock>| rs256("k1", &good_claims_at(now_secs(clock)));
    assert!(auth(&a, &token(&zone.clock)).await.is_ok());
    zone.jwks_down.store(true, Ordering::SeqCst);

    // TTL over, endpoint down: the refresh fails, the known key keeps working.
    zone.clock.advance(jwks.ttl + Duration::from_secs(1));
    assert!(auth(&a, &token(&zone.clock)).await.is_ok());
    assert_eq!(zone.jwks_fetches(), 2);
    // More requests inside the cooldown do not hammer the dead endpoint.
    for _ in 0..10 {
        assert!(auth(&a, &token(&zone.clock)).await.is_ok());
    }
    assert_eq!(zone.jwks_fetches(), 2);
    // Late in the grace period (retried once per cooldown): still fine.
    zone.clock.advance(jwks.grace - Duration::from_secs(10));
    assert!(auth(&a, &token(&zone.clock)).await.is_ok());
    assert_eq!(zone.jwks_fetches(), 3);
    // Past TTL + grace: a clean 503.
    zone.clock.advance(Duration::from_secs(20));
    let err = auth(&a, &token(&zone.clock)).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Keyring(KeyringError::Unavailable { reason, .. }) if reason.contains("connection refused")),
        "{err:?}"
    );
    assert_eq!(auth_status(&err), 503);
    // Unknown kids during the outage are 503 too (we cannot know), not 401.
    let err = auth(
        &a,
        &rs256("k-unknown", &good_claims_at(now_secs(&zone.clock))),
    )
    .await
    .unwrap_err();
    assert_eq!(auth_status(&err), 503);
    // The endpoint recovers: the next allowed fetch restores service.
    zone.jwks_down.store(false, Ordering::SeqCst);
    zone.clock.advance(jwks.refetch_cooldown);
    assert!(auth(&a, &token(&zone.clock)).await.is_ok());
}

fn now_secs(clock: &Arc<ManualClock>) -> u64 {
    crate::ports::Clock::now_secs(&SharedManualClock(clock.clone()))
}

fn good_claims_at(now: u64) -> Value {
    let mut claims = good_claims();
    claims["exp"] = json!(now + 600);
    claims["iat"] = json!(now);
    claims["nbf"] = json!(now);
    claims
}

#[tokio::test]
async fn rotated_out_key_is_refused_after_refresh() {
    let zone = Zone::new();
    let a = zone.authenticator();
    assert!(auth(&a, &rs256("k1", &good_claims())).await.is_ok());
    *zone.jwks.lock().unwrap() = json!({"keys": [rsa_jwk(ZONE_2, "k2", Some("RS256"))]});
    // Still within the TTL: the cached k1 is used.
    assert!(auth(&a, &rs256("k1", &good_claims())).await.is_ok());
    zone.clock
        .advance(zone.config.jwks.ttl + Duration::from_secs(1));
    let claims = good_claims_at(NOW + zone.config.jwks.ttl.as_secs() + 1);
    assert_eq!(
        auth(&a, &rs256("k1", &claims)).await.unwrap_err(),
        AuthError::Keyring(KeyringError::UnknownKid)
    );
    let k2 = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims, ZONE_2);
    assert!(auth(&a, &k2).await.is_ok());
}

#[tokio::test]
async fn discovery_mismatch_and_cross_origin_jwks_are_refused() {
    for (field, value, needle) in [
        ("issuer", json!("https://zone.keycard.cloud/"), "issuer"),
        (
            "jwks_uri",
            json!("https://evil.example/jwks.json"),
            "jwks_uri",
        ),
    ] {
        let zone = Zone::new();
        zone.discovery_doc.lock().unwrap()[field] = value;
        let a = zone.authenticator();
        let err = auth(&a, &rs256("k1", &good_claims())).await.unwrap_err();
        assert!(
            matches!(&err, AuthError::Keyring(KeyringError::Unavailable { reason, .. }) if reason.contains(needle)),
            "{err:?}"
        );
        assert_eq!(auth_status(&err), 503);
        assert_eq!(zone.http.count_matching("evil"), 0);
        assert_eq!(zone.jwks_fetches(), 0);
    }
}

mod gateway {
    use super::*;
    use crate::http::gateway::Gateway;
    use crate::server::Server;

    fn gateway(zone: &Zone) -> Gateway {
        Gateway::new(test_config(), zone.ports(), Server::demo()).unwrap()
    }

    fn get(path: &str, version: Option<&str>) -> http::Request<Bytes> {
        let mut b = http::Request::get(format!("{RESOURCE}{path}"));
        if let Some(v) = version {
            b = b.header("mcp-protocol-version", v);
        }
        b.body(Bytes::new()).unwrap()
    }

    fn body(r: &http::Response<Bytes>) -> Value {
        serde_json::from_slice(r.body()).unwrap()
    }

    fn mcp_post(token: Option<&str>) -> http::Request<Bytes> {
        let mut b = http::Request::post(format!("{RESOURCE}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn prm_on_both_paths_and_both_eras() {
        let zone = Zone::new();
        let g = gateway(&zone);
        for path in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
        ] {
            let r = g.handle(get(path, None)).await;
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()["access-control-allow-origin"], "*");
            let doc = body(&r);
            assert_eq!(doc["resource"], RESOURCE);
            assert_eq!(doc["authorization_servers"], json!([ISS]));
            let legacy = body(&g.handle(get(path, Some("2025-03-26"))).await);
            assert_eq!(legacy["authorization_servers"], json!([RESOURCE]));
            let post = http::Request::post(format!("{RESOURCE}{path}"))
                .body(Bytes::new())
                .unwrap();
            let r = g.handle(post).await;
            assert_eq!(r.status(), 405);
            assert_eq!(r.headers()["allow"], "GET, OPTIONS");
        }
        insta::assert_json_snapshot!(
            "gateway_prm_2025_06_18",
            body(
                &g.handle(get(
                    "/.well-known/oauth-protected-resource/mcp",
                    Some("2025-06-18")
                ))
                .await
            )
        );
        insta::assert_json_snapshot!(
            "gateway_prm_2025_03_26",
            body(
                &g.handle(get(
                    "/.well-known/oauth-protected-resource/mcp",
                    Some("2025-03-26")
                ))
                .await
            )
        );
        assert_eq!(zone.http.request_count(), 0);
    }

    #[tokio::test]
    async fn authorization_server_metadata_proxy() {
        let zone = Zone::new();
        let g = gateway(&zone);
        let r = g
            .handle(get(
                "/.well-known/oauth-authorization-server",
                Some("2025-03-26"),
            ))
            .await;
        assert_eq!(r.status(), 200);
        let doc = body(&r);
        assert_eq!(
            doc["authorization_endpoint"],
            "https://zone.keycard.cloud/oauth/authorize?prompt=consent&resource=https%3A%2F%2Fmcp.example.com"
        );
        // RFC 8414 §3.3: the issuer is the URL the document was fetched from (this
        // origin, which the 2025-03-26 PRM names as the authorization server).
        assert_eq!(doc["issuer"], "https://mcp.example.com");
        insta::assert_json_snapshot!("gateway_as_metadata", doc);
        let post =
            http::Request::post(format!("{RESOURCE}/.well-known/oauth-authorization-server"))
                .body(Bytes::new())
                .unwrap();
        assert_eq!(g.handle(post).await.status(), 405);
    }

    #[tokio::test]
    async fn authorization_server_metadata_502_when_issuer_down() {
        let zone = Zone::new();
        let ports = Ports {
            http: ScriptedHttp::new(|_| Err(HttpError::Connect("connection refused".into()))),
            ..zone.ports()
        };
        let g = Gateway::new(test_config(), ports, Server::demo()).unwrap();
        let r = g
            .handle(get("/.well-known/oauth-authorization-server", None))
            .await;
        assert_eq!(r.status(), 502);
        insta::assert_json_snapshot!("gateway_as_metadata_502", body(&r));
    }

    #[tokio::test]
    async fn mcp_requires_a_valid_bearer() {
        let zone = Zone::new();
        let g = gateway(&zone);
        let r = g.handle(mcp_post(None)).await;
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert_eq!(
            challenge,
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools files:read""#
        );
        assert!(
            r.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("WWW-Authenticate")
        );

        let mut expired = good_claims();
        expired["exp"] = json!(NOW - 100);
        let r = g.handle(mcp_post(Some(&rs256("k1", &expired)))).await;
        assert_eq!(r.status(), 401);
        assert_eq!(body(&r)["error"], "invalid_token");
        assert_eq!(zone.http.request_count(), 0);

        let r = g.handle(mcp_post(Some(&rs256("k1", &good_claims())))).await;
        assert_ne!(r.status(), 401);
        assert_ne!(r.status(), 403);
        assert_eq!(zone.jwks_fetches(), 1);
    }
}

/// RustCrypto, counting signature checks.
struct CountingCrypto(Arc<AtomicU32>);

struct CountingKey(Arc<dyn crate::ports::VerifyingKey>, Arc<AtomicU32>);

impl crate::ports::VerifyingKey for CountingKey {
    fn verify<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, crate::ports::CryptoError>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.verify(message, signature)
    }
}

impl crate::ports::Crypto for CountingCrypto {
    fn import_verifying_key<'a>(
        &'a self,
        alg: crate::ports::JwsAlg,
        jwk: &'a crate::auth::jwk::Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn crate::ports::VerifyingKey>, crate::ports::CryptoError>> {
        let count = self.0.clone();
        Box::pin(async move {
            let key = RustCrypto.import_verifying_key(alg, jwk).await?;
            Ok(Arc::new(CountingKey(key, count)) as Arc<dyn crate::ports::VerifyingKey>)
        })
    }

    fn import_signing_key<'a>(
        &'a self,
        pkcs8_der: &'a crate::ports::SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn crate::ports::SigningKey>, crate::ports::CryptoError>> {
        RustCrypto.import_signing_key(pkcs8_der)
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), crate::ports::CryptoError> {
        RustCrypto.fill_random(buf)
    }
}

/// An authenticator whose signature checks are counted, with a verified-memo bound.
fn counting_authenticator(zone: &Zone, memo: usize) -> (Authenticator, Arc<AtomicU32>) {
    let count = Arc::new(AtomicU32::new(0));
    let mut config = (*zone.config).clone();
    config.cache.verified_max_entries = memo;
    let config = Arc::new(config);
    let ports = Ports {
        crypto: Arc::new(CountingCrypto(count.clone())),
        ..zone.ports()
    };
    let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
    (Authenticator::new(config, ports, discovery), count)
}

#[tokio::test]
async fn a_repeated_token_is_verified_once_but_its_claims_every_time() {
    let zone = Zone::new();
    let (a, verifies) = counting_authenticator(&zone, 100);
    let token = rs256("k1", &good_claims());
    for _ in 0..5 {
        assert_eq!(
            auth(&a, &token).await.unwrap().subject.as_deref(),
            Some("alice")
        );
    }
    assert_eq!(verifies.load(Ordering::SeqCst), 1);
    assert_eq!(a.verified().len(), 1);
    // A memo hit still answers to this request's audience…
    assert!(matches!(
        a.authenticate(&bearer(&token), "https://other.example")
            .await
            .unwrap_err(),
        AuthError::Token(JwtError::WrongAudience { .. })
    ));
    // …and to the required scopes, on every call.
    let mut narrow = good_claims();
    narrow["scope"] = json!("mcp:tools");
    let narrow = rs256("k1", &narrow);
    for _ in 0..2 {
        assert!(matches!(
            auth(&a, &narrow).await.unwrap_err(),
            AuthError::InsufficientScope { .. }
        ));
    }
    assert_eq!(verifies.load(Ordering::SeqCst), 2);
    // Remembered or not, an expired token is refused: `exp` is checked on every call.
    zone.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        auth(&a, &token).await.unwrap_err(),
        AuthError::Token(JwtError::Expired)
    ));
    assert_eq!(verifies.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_memoised_signature_never_vouches_for_other_bytes() {
    let zone = Zone::new();
    let (a, verifies) = counting_authenticator(&zone, 100);
    let token = rs256("k1", &good_claims());
    assert!(auth(&a, &token).await.is_ok());
    // The same signature on other claims: a different digest, checked, refused.
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut claims = good_claims();
    claims["sub"] = json!("mallory");
    let forged = format!(
        "{head}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    for _ in 0..3 {
        assert_eq!(
            auth(&a, &forged).await.unwrap_err(),
            AuthError::BadSignature
        );
    }
    // Failures are never remembered: each one was a real check.
    assert_eq!(verifies.load(Ordering::SeqCst), 4);
    assert_eq!(a.verified().len(), 1);
}

#[tokio::test]
async fn a_memoised_token_is_checked_again_after_its_key_is_replaced() {
    let zone = Zone::new();
    let (a, verifies) = counting_authenticator(&zone, 100);
    let mut claims = good_claims();
    claims["exp"] = json!(NOW + 4000);
    let token = rs256("k1", &claims);
    assert!(auth(&a, &token).await.is_ok());
    assert!(auth(&a, &token).await.is_ok());
    assert_eq!(verifies.load(Ordering::SeqCst), 1);
    // The zone now publishes other key material under the same kid.
    *zone.jwks.lock().unwrap() = json!({"keys": [rsa_jwk(ZONE_2, "k1", Some("RS256"))]});
    zone.clock
        .advance(zone.config.jwks.ttl + Duration::from_secs(1));
    assert_eq!(auth(&a, &token).await.unwrap_err(), AuthError::BadSignature);
    assert_eq!(verifies.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn with_the_memo_off_every_request_is_verified() {
    let zone = Zone::new();
    let (a, verifies) = counting_authenticator(&zone, 0);
    let token = rs256("k1", &good_claims());
    for _ in 0..3 {
        assert!(auth(&a, &token).await.is_ok());
    }
    assert_eq!(verifies.load(Ordering::SeqCst), 3);
}
