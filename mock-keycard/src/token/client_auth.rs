//! Client authentication: `client_secret_basic`, `client_secret_post`, `private_key_jwt`
//! (RFC 7523) and `none` (public clients).

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Params;
use crate::error::OAuthError;
use crate::jws::{self, ClaimError, Decoded};
use crate::keys::{JwkSet, verifier_from_jwk};
use crate::model::{Application, ClientAuth};
use crate::zone::{CachedKeys, Zone, lock, now};
use jsonwebtoken::jwk::KeyAlgorithm;

/// RFC 7523 client assertion type.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a fetched application JWKS is reused.
const JWKS_TTL: Duration = Duration::from_secs(60);
/// Minimum spacing of refetches caused by an unknown `kid`.
const JWKS_REFETCH_COOLDOWN: Duration = Duration::from_secs(1);

/// Authenticates the client of a token request.
pub(crate) async fn authenticate(
    zone: &Zone,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Application, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..6)
                .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
                .map(|_| v.get(6..).unwrap_or_default())
        });
    let post = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(post.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::request(
            "more than one client authentication method used",
        ));
    }
    if let Some(credentials) = basic {
        let (client_id, secret) = parse_basic(credentials)?;
        if params.get("client_id").is_some_and(|c| c != client_id) {
            return Err(OAuthError::client(
                "client_id parameter differs from Basic credentials",
            ));
        }
        return check_secret(zone, &client_id, &secret);
    }
    if let Some(secret) = post {
        let client_id = params
            .get("client_id")
            .ok_or_else(|| OAuthError::client("client_secret without client_id"))?;
        return check_secret(zone, client_id, secret);
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
            return Err(OAuthError::client(format!(
                "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
            )));
        }
        return private_key_jwt(zone, assertion, params.get("client_id")).await;
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::client("client authentication required"))?;
    let app = zone
        .application(client_id)
        .ok_or_else(|| OAuthError::client(format!("unknown client {client_id:?}")))?;
    if app.auth != ClientAuth::None {
        return Err(OAuthError::client(format!(
            "client {client_id:?} is confidential and must authenticate"
        )));
    }
    Ok(app)
}

/// Decodes `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(credentials: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::client("malformed Basic credentials");
    let decoded = STANDARD
        .decode(credentials.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), unescape(secret)))
}

fn check_secret(zone: &Zone, client_id: &str, secret: &str) -> Result<Application, OAuthError> {
    let app = zone
        .application(client_id)
        .ok_or_else(|| OAuthError::client(format!("unknown client {client_id:?}")))?;
    match &app.auth {
        ClientAuth::Secret(expected) if expected.matches(secret) => Ok(app),
        ClientAuth::Secret(_) => Err(OAuthError::client(format!(
            "wrong client secret for {client_id:?}"
        ))),
        _ => Err(OAuthError::client(format!(
            "client {client_id:?} does not use a client secret"
        ))),
    }
}

async fn private_key_jwt(
    zone: &Zone,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Application, OAuthError> {
    let decoded =
        jws::decode(assertion).map_err(|e| OAuthError::client(format!("client assertion: {e}")))?;
    let claims = &decoded.claims;
    let iss = claims
        .str("iss")
        .ok_or_else(|| OAuthError::client("client assertion has no iss"))?;
    if claims.str("sub") != Some(iss) {
        return Err(OAuthError::client(
            "client assertion: iss and sub must both be the client_id",
        ));
    }
    if client_id.is_some_and(|c| c != iss) {
        return Err(OAuthError::client(
            "client assertion iss differs from client_id",
        ));
    }
    let app = zone
        .application(iss)
        .ok_or_else(|| OAuthError::client(format!("unknown client {iss:?}")))?;
    let ClientAuth::PrivateKeyJwt { jwks_uri } = &app.auth else {
        return Err(OAuthError::client(format!(
            "client {iss:?} does not use private_key_jwt"
        )));
    };
    let issuer = zone.issuer();
    let token_endpoint = zone.token_endpoint();
    if !(claims.has_audience(&issuer) || claims.has_audience(&token_endpoint)) {
        return Err(OAuthError::client(format!(
            "client assertion aud must be the issuer {issuer} or the token endpoint {token_endpoint}"
        )));
    }
    let now = now();
    let lifetimes = &zone.inner.config.lifetimes;
    let leeway = i64::try_from(lifetimes.leeway_secs).unwrap_or(0);
    let exp = claims.check_time(now, leeway).map_err(|e| match e {
        ClaimError::Expired => OAuthError::client("client assertion expired"),
        other => OAuthError::client(format!("client assertion: {other}")),
    })?;
    let max = i64::try_from(lifetimes.max_assertion_lifetime_secs).unwrap_or(300);
    if exp - now > max {
        return Err(OAuthError::client(format!(
            "client assertion exp is more than {max} s in the future"
        )));
    }
    let jti = claims
        .str("jti")
        .ok_or_else(|| OAuthError::client("client assertion has no jti"))?
        .to_owned();
    verify_signature(zone, jwks_uri, &decoded).await?;
    let mut seen = lock(&zone.inner.assertion_jtis);
    if seen.len() > 4096 {
        seen.retain(|_, until| *until > now);
    }
    let key = (app.client_id.clone(), jti);
    if seen.get(&key).is_some_and(|until| *until > now - leeway) {
        return Err(OAuthError::client(
            "client assertion jti was already used (replay)",
        ));
    }
    seen.insert(key, exp);
    drop(seen);
    Ok(app)
}

async fn verify_signature(
    zone: &Zone,
    jwks_uri: &str,
    decoded: &Decoded,
) -> Result<(), OAuthError> {
    let kid = decoded.header.kid.as_deref();
    let cached = lock(&zone.inner.app_jwks).get(jwks_uri).cloned();
    let fresh = cached
        .as_ref()
        .is_some_and(|c| c.fetched.elapsed() < JWKS_TTL);
    let has_kid = |keys: &CachedKeys| {
        kid.is_none_or(|k| keys.keys.iter().any(|(id, _)| id.as_deref() == Some(k)))
    };
    let keys = match cached {
        Some(c) if fresh && (has_kid(&c) || c.fetched.elapsed() < JWKS_REFETCH_COOLDOWN) => c,
        _ => {
            let keys = fetch_jwks(zone, jwks_uri).await?;
            lock(&zone.inner.app_jwks).insert(jwks_uri.to_owned(), keys.clone());
            keys
        }
    };
    let candidates = keys
        .keys
        .iter()
        .filter(|(id, _)| kid.is_none() || id.as_deref() == kid);
    let mut any = false;
    for (_, key) in candidates {
        any = true;
        if decoded.verify_with(key).is_ok() {
            return Ok(());
        }
    }
    if !any {
        return Err(OAuthError::client(
            "client assertion kid not found in the application's JWKS",
        ));
    }
    Err(OAuthError::client(
        "client assertion signature does not verify",
    ))
}

async fn fetch_jwks(zone: &Zone, jwks_uri: &str) -> Result<CachedKeys, OAuthError> {
    let unavailable = || OAuthError::client("cannot fetch the application's JWKS");
    let response = zone
        .inner
        .http
        .get(jwks_uri)
        .send()
        .await
        .map_err(|_| unavailable())?;
    if !response.status().is_success() {
        return Err(unavailable());
    }
    let set: JwkSet = response.json().await.map_err(|_| unavailable())?;
    let keys = set
        .keys
        .iter()
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a == KeyAlgorithm::RS256)
        })
        .filter_map(|k| verifier_from_jwk(k).map(|v| (k.common.key_id.clone(), v)))
        .collect();
    Ok(CachedKeys {
        fetched: Instant::now(),
        keys,
    })
}
