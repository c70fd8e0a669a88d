//! The JWKS keyring: verification keys of the trusted issuers, cached per (issuer, kid).
//!
//! * The JWKS URL comes from the issuer's RFC 8414 metadata ([`Discovery`], which checks
//!   that `issuer` matches exactly and `jwks_uri` is same-origin with it).
//! * A fetched key set is trusted for `JwksConfig::ttl`. Each usable key is imported once
//!   through [`Crypto::import_verifying_key`](crate::ports::Crypto::import_verifying_key)
//!   per algorithm it may serve, and the imported key is cached with it.
//! * Concurrent misses for one issuer share one fetch (a `Shared` future kept in the
//!   issuer's slot; the `std` mutex is never held across an await).
//! * At most one fetch per issuer per `refetch_cooldown`: a flood of tokens with random
//!   unknown `kid`s costs at most one JWKS fetch per window, and a failing JWKS endpoint
//!   is not hammered either.
//! * When refreshing fails, keys that were valid keep working for `grace` past their TTL.
//!   After that the keyring answers [`KeyringError::Unavailable`], which maps to
//!   **503 `temporarily_unavailable`** with `Retry-After`: the token may well be valid, we
//!   just cannot check it, so telling the client to re-authenticate (401) would be wrong.
//! * A key whose `alg` (or, without `alg`, whose `kty`/`crv`) does not fit the token's
//!   algorithm is refused ([`KeyringError::AlgMismatch`]).
//! * A successful refetch replaces the issuer's whole key set: rotated-out keys disappear.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::auth::jwk::Jwk;
use crate::config::Config;
use crate::oauth::discovery::Discovery;
use crate::outbound::budget::Budget;
use crate::outbound::single_flight::{self, Flight, Outcome, Step, Waiter};
use crate::ports::{JwsAlg, Ports, VerifyingKey};

/// Largest JWKS document accepted, in bytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys kept per issuer (a hostile JWKS cannot make us import thousands).
const MAX_KEYS_PER_ISSUER: usize = 64;

/// Why no verification key could be had for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// The issuer's current key set has no key with the token's `kid`.
    #[error("the token's key id is not in the issuer's key set")]
    UnknownKid,
    /// The key with the token's `kid` is not usable with the token's `alg`.
    #[error("the signing key does not match the token algorithm {alg}")]
    AlgMismatch {
        /// The token's algorithm (from the allowlist, safe to show).
        alg: &'static str,
    },
    /// The key set could not be fetched and no key is usable within the grace period.
    #[error("the issuer's signing keys cannot be fetched right now: {reason}")]
    Unavailable {
        /// What failed (discovery or JWKS; our own words, URLs from trusted metadata).
        reason: String,
        /// When a retry might succeed, in seconds.
        retry_after_secs: u64,
    },
}

/// Why a fetch failed (kept to explain a later [`KeyringError::Unavailable`]).
type FetchResult = Result<(), String>;

/// One key of an issuer's set, with its imported forms.
struct CachedKey {
    verifiers: Vec<(JwsAlg, Arc<dyn VerifyingKey>)>,
}

#[derive(Default)]
struct IssuerSlot {
    keys: HashMap<String, Arc<CachedKey>>,
    /// When the current key set was fetched (ms); `None` before the first success.
    fetched_at: Option<u64>,
    /// When the last fetch started (ms), successful or not: while it failed, no new fetch
    /// starts within the cooldown.
    last_attempt: Option<u64>,
    /// When an unknown `kid` last caused a refetch of a still-fresh set (ms): at most one
    /// such refetch per cooldown, so a flood of random kids is not a flood of fetches.
    /// TTL refreshes do not count, so a key rotated in right after one is picked up at once.
    last_kid_refetch: Option<u64>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
    inflight: Option<Flight<FetchResult>>,
}

struct Inner {
    config: Arc<Config>,
    ports: Ports,
    discovery: Arc<Discovery>,
    slots: Mutex<HashMap<String, IssuerSlot>>,
}

/// The verification keys of the trusted issuers. One per isolate; share it.
pub struct Keyring {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

/// What the slot says about a (kid, alg) at a given time.
enum Lookup {
    /// A usable key.
    Found(Arc<dyn VerifyingKey>),
    /// Known but the wrong algorithm.
    Mismatch,
    /// Not usable now; `stale` is the key if it is past its TTL but within the grace.
    Miss {
        stale: Option<Arc<dyn VerifyingKey>>,
    },
}

impl Keyring {
    /// A keyring that finds JWKS URLs through `discovery`.
    pub fn new(config: Arc<Config>, ports: Ports, discovery: Arc<Discovery>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                ports,
                discovery,
                slots: Mutex::default(),
            }),
        }
    }

    /// The verification key `kid` of `issuer` for `alg`. The issuer must already have been
    /// checked against the trusted set (discovery refuses others anyway).
    pub async fn key(
        &self,
        issuer: &str,
        kid: &str,
        alg: JwsAlg,
    ) -> Result<Arc<dyn VerifyingKey>, KeyringError> {
        self.key_within(issuer, kid, alg, Budget::UNLIMITED).await
    }

    /// [`Keyring::key`] within a request's outbound [`Budget`]: a fetch this call starts
    /// (discovery + JWKS) runs under it; a fetch it joins is awaited at most for the time
    /// left (then the stale key, if any, or the miss error is the answer).
    pub async fn key_within(
        &self,
        issuer: &str,
        kid: &str,
        alg: JwsAlg,
        budget: Budget,
    ) -> Result<Arc<dyn VerifyingKey>, KeyringError> {
        let clock = &*self.inner.ports.clock;
        let waiter = Waiter::new(
            clock,
            self.inner.config.inflight,
            self.inner.config.limits.outbound_timeout,
            budget,
        );
        let outcome = waiter
            .run(|waiter| {
                let now = self.now();
                let mut slots = self.lock();
                let slot = slots.entry(issuer.to_owned()).or_default();
                let stale = match self.lookup(slot, kid, alg, now) {
                    Lookup::Found(key) => return Step::Done(Ok(key)),
                    Lookup::Mismatch => {
                        return Step::Done(Err(KeyringError::AlgMismatch { alg: alg.name() }));
                    }
                    Lookup::Miss { stale } => stale,
                };
                if let Some(flight) = &slot.inflight
                    && let Some(step) = waiter.join(flight)
                {
                    return step;
                }
                if self.may_fetch(slot, kid, now) {
                    let flight = Self::start_fetch(self.inner.clone(), issuer.to_owned(), budget);
                    if self.is_kid_refetch(slot, kid, now) {
                        slot.last_kid_refetch = Some(now);
                    }
                    slot.last_attempt = Some(now);
                    slot.inflight = Some(flight.clone());
                    return Step::Wait(flight);
                }
                // Cooling down after a failed refresh: the grace period covers us.
                Step::Done(stale.ok_or_else(|| self.miss_error(slot)))
            })
            .await;
        if let Outcome::Done(answer) = outcome {
            return answer;
        }
        // The fetch recorded its outcome in the slot (or this request ran out of time
        // waiting for it): look once more.
        let now = self.now();
        let mut slots = self.lock();
        let slot = slots.entry(issuer.to_owned()).or_default();
        match self.lookup(slot, kid, alg, now) {
            Lookup::Found(key) => Ok(key),
            Lookup::Mismatch => Err(KeyringError::AlgMismatch { alg: alg.name() }),
            // Just refreshed, or the refresh failed and the grace period covers us.
            Lookup::Miss { stale: Some(stale) } => Ok(stale),
            Lookup::Miss { .. } => Err(self.miss_error(slot)),
        }
    }

    fn now(&self) -> u64 {
        self.inner.ports.clock.now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuerSlot>> {
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, slot: &IssuerSlot, kid: &str, alg: JwsAlg, now: u64) -> Lookup {
        let jwks = &self.inner.config.jwks;
        let Some(fetched_at) = slot.fetched_at else {
            return Lookup::Miss { stale: None };
        };
        let Some(key) = slot.keys.get(kid) else {
            return Lookup::Miss { stale: None };
        };
        let Some(verifier) = key
            .verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.clone())
        else {
            return Lookup::Mismatch;
        };
        let fresh_until = fetched_at.saturating_add(ms(jwks.ttl));
        if now < fresh_until {
            return Lookup::Found(verifier);
        }
        let grace_until = fresh_until.saturating_add(ms(jwks.grace));
        Lookup::Miss {
            stale: (now < grace_until).then_some(verifier),
        }
    }

    /// Whether a fetch may start now: not while the endpoint is failing (one attempt per
    /// cooldown), and for an unknown `kid` in a fresh set only once per cooldown.
    fn may_fetch(&self, slot: &IssuerSlot, kid: &str, now: u64) -> bool {
        let cooldown = ms(self.inner.config.jwks.refetch_cooldown);
        let recent = |at: Option<u64>| at.is_some_and(|at| now < at.saturating_add(cooldown));
        if slot.last_error.is_some() && recent(slot.last_attempt) {
            return false;
        }
        !(self.is_kid_refetch(slot, kid, now) && recent(slot.last_kid_refetch))
    }

    /// A fetch now would be caused by an unknown `kid` (the set itself is still fresh).
    fn is_kid_refetch(&self, slot: &IssuerSlot, kid: &str, now: u64) -> bool {
        let ttl = ms(self.inner.config.jwks.ttl);
        slot.fetched_at
            .is_some_and(|at| now < at.saturating_add(ttl))
            && !slot.keys.contains_key(kid)
    }

    fn miss_error(&self, slot: &IssuerSlot) -> KeyringError {
        let retry_after_secs = self.inner.config.jwks.refetch_cooldown.as_secs().max(1);
        match &slot.last_error {
            Some(reason) => KeyringError::Unavailable {
                reason: reason.clone(),
                retry_after_secs,
            },
            None if slot.fetched_at.is_some() => KeyringError::UnknownKid,
            None => KeyringError::Unavailable {
                reason: "the key set has not been fetched yet".into(),
                retry_after_secs,
            },
        }
    }

    fn start_fetch(inner: Arc<Inner>, issuer: String, budget: Budget) -> Flight<FetchResult> {
        single_flight::start(async move {
            let result = fetch_keys(&inner, &issuer, budget).await;
            let now = inner.ports.clock.now_ms();
            let mut slots = inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(issuer.clone()).or_default();
            slot.inflight = None;
            match result {
                Ok(keys) => {
                    tracing::debug!(issuer = %issuer, keys = keys.len(), "JWKS refreshed");
                    slot.keys = keys;
                    slot.fetched_at = Some(now);
                    slot.last_error = None;
                    Ok(())
                }
                Err(reason) => {
                    tracing::warn!(issuer = %issuer, %reason, "JWKS refresh failed");
                    slot.last_error = Some(reason.clone());
                    Err(reason)
                }
            }
        })
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn fetch_keys(
    inner: &Inner,
    issuer: &str,
    budget: Budget,
) -> Result<HashMap<String, Arc<CachedKey>>, String> {
    let metadata = inner
        .discovery
        .metadata_within(issuer, budget)
        .await
        .map_err(|e| e.to_string())?;
    let url = &metadata.jwks_uri;
    let request = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(|e| format!("cannot build the JWKS request: {e}"))?;
    let timeout = budget.call_timeout(&*inner.ports.clock, inner.config.limits.outbound_timeout);
    let response = budget
        .run(&*inner.ports.clock, timeout, inner.ports.http.send(request))
        .await
        .ok_or_else(|| format!("{url} did not answer within {} ms", timeout.as_millis()))?
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "{url} answered HTTP {}",
            response.status().as_u16()
        ));
    }
    let jwks = parse_jwks(response.body()).map_err(|e| format!("{url}: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in jwks {
        if keys.len() >= MAX_KEYS_PER_ISSUER {
            break;
        }
        let Some(kid) = jwk.kid.clone() else { continue };
        let mut verifiers = Vec::new();
        for alg in candidate_algs(&jwk) {
            match inner.ports.crypto.import_verifying_key(alg, &jwk).await {
                Ok(key) => verifiers.push((alg, key)),
                Err(e) => {
                    tracing::debug!(issuer, alg = alg.name(), error = %e, "JWK not importable")
                }
            }
        }
        if !verifiers.is_empty() {
            keys.insert(kid, Arc::new(CachedKey { verifiers }));
        }
    }
    Ok(keys)
}

/// Parses a JWKS leniently: keys that are not JWK objects are skipped, not fatal.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the JWKS is not JSON".to_owned())?;
    let keys = value
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| "the JWKS has no `keys` array".to_owned())?;
    Ok(keys
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect())
}

/// The algorithms a JWK may verify: its `alg` if it names one (when allowed and coherent
/// with `kty`), otherwise what its key type supports. Encryption keys are skipped.
pub fn candidate_algs(jwk: &Jwk) -> Vec<JwsAlg> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Vec::new();
    }
    let by_type: &[JwsAlg] = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => &[JwsAlg::Rs256, JwsAlg::Ps256],
        ("EC", Some("P-256")) => &[JwsAlg::Es256],
        _ => &[],
    };
    match jwk.alg.as_deref() {
        None => by_type.to_vec(),
        Some(name) => match JwsAlg::from_name(name) {
            Some(alg) if by_type.contains(&alg) => vec![alg],
            _ => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(kty: &str, alg: Option<&str>, crv: Option<&str>, use_: Option<&str>) -> Jwk {
        Jwk {
            kty: kty.into(),
            alg: alg.map(Into::into),
            crv: crv.map(Into::into),
            use_: use_.map(Into::into),
            ..Jwk::default()
        }
    }

    #[test]
    fn candidate_algorithms_follow_alg_and_kty() {
        use JwsAlg::*;
        assert_eq!(
            candidate_algs(&jwk("RSA", None, None, None)),
            vec![Rs256, Ps256]
        );
        assert_eq!(
            candidate_algs(&jwk("RSA", Some("RS256"), None, Some("sig"))),
            vec![Rs256]
        );
        assert_eq!(
            candidate_algs(&jwk("RSA", Some("PS256"), None, None)),
            vec![Ps256]
        );
        assert_eq!(
            candidate_algs(&jwk("EC", None, Some("P-256"), None)),
            vec![Es256]
        );
        // Incoherent or unsupported combinations serve nothing.
        assert!(candidate_algs(&jwk("RSA", Some("ES256"), None, None)).is_empty());
        assert!(candidate_algs(&jwk("EC", Some("RS256"), Some("P-256"), None)).is_empty());
        assert!(candidate_algs(&jwk("EC", None, Some("P-384"), None)).is_empty());
        assert!(candidate_algs(&jwk("RSA", Some("HS256"), None, None)).is_empty());
        assert!(candidate_algs(&jwk("oct", None, None, None)).is_empty());
        assert!(candidate_algs(&jwk("RSA", None, None, Some("enc"))).is_empty());
    }

    #[test]
    fn jwks_parsing_is_lenient_per_key_strict_per_document() {
        let keys = parse_jwks(br#"{"keys":[{"kty":"RSA","kid":"a"},42,{"no":"kty"}]}"#).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(parse_jwks(b"[]").unwrap_err().contains("no `keys`"));
        assert!(parse_jwks(b"<html>").unwrap_err().contains("not JSON"));
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(parse_jwks(&big).unwrap_err().contains("larger"));
    }
}
