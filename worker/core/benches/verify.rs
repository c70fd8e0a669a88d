//! The native verify path: `Authenticator::authenticate` on a warm keyring (bearer parse,
//! every claim check, cached key lookup, RS256/ES256 signature), the same for a repeated
//! token whose signature the verified memo remembers, and the front half alone.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keycard_core::auth::Authenticator;
use keycard_core::auth::jwt::{ClaimRules, check_token};
use keycard_core::oauth::discovery::Discovery;
use keycard_core::ports::Ports;
use keycard_core::ports::rust_crypto::RustCrypto;
use keycard_core::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
use keycard_core::{Config, SecretString};
use serde_json::json;

const ISS: &str = "https://zone.keycard.cloud";
const RESOURCE: &str = "https://mcp.example.com";
const NOW: u64 = 1_700_000_000;
const ZONE_1: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/keys/zone-1.pem"
));
const ES256: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/keys/es256-zone.pem"
));

fn der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn jwks() -> serde_json::Value {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let rsa = rsa::RsaPrivateKey::from_pkcs8_der(&der(ZONE_1)).unwrap();
    let ec = p256::SecretKey::from_pkcs8_der(&der(ES256)).unwrap();
    let point = ec.public_key().to_encoded_point(false);
    json!({"keys": [
        {"kty": "RSA", "kid": "k1", "alg": "RS256",
         "n": URL_SAFE_NO_PAD.encode(rsa.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(rsa.e().to_bytes_be())},
        {"kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256",
         "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())},
    ]})
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = json!({
        "iss": ISS, "sub": "alice", "aud": RESOURCE, "client_id": "cursor",
        "exp": NOW + 3600, "iat": NOW, "scope": "mcp:tools",
    });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

/// The bench configuration; `memo` is `KEYCARD_VERIFIED_CACHE_MAX_ENTRIES`.
fn bench_config(memo: &'static str) -> Arc<Config> {
    Arc::new(
        Config::from_env(|k| {
            match k {
                "KEYCARD_ISSUER" => Some(ISS),
                "KEYCARD_RESOURCE_URL" => Some("https://api.github.com"),
                "KEYCARD_CLIENT_ID" => Some("id"),
                "KEYCARD_CLIENT_SECRET" => Some("secret"),
                "KEYCARD_VERIFIED_CACHE_MAX_ENTRIES" => Some(memo),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    // Every signature checked (memo off), as for a token seen for the first time.
    let config = bench_config("0");
    let keys = jwks();
    let http = ScriptedHttp::new(move |req| {
        Ok(
            if req.uri().path().ends_with("oauth-authorization-server") {
                json_response(
                    200,
                    json!({"issuer": ISS, "jwks_uri": format!("{ISS}/jwks"), "token_endpoint": format!("{ISS}/token")}),
                )
            } else {
                json_response(200, keys.clone())
            },
        )
    });
    let ports = Ports {
        clock: Arc::new(SharedManualClock(ManualClock::new(NOW * 1000))),
        http,
        crypto: Arc::new(RustCrypto),
    };
    let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
    let auth = Authenticator::new(config.clone(), ports.clone(), discovery.clone());
    // The default: a repeated token's signature is remembered (claims still checked).
    let memo_auth = Authenticator::new(bench_config("10000"), ports, discovery);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let rs = token(
        Algorithm::RS256,
        "k1",
        &EncodingKey::from_rsa_pem(ZONE_1.as_bytes()).unwrap(),
    );
    let es = token(
        Algorithm::ES256,
        "ec1",
        &EncodingKey::from_ec_pem(ES256.as_bytes()).unwrap(),
    );
    let headers = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    };
    let (rs_h, es_h) = (headers(&rs), headers(&es));
    // Warm the keyring.
    rt.block_on(auth.authenticate(&rs_h, RESOURCE)).unwrap();
    rt.block_on(auth.authenticate(&es_h, RESOURCE)).unwrap();
    rt.block_on(memo_auth.authenticate(&rs_h, RESOURCE))
        .unwrap();

    c.bench_function("authenticate_rs256_warm", |b| {
        b.iter(|| rt.block_on(auth.authenticate(&rs_h, RESOURCE)).unwrap())
    });
    c.bench_function("authenticate_es256_warm", |b| {
        b.iter(|| rt.block_on(auth.authenticate(&es_h, RESOURCE)).unwrap())
    });
    c.bench_function("authenticate_rs256_repeated_token", |b| {
        b.iter(|| {
            rt.block_on(memo_auth.authenticate(&rs_h, RESOURCE))
                .unwrap()
        })
    });
    let secret = SecretString::new(rs.clone());
    let trusted = config.trusted_issuers.clone();
    c.bench_function("jwt_front_half_only", |b| {
        b.iter(|| {
            check_token(
                &secret,
                &ClaimRules {
                    max_token_bytes: 8192,
                    trusted_issuers: &trusted,
                    resource_id: RESOURCE,
                    now_secs: NOW,
                    leeway_secs: 30,
                },
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
