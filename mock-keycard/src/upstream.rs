//! The demo upstream APIs: a GitHub-like `GET /user`, mounted at `/upstream/github`, and
//! a calendar (`GET /events`), mounted at `/upstream/calendar`.
//!
//! Each accepts only unexpired tokens whose `aud` is its own resource
//! ([`Zone::upstream_url`], [`Zone::calendar_url`]), so a token issued for one is refused
//! by the other, and that were signed by this zone (RS256 with the current or a
//! grace key, or ES256 with its upstream-token key) or by a trusted peer ([`Zone::trust_peer`],
//! `[[peers]]` in the config). Signature checks of this zone's and in-process peers' tokens
//! are memoized per exact token string; expiry, audience and `sub` are checked on every call. It answers the profile of the
//! user the token was issued for, the identity chain under `"keycard"` and the user's
//! `"canary"` ([`crate::canary`]) — the ground truth for the emulator's leak oracles. Any
//! other method and path under the prefix answers the same document (plus `method` and
//! `path`), so tools calling arbitrary endpoints get per-user data too.
//!
//! The calendar answers a different shape: `{"kind": "calendar#events", "owner": <sub>,
//! "items": [..], "keycard": <identity chain>}`, a list of the user's events, each
//! carrying the user's canary. Consent is per upstream: a user may have consented to the
//! GitHub-like upstream and not to the calendar (`consents` in the zone config).

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::Outcome;
use crate::canary::CORRELATION_HEADER;
use crate::jws::{self, ClaimError, Claims};
use crate::keys::{JwkSet, verifier_from_jwk};
use crate::zone::{CachedKeys, Peer, VerifyError, Zone, lock, now};

/// Path prefix of the demo upstream on the zone's server.
pub const UPSTREAM_PATH: &str = "/upstream/github";

/// Path prefix of the calendar demo upstream on the zone's server.
pub const CALENDAR_PATH: &str = "/upstream/calendar";

/// The zone's demo upstream APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoUpstream {
    /// The GitHub-like API ([`UPSTREAM_PATH`], resource [`Zone::upstream_url`]).
    Github,
    /// The calendar API ([`CALENDAR_PATH`], resource [`Zone::calendar_url`]).
    Calendar,
}

impl DemoUpstream {
    /// Its name (`"github"`, `"calendar"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Calendar => "calendar",
        }
    }

    /// Its path prefix on the zone's server.
    pub fn path(self) -> &'static str {
        match self {
            Self::Github => UPSTREAM_PATH,
            Self::Calendar => CALENDAR_PATH,
        }
    }

    /// Its resource identifier (base URL) at `zone`.
    pub fn resource(self, zone: &Zone) -> String {
        match self {
            Self::Github => zone.upstream_url(),
            Self::Calendar => zone.calendar_url(),
        }
    }
}

const PEER_JWKS_TTL: Duration = Duration::from_secs(30);

/// Why the upstream refused a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No bearer token.
    #[error("requires authentication")]
    Missing,
    /// Signature, issuer or key problem.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Expired or not yet valid.
    #[error(transparent)]
    Time(#[from] ClaimError),
    /// `aud` is not this upstream.
    #[error("token audience is not this upstream")]
    Audience,
    /// No `sub`.
    #[error("token has no sub")]
    NoSub,
}

/// The identity chain a token carries, as the upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamIdentity {
    /// Issuer.
    pub iss: String,
    /// User.
    pub sub: String,
    /// The original client (`client_id` claim).
    pub client_id: Option<String>,
    /// The acting application (`act.sub`).
    pub act: Option<String>,
    /// Token id.
    pub jti: Option<String>,
    /// Scope.
    pub scope: Option<String>,
    /// Expiry.
    pub exp: i64,
    /// Whether the issuing zone's audit log records issuing this `jti` (false for remote peers).
    pub audited: bool,
}

impl Zone {
    /// Verifies an upstream token as the (GitHub-like) demo upstream does.
    pub async fn verify_upstream_token(
        &self,
        token: &str,
    ) -> Result<(UpstreamIdentity, Value), UpstreamError> {
        self.verify_token_for(DemoUpstream::Github, token).await
    }

    /// Verifies an upstream token as the demo upstream `upstream` does: its audience must
    /// be that upstream's resource.
    pub async fn verify_token_for(
        &self,
        upstream: DemoUpstream,
        token: &str,
    ) -> Result<(UpstreamIdentity, Value), UpstreamError> {
        let decoded = jws::decode(token).map_err(VerifyError::from)?;
        let iss = decoded
            .claims
            .str("iss")
            .ok_or(VerifyError::UntrustedIssuer)?
            .to_owned();
        let (claims, issuing_zone) = if iss == self.issuer() {
            (self.verify_own(token)?, Some(self.clone()))
        } else {
            self.verify_peer(&iss, token, &decoded).await?
        };
        let leeway = i64::try_from(self.inner.config.lifetimes.leeway_secs).unwrap_or(0);
        let exp = claims.check_time(now(), leeway)?;
        if !claims.has_audience(&upstream.resource(self)) {
            return Err(UpstreamError::Audience);
        }
        let sub = claims.str("sub").ok_or(UpstreamError::NoSub)?.to_owned();
        let jti = claims.str("jti").map(str::to_owned);
        let (profile, audited) = match &issuing_zone {
            Some(zone) => (
                zone.user(&sub),
                jti.as_deref()
                    .and_then(|j| zone.audit_by_jti(j))
                    .is_some_and(|e| {
                        e.outcome == Outcome::Issued && e.user.as_deref() == Some(sub.as_str())
                    }),
            ),
            None => (None, false),
        };
        let profile = match profile {
            Some(p) => serde_json::to_value(p).unwrap_or(Value::Null),
            None => json!({ "login": sub, "id": 0, "name": sub, "email": null }),
        };
        let identity = UpstreamIdentity {
            iss,
            client_id: claims.str("client_id").map(str::to_owned),
            act: claims
                .0
                .get("act")
                .and_then(|a| a.get("sub"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            jti,
            scope: claims.str("scope").map(str::to_owned),
            exp,
            audited,
            sub,
        };
        Ok((identity, profile))
    }

    async fn verify_peer(
        &self,
        iss: &str,
        token: &str,
        decoded: &jws::Decoded,
    ) -> Result<(Claims, Option<Zone>), VerifyError> {
        enum Found {
            Zone(Zone),
            Remote(String, Option<CachedKeys>),
        }
        let found = {
            let peers = self
                .inner
                .peers
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            peers.iter().find_map(|peer| match peer {
                Peer::Zone(weak) => weak
                    .upgrade()
                    .map(|inner| Zone { inner })
                    .filter(|z| z.issuer() == iss)
                    .map(Found::Zone),
                Peer::Remote {
                    issuer,
                    jwks_uri,
                    cache,
                } if issuer == iss => Some(Found::Remote(jwks_uri.clone(), lock(cache).clone())),
                Peer::Remote { .. } => None,
            })
        };
        match found {
            None => Err(VerifyError::UntrustedIssuer),
            Some(Found::Zone(zone)) => Ok((zone.verify_own(token)?, Some(zone))),
            Some(Found::Remote(jwks_uri, cached)) => {
                let kid = decoded.header.kid.as_deref().ok_or(VerifyError::NoKid)?;
                let usable = cached.filter(|c| {
                    c.fetched.elapsed() < PEER_JWKS_TTL
                        && c.keys.iter().any(|(k, _)| k.as_deref() == Some(kid))
                });
                let keys = match usable {
                    Some(keys) => keys,
                    None => {
                        let keys = self.fetch_peer_jwks(&jwks_uri).await?;
                        self.store_peer_keys(iss, keys.clone());
                        keys
                    }
                };
                let (_, key) = keys
                    .keys
                    .iter()
                    .find(|(k, _)| k.as_deref() == Some(kid))
                    .ok_or_else(|| VerifyError::UnknownKid(iss.to_owned()))?;
                decoded.verify_with(key)?;
                Ok((decoded.claims.clone(), None))
            }
        }
    }

    async fn fetch_peer_jwks(&self, jwks_uri: &str) -> Result<CachedKeys, VerifyError> {
        let response = self
            .inner
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|_| VerifyError::PeerUnavailable)?;
        if !response.status().is_success() {
            return Err(VerifyError::PeerUnavailable);
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|_| VerifyError::PeerUnavailable)?;
        Ok(CachedKeys {
            fetched: Instant::now(),
            keys: set
                .keys
                .iter()
                .filter_map(|k| verifier_from_jwk(k).map(|v| (k.common.key_id.clone(), v)))
                .collect(),
        })
    }

    fn store_peer_keys(&self, iss: &str, keys: CachedKeys) {
        let peers = self
            .inner
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for peer in peers.iter() {
            if let Peer::Remote { issuer, cache, .. } = peer
                && issuer == iss
            {
                *lock(cache) = Some(keys.clone());
            }
        }
    }
}

fn unauthorized(message: &str, reason: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
            "reason": reason,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    response
}

/// `GET /upstream/github/user`: the profile, the identity chain and the user's canary.
pub(crate) async fn user(State(zone): State<Zone>, headers: HeaderMap) -> Response {
    answer(&zone, DemoUpstream::Github, "GET", "/user", &headers).await
}

/// Any method and path under `/upstream/calendar`: the user's events (`GET /events`),
/// plus `method` and `path` for any other path.
pub(crate) async fn calendar(
    State(zone): State<Zone>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    routed(&zone, DemoUpstream::Calendar, &method, &uri, &headers).await
}

/// Any other method and path under `/upstream/github`: the same document plus the
/// `method` and `path` asked for, so tools calling arbitrary endpoints get per-user data
/// (and its canary) back.
pub(crate) async fn any(
    State(zone): State<Zone>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    routed(&zone, DemoUpstream::Github, &method, &uri, &headers).await
}

/// [`answer`] for a request routed under `upstream`'s path prefix.
async fn routed(
    zone: &Zone,
    upstream: DemoUpstream,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let path = uri
        .path()
        .strip_prefix(upstream.path())
        .unwrap_or(uri.path());
    answer(zone, upstream, method.as_str(), path, headers).await
}

async fn answer(
    zone: &Zone,
    upstream: DemoUpstream,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
                .then(|| token.trim())
        });
    let Some(token) = token else {
        return unauthorized(
            "Requires authentication",
            &UpstreamError::Missing.to_string(),
        );
    };
    match zone.verify_token_for(upstream, token).await {
        Ok((identity, mut profile)) => {
            tracing::debug!(audited = identity.audited, upstream = upstream.name(), %path, "upstream served");
            let canary = zone.canary_for(&identity.iss, &identity.sub);
            let correlation = headers
                .get(CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok());
            zone.log_upstream_call(upstream, method, path, correlation, &identity, &canary);
            if upstream == DemoUpstream::Calendar {
                let mut events = calendar_events(
                    &identity,
                    &profile,
                    &canary,
                    zone.is_recording_upstream_calls(),
                );
                if path != "/events"
                    && let Value::Object(map) = &mut events
                {
                    map.insert("method".into(), method.into());
                    map.insert("path".into(), path.into());
                }
                return Json(events).into_response();
            }
            if let Value::Object(map) = &mut profile {
                if zone.is_recording_upstream_calls() {
                    // Harness mode: the user's data *is* their canary, so a tool that
                    // keeps only `login` or `name` still carries whose data it returns.
                    for field in ["login", "name"] {
                        if let Some(Value::String(value)) = map.get_mut(field) {
                            value.push('.');
                            value.push_str(&canary);
                        }
                    }
                }
                map.insert("type".into(), "User".into());
                map.insert("canary".into(), canary.into());
                if path != "/user" {
                    map.insert("method".into(), method.into());
                    map.insert("path".into(), path.into());
                }
                map.insert(
                    "keycard".into(),
                    serde_json::to_value(&identity).unwrap_or(Value::Null),
                );
            }
            Json(profile).into_response()
        }
        Err(e) => {
            tracing::debug!(reason = %e, upstream = upstream.name(), "upstream refused a token");
            unauthorized("Bad credentials", &e.to_string())
        }
    }
}

/// The calendar's answer: the user's events (derived from their profile, so per user), each
/// with the user's canary. In harness mode the canary is also written into each summary.
fn calendar_events(
    identity: &UpstreamIdentity,
    profile: &Value,
    canary: &str,
    harness: bool,
) -> Value {
    let text = |k: &str| profile.get(k).and_then(Value::as_str).unwrap_or_default();
    let name = text("name");
    let email = profile.get("email").cloned().unwrap_or(Value::Null);
    let id = profile.get("id").and_then(Value::as_u64).unwrap_or(0);
    let summaries = [
        format!("Stand-up ({name})"),
        format!("1:1 with {name}'s manager"),
    ];
    let items: Vec<Value> = summaries
        .into_iter()
        .enumerate()
        .map(|(i, mut summary)| {
            if harness {
                summary.push('.');
                summary.push_str(canary);
            }
            json!({
                "id": format!("evt-{id}-{}", i + 1),
                "summary": summary,
                "start": format!("2030-01-07T{:02}:00:00Z", 9 + 2 * i),
                "end": format!("2030-01-07T{:02}:30:00Z", 9 + 2 * i),
                "attendees": [email.clone()],
                "canary": canary,
            })
        })
        .collect();
    json!({
        "kind": "calendar#events",
        "owner": identity.sub,
        "items": items,
        "keycard": serde_json::to_value(identity).unwrap_or(Value::Null),
    })
}
