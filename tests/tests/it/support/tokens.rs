//! Bearer tokens for the tests: unsigned ones for the property tests (the fake zone is
//! the ground truth of who a subject is; the leak property is about the cache and
//! delegation, not signatures) and real RS256 ones from `fixtures/keys/zone-1.pem` for the
//! end-to-end test through the gateway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The fixture zone signing key (PKCS#8 PEM).
pub const ZONE_1_PEM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/keys/zone-1.pem"
));

/// The `kid` the fake zone publishes `zone-1.pem` under.
pub const ZONE_1_KID: &str = "zone-1";

/// The claims of a user's bearer token; `sub` is omitted when `None`.
pub fn claims(
    issuer: &str,
    subject: Option<&str>,
    client_id: &str,
    audience: &str,
    now_secs: u64,
) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "client_id": client_id,
        "scope": "mcp:tools",
        "iat": now_secs,
        "exp": now_secs + 3600,
    });
    if let (Some(sub), Some(map)) = (subject, claims.as_object_mut()) {
        map.insert("sub".into(), json!(sub));
    }
    claims
}

/// `header.claims.` with `alg: none`: readable by the fake zone, accepted by nothing real.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An RS256 JWT over `claims`, signed with `zone-1.pem` (kid [`ZONE_1_KID`]).
pub fn signed(claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(ZONE_1_KID.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(ZONE_1_PEM.as_bytes())?;
    jsonwebtoken::encode(&header, claims, &key)
}

/// The claims of a compact JWS, without checking its signature; `None` if malformed.
pub fn read_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        claims @ Value::Object(_) => Some(claims),
        _ => None,
    }
}

/// The public JWKS of `zone-1.pem` as the fake zone serves it.
pub fn zone_1_jwks() -> Result<Value, keycard_core::delegation::pem::PemError> {
    let key = keycard_core::delegation::pem::parse_rsa_private_key(ZONE_1_PEM)?;
    let jwk = keycard_core::auth::jwk::Jwk {
        kid: Some(ZONE_1_KID.into()),
        alg: Some("RS256".into()),
        use_: Some("sig".into()),
        ..key.public_jwk
    };
    Ok(json!({ "keys": [jwk] }))
}

#[test]
fn unsigned_and_signed_tokens_carry_their_claims() {
    let c = claims("https://i", Some("a::b"), "cursor", "https://r", 10);
    assert_eq!(read_claims(&unsigned(&c)), Some(c.clone()));
    let jwt = signed(&c).unwrap();
    assert_eq!(read_claims(&jwt), Some(c));
    let subless = claims("https://i", None, "cursor", "https://r", 10);
    assert!(
        read_claims(&unsigned(&subless))
            .unwrap()
            .get("sub")
            .is_none()
    );
    assert_eq!(read_claims("not-a-jwt"), None);
    assert_eq!(read_claims("a.!!!.c"), None);
    let keys = zone_1_jwks().unwrap();
    assert_eq!(keys["keys"][0]["kid"], ZONE_1_KID);
    assert_eq!(keys["keys"][0]["e"], "AQAB");
}
