//! ES256 access tokens (`[keys] access_es256`, off by default): minted with `key = "es256"`,
//! published in the JWKS, accepted as subject tokens at the token endpoint.

use mock_keycard::{ES256_KEY, MintError, MintRequest, VerifyError, Zone, ZoneConfig};

use crate::helpers::{ISSUER, UPSTREAM, WORKER, call, claims, exchange_pairs, form, get};

fn es256_zone() -> Zone {
    let mut config = ZoneConfig::default();
    config.keys.access_es256 = true;
    Zone::new(config, ISSUER).expect("zone")
}

fn mint_es256(zone: &Zone, sub: &str) -> String {
    zone.mint(MintRequest {
        sub: Some(sub.to_owned()),
        key: Some(ES256_KEY.to_owned()),
        ..MintRequest::default()
    })
    .expect("mint")
    .access_token
}

#[test]
fn off_by_default_with_a_specific_error() {
    let zone = crate::helpers::zone();
    assert_eq!(zone.access_es256_kid(), None);
    let err = zone
        .mint(MintRequest {
            key: Some(ES256_KEY.to_owned()),
            ..MintRequest::default()
        })
        .unwrap_err();
    assert!(matches!(err, MintError::Es256Disabled), "{err}");
    assert!(err.to_string().contains("access_es256"));
    assert!(
        zone.jwks()
            .keys
            .iter()
            .all(|k| k.common.key_id != zone.access_es256_kid())
    );
}

#[tokio::test]
async fn key_is_published_last_and_tokens_verify() {
    let zone = es256_zone();
    let kid = zone.access_es256_kid().expect("kid");
    assert_ne!(Some(kid.clone()), zone.upstream_kid());
    let reply = call(&zone, get("/.well-known/jwks.json")).await;
    assert_eq!(reply.status, 200);
    let keys = reply.json()["keys"].as_array().cloned().expect("keys");
    let last = keys.last().expect("a key");
    assert_eq!(last["kid"], kid.as_str());
    assert_eq!(last["kty"], "EC");
    assert_eq!(last["alg"], "ES256");
    assert_eq!(last["crv"], "P-256");
    assert!(last.get("d").is_none(), "no private part in the JWKS");

    let token = mint_es256(&zone, "alice");
    let header = mock_keycard::jwt::decode(&token).expect("decode").header;
    assert_eq!(header.alg, "ES256");
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    let c = zone.verify_signature(&token).expect("verifies");
    assert_eq!(c.str("sub"), Some("alice"));

    // A different zone's ES256 access key does not verify here.
    let other = es256_zone().mint(MintRequest {
        sub: Some("alice".into()),
        key: Some(ES256_KEY.into()),
        kid: Some(kid.clone()),
        ..MintRequest::default()
    });
    let other = other.expect("mint").access_token;
    assert!(matches!(
        zone.verify_signature(&other),
        Err(VerifyError::Jws(_))
    ));
}

#[tokio::test]
async fn es256_subject_tokens_exchange_like_rs256_ones() {
    let zone = es256_zone();
    let subject = mint_es256(&zone, "alice");
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&subject, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let upstream = reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let c = claims(&upstream);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], UPSTREAM);

    // The same checks as for RS256 subject tokens: an expired ES256 token is refused.
    let expired = zone
        .mint(MintRequest {
            sub: Some("alice".into()),
            key: Some(ES256_KEY.into()),
            lifetime_secs: Some(-60),
            ..MintRequest::default()
        })
        .expect("mint")
        .access_token;
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&expired, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(reply.text.contains("expired"), "{}", reply.text);
}
