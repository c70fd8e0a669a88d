//! Upstream tokens signed ES256 (`[keys] upstream_alg`, the default) and the RS256 option.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::AlgorithmParameters::RSA;
use mock_keycard::{
    Es256KeyPair, JwsError, KeysConfig, UpstreamAlg, UpstreamError, VerifyError, Zone, ZoneConfig,
    embedded_upstream_key, other_zone_key,
};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Map, Value, json};

use crate::helpers::{ISSUER, UPSTREAM, claims, exchanged, zone};

/// The corpus's P-256 key: never published by any zone.
const CORPUS_PEM: &str = include_str!("../../../fixtures/keys/es256-zone.pem");

fn upstream_claims(zone: &Zone) -> Map<String, Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    json!({ "iss": zone.issuer(), "sub": "alice", "aud": UPSTREAM, "exp": now + 600 })
        .as_object()
        .cloned()
        .expect("object")
}

#[tokio::test]
async fn exchanged_tokens_are_es256_and_keep_act_jti_and_audit() {
    let zone = zone();
    let token = exchanged(&zone, "alice").await;
    let header = mock_keycard::jwt::decode(&token).expect("decode").header;
    assert_eq!(header.alg, "ES256");
    assert_eq!(header.kid, zone.upstream_kid());
    let c = claims(&token);
    assert_eq!(c["act"], json!({ "sub": "mcp-worker" }));
    let jti = c["jti"].as_str().expect("jti");
    assert!(zone.audit_by_jti(jti).is_some());
    let (identity, _) = zone.verify_upstream_token(&token).await.expect("upstream");
    assert!(identity.audited);
    assert_eq!(identity.act.as_deref(), Some("mcp-worker"));
}

#[tokio::test]
async fn rs256_upstream_alg_signs_with_the_pool_key_and_publishes_no_ec_key() {
    let config = ZoneConfig::from_toml_str(
        &mock_keycard::DEFAULT_ZONE_TOML
            .replace(r#"upstream_alg = "ES256""#, r#"upstream_alg = "RS256""#),
    )
    .expect("config");
    assert_eq!(config.keys.upstream_alg, UpstreamAlg::Rs256);
    let zone = Zone::new(config, ISSUER).expect("zone");
    assert_eq!(zone.upstream_kid(), None);
    assert!(
        zone.jwks()
            .keys
            .iter()
            .all(|k| matches!(k.algorithm, RSA(_)))
    );
    let token = exchanged(&zone, "alice").await;
    let header = mock_keycard::jwt::decode(&token).expect("decode").header;
    assert_eq!(header.alg, "RS256");
    assert_eq!(header.kid.as_deref(), Some(zone.current_kid().as_str()));
    assert!(zone.verify_upstream_token(&token).await.is_ok());
    // ES256 tokens of the default zone's upstream key are not accepted by this one.
    let es256 = mock_keycard::jwt::sign_es256(
        &embedded_upstream_key().expect("key"),
        &upstream_claims(&zone),
    )
    .expect("sign");
    assert!(matches!(
        zone.verify_upstream_token(&es256).await,
        Err(UpstreamError::Verify(VerifyError::UnknownKid(_)))
    ));
}

#[test]
fn upstream_alg_config_is_validated() {
    assert_eq!(KeysConfig::default().upstream_alg, UpstreamAlg::Es256);
    let bad = "[keys]\nupstream_alg = \"HS256\"\n";
    assert!(ZoneConfig::from_toml_str(bad).is_err());
    let missing = "[keys]\nupstream_key = \"/nonexistent/upstream.pem\"\n";
    let config = ZoneConfig::from_toml_str(missing).expect("parses");
    assert!(Zone::new(config, ISSUER).is_err());
}

#[tokio::test]
async fn alg_and_key_confusion_is_refused() {
    let zone = zone();
    let upstream_kid = zone.upstream_kid().expect("es256 key");
    let claims = upstream_claims(&zone);
    // RS256 naming the EC key's kid.
    let rs256 = mock_keycard::jwt::sign(
        &other_zone_key().expect("other"),
        Some(&upstream_kid),
        &claims,
    )
    .expect("sign");
    assert_eq!(
        zone.verify_upstream_token(&rs256).await.map(|_| ()),
        Err(UpstreamError::Verify(VerifyError::Jws(
            JwsError::Algorithm("RS256".into())
        )))
    );
    // ES256 naming an RSA kid.
    let corpus = Es256KeyPair::from_pem("es256-zone", CORPUS_PEM).expect("corpus key");
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": zone.current_kid() });
    let forge = |header: &Value| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(CORPUS_PEM).expect("p256");
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    };
    let es_rsa_kid = forge(&header);
    assert_eq!(
        zone.verify_upstream_token(&es_rsa_kid).await.map(|_| ()),
        Err(UpstreamError::Verify(VerifyError::Jws(
            JwsError::Algorithm("ES256".into())
        )))
    );
    // ES256 signed by another P-256 key, with its own kid or spoofing the upstream kid.
    let own_kid = mock_keycard::jwt::sign_es256(&corpus, &claims).expect("sign");
    assert!(matches!(
        zone.verify_upstream_token(&own_kid).await,
        Err(UpstreamError::Verify(VerifyError::UnknownKid(_)))
    ));
    let spoofed = forge(&json!({ "alg": "ES256", "typ": "JWT", "kid": upstream_kid }));
    assert_eq!(
        zone.verify_upstream_token(&spoofed).await.map(|_| ()),
        Err(UpstreamError::Verify(VerifyError::Jws(JwsError::Signature)))
    );
}
