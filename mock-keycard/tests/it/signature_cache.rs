//! The memo of verified signatures: it only ever skips the signature check of an exact token
//! string that verified before; expiry, audience, key publication and consent are checked on
//! every call, and tampered tokens always run (and fail) the real check.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock_keycard::{
    Audience, ClaimError, JwsError, MintRequest, SignatureCacheStats, UpstreamError, VerifyError,
    Zone, ZoneConfig,
};
use serde_json::Value;

use crate::helpers::{
    ISSUER, UPSTREAM, WORKER, call, exchange_pairs, exchanged, form, user_token, zone,
};

fn upstream_token(zone: &Zone, lifetime_secs: i64) -> String {
    zone.mint(MintRequest {
        sub: Some("alice".into()),
        audience: Some(Audience::One(UPSTREAM.into())),
        lifetime_secs: Some(lifetime_secs),
        ..MintRequest::default()
    })
    .expect("mint")
    .access_token
}

/// `token` with its payload replaced by `edit(claims)` (the signature is kept).
fn with_claims(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    edit(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// `token` with one signature character changed.
fn flip_signature(token: &str) -> String {
    let (head, last) = token.split_at(token.len() - 2);
    let replacement = if last.starts_with('A') { "B" } else { "A" };
    format!("{head}{replacement}{}", &last[1..])
}

fn delta(before: SignatureCacheStats, after: SignatureCacheStats) -> (u64, u64, u64) {
    (
        after.hits - before.hits,
        after.misses - before.misses,
        after.inserts - before.inserts,
    )
}

#[tokio::test]
async fn an_expired_token_is_refused_even_when_its_signature_is_cached() {
    let zone = zone();
    let expired = upstream_token(&zone, -1);
    let first = zone.signature_cache_stats();
    let refusal = Err(UpstreamError::Time(ClaimError::Expired));
    assert_eq!(
        zone.verify_upstream_token(&expired).await.map(|_| ()),
        refusal
    );
    let second = zone.signature_cache_stats();
    assert_eq!(delta(first, second), (0, 1, 1), "signature checked once");
    assert_eq!(
        zone.verify_upstream_token(&expired).await.map(|_| ()),
        refusal
    );
    assert_eq!(
        delta(second, zone.signature_cache_stats()),
        (1, 0, 0),
        "the second call was a cache hit, and still refused"
    );
}

#[tokio::test]
async fn a_cached_token_expires_on_the_real_clock() {
    let zone = zone();
    let token = upstream_token(&zone, 1);
    assert!(zone.verify_upstream_token(&token).await.is_ok());
    let before = zone.signature_cache_stats();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        zone.verify_upstream_token(&token).await.map(|_| ()),
        Err(UpstreamError::Time(ClaimError::Expired))
    );
    assert_eq!(delta(before, zone.signature_cache_stats()), (1, 0, 0));
}

#[tokio::test]
async fn audience_is_checked_on_every_cached_call() {
    let zone = zone();
    let mcp_token = user_token(&zone, "alice");
    for _ in 0..2 {
        assert_eq!(
            zone.verify_upstream_token(&mcp_token).await.map(|_| ()),
            Err(UpstreamError::Audience)
        );
    }
    assert_eq!(zone.signature_cache_stats().hits, 1);
}

#[tokio::test]
async fn tampered_tokens_never_hit_the_cache_and_are_never_remembered() {
    let zone = zone();
    let good = exchanged(&zone, "alice").await;
    let (identity, _) = zone.verify_upstream_token(&good).await.expect("good");
    assert_eq!(identity.sub, "alice");
    let (identity, _) = zone.verify_upstream_token(&good).await.expect("cached");
    assert_eq!(identity.sub, "alice");

    let as_bob = with_claims(&good, |c| c["sub"] = "bob".into());
    let longer = with_claims(&good, |c| {
        c["exp"] = (c["exp"].as_i64().unwrap_or(0) + 3600).into()
    });
    let bad_signature = flip_signature(&good);
    for tampered in [&as_bob, &longer, &bad_signature] {
        for _ in 0..2 {
            let before = zone.signature_cache_stats();
            assert_eq!(
                zone.verify_upstream_token(tampered).await.map(|_| ()),
                Err(UpstreamError::Verify(VerifyError::Jws(JwsError::Signature)))
            );
            assert_eq!(
                delta(before, zone.signature_cache_stats()),
                (0, 1, 0),
                "a miss, verified for real, not remembered"
            );
        }
    }
    assert!(zone.verify_upstream_token(&good).await.is_ok());
}

#[tokio::test]
async fn a_key_rotated_out_past_its_grace_refuses_its_cached_tokens() {
    let zone =
        Zone::new(ZoneConfig::default().with_key_grace(Duration::ZERO), ISSUER).expect("zone");
    let token = upstream_token(&zone, 600);
    assert!(zone.verify_upstream_token(&token).await.is_ok());
    assert!(zone.verify_upstream_token(&token).await.is_ok());
    assert_eq!(zone.signature_cache_stats().hits, 1);
    zone.rotate_key();
    assert_eq!(
        zone.verify_upstream_token(&token).await.map(|_| ()),
        Err(UpstreamError::Verify(VerifyError::UnknownKid(
            ISSUER.into()
        )))
    );
}

#[tokio::test]
async fn revoked_consent_refuses_a_cached_subject_token_at_the_token_endpoint() {
    let zone = zone();
    let subject = user_token(&zone, "alice");
    let pairs = exchange_pairs(&subject, UPSTREAM);
    assert_eq!(
        call(&zone, form("/token", &pairs, WORKER)).await.status,
        200
    );
    assert_eq!(
        call(&zone, form("/token", &pairs, WORKER)).await.status,
        200
    );
    let hits = zone.signature_cache_stats().hits;
    assert!(hits >= 1, "the subject token's signature was cached");
    assert!(zone.revoke_consent("alice", UPSTREAM));
    let reply = call(&zone, form("/token", &pairs, WORKER)).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert!(zone.signature_cache_stats().hits > hits);
    // A tampered subject token is refused at the token endpoint too.
    let tampered = with_claims(&subject, |c| c["sub"] = "bob".into());
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&tampered, UPSTREAM), WORKER),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("signature does not verify")
    );
}
