//! RFC 8414 authorization-server metadata of the trusted issuers, fetched through the
//! HTTP port and cached (`JwksConfig::discovery_ttl`). Shared by the keyring (`jwks_uri`)
//! and the token-exchange client (`token_endpoint`).
//!
//! * The document is fetched from `<origin>/.well-known/oauth-authorization-server<path>`
//!   (RFC 8414 §3.1: for an issuer with a path, the well-known segment goes between the
//!   host and the path).
//! * Only trusted issuers are ever looked up: an untrusted one is refused without I/O.
//! * Validation: `issuer` equals the issuer exactly, `jwks_uri` is same-origin with it,
//!   `token_endpoint` is an absolute http(s) URL.
//! * Concurrent misses for one issuer share one fetch (single flight); the result is cached
//!   for `discovery_ttl`. Failures are not cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::http::resource::origin_of;
use crate::outbound::budget::Budget;
use crate::outbound::single_flight::{self, Flight, Outcome, Step, Waiter};
use crate::ports::Ports;

/// Largest metadata document accepted, in bytes.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The members of an issuer's RFC 8414 metadata the core uses (others are kept verbatim
/// in `raw` for the metadata proxy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsMetadata {
    /// Must equal the issuer it was fetched for, exactly.
    pub issuer: String,
    /// Where the keys are; must be same-origin with the issuer.
    pub jwks_uri: String,
    /// The STS.
    pub token_endpoint: String,
    /// The whole document as served.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

/// Why the metadata could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The issuer could not be reached, timed out or answered non-2xx.
    #[error("authorization server metadata unavailable: {0}")]
    Unavailable(String),
    /// The document is not valid metadata (bad JSON, issuer mismatch, cross-origin jwks_uri).
    #[error("authorization server metadata invalid: {0}")]
    Invalid(String),
}

type MetadataResult = Result<Arc<AsMetadata>, DiscoveryError>;

#[derive(Default)]
struct Slot {
    cached: Option<(Arc<AsMetadata>, u64)>,
    inflight: Option<Flight<MetadataResult>>,
}

struct Inner {
    config: Arc<Config>,
    ports: Ports,
    slots: Mutex<HashMap<String, Slot>>,
}

/// Cached discovery for the configured issuers.
pub struct Discovery {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

impl Discovery {
    /// A discovery cache using `ports`.
    pub fn new(config: Arc<Config>, ports: Ports) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                ports,
                slots: Mutex::default(),
            }),
        }
    }

    /// The metadata of `issuer` (which must be trusted), from cache or fetched.
    pub async fn metadata(&self, issuer: &str) -> Result<Arc<AsMetadata>, DiscoveryError> {
        self.metadata_within(issuer, Budget::UNLIMITED).await
    }

    /// [`Discovery::metadata`] within a request's outbound [`Budget`]: a fetch this call
    /// starts runs under it (and is shared with concurrent callers, who get this budget's
    /// outcome); a fetch it joins is awaited at most for the time left.
    pub async fn metadata_within(
        &self,
        issuer: &str,
        budget: Budget,
    ) -> Result<Arc<AsMetadata>, DiscoveryError> {
        if !self
            .inner
            .config
            .trusted_issuers
            .iter()
            .any(|t| t == issuer)
        {
            return Err(DiscoveryError::Invalid(
                "refusing to look up an issuer that is not trusted".into(),
            ));
        }
        let clock = &*self.inner.ports.clock;
        let waiter = Waiter::new(
            clock,
            self.inner.config.inflight,
            self.inner.config.limits.outbound_timeout,
            budget,
        );
        let outcome = waiter
            .run(|waiter| {
                let now = clock.now_ms();
                let ttl = self.inner.config.jwks.discovery_ttl.as_millis() as u64;
                let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
                let slot = slots.entry(issuer.to_owned()).or_default();
                if let Some((doc, at)) = &slot.cached
                    && now < at.saturating_add(ttl)
                {
                    return Step::Done(doc.clone());
                }
                if let Some(flight) = &slot.inflight
                    && let Some(step) = waiter.join(flight)
                {
                    return step;
                }
                let flight = Self::start_fetch(self.inner.clone(), issuer.to_owned(), budget);
                slot.inflight = Some(flight.clone());
                Step::Wait(flight)
            })
            .await;
        match outcome {
            Outcome::Done(doc) => Ok(doc),
            Outcome::Fetched(result) => result,
            Outcome::OutOfTime => Err(DiscoveryError::Unavailable(
                "the request's outbound time budget ran out while waiting for the issuer metadata"
                    .into(),
            )),
        }
    }

    /// Forgets the cached document of `issuer` (the next lookup refetches).
    pub fn invalidate(&self, issuer: &str) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(issuer) {
            slot.cached = None;
        }
    }

    fn start_fetch(inner: Arc<Inner>, issuer: String, budget: Budget) -> Flight<MetadataResult> {
        single_flight::start(async move {
            let result = fetch_metadata(&inner, &issuer, budget).await;
            let now = inner.ports.clock.now_ms();
            let mut slots = inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(issuer).or_default();
            slot.inflight = None;
            if let Ok(doc) = &result {
                slot.cached = Some((doc.clone(), now));
            }
            result
        })
    }
}

/// The RFC 8414 §3.1 well-known URL of `issuer`.
pub fn well_known_url(issuer: &str) -> Result<String, DiscoveryError> {
    let url = url::Url::parse(issuer)
        .map_err(|_| DiscoveryError::Invalid("the issuer is not a URL".into()))?;
    let origin = origin_of(issuer)
        .ok_or_else(|| DiscoveryError::Invalid("the issuer has no http(s) origin".into()))?;
    let path = url.path().trim_end_matches('/');
    Ok(format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    ))
}

async fn fetch_metadata(inner: &Inner, issuer: &str, budget: Budget) -> MetadataResult {
    let url = well_known_url(issuer)?;
    let request = http::Request::get(&url)
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(|e| DiscoveryError::Invalid(format!("cannot build request: {e}")))?;
    let timeout = budget.call_timeout(&*inner.ports.clock, inner.config.limits.outbound_timeout);
    let response = budget
        .run(&*inner.ports.clock, timeout, inner.ports.http.send(request))
        .await
        .ok_or_else(|| {
            DiscoveryError::Unavailable(format!(
                "{url} did not answer within {} ms",
                timeout.as_millis()
            ))
        })?
        .map_err(|e| DiscoveryError::Unavailable(format!("{url}: {e}")))?;
    if !response.status().is_success() {
        return Err(DiscoveryError::Unavailable(format!(
            "{url} answered HTTP {}",
            response.status().as_u16()
        )));
    }
    parse_metadata(issuer, response.body())
}

/// Parses and validates a metadata document fetched for `issuer`.
pub fn parse_metadata(issuer: &str, body: &[u8]) -> MetadataResult {
    if body.len() > MAX_METADATA_BYTES {
        return Err(DiscoveryError::Invalid(format!(
            "the document is larger than {MAX_METADATA_BYTES} bytes"
        )));
    }
    let raw: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| DiscoveryError::Invalid("the document is not JSON".into()))?;
    let field = |name: &str| -> Result<String, DiscoveryError> {
        raw.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| DiscoveryError::Invalid(format!("`{name}` is missing or not a string")))
    };
    let doc_issuer = field("issuer")?;
    if doc_issuer != issuer {
        return Err(DiscoveryError::Invalid(format!(
            "`issuer` does not match {issuer} exactly"
        )));
    }
    let jwks_uri = field("jwks_uri")?;
    let issuer_origin = origin_of(issuer);
    if issuer_origin.is_none() || origin_of(&jwks_uri) != issuer_origin {
        return Err(DiscoveryError::Invalid(
            "`jwks_uri` is not on the issuer's origin".into(),
        ));
    }
    let token_endpoint = field("token_endpoint")?;
    match url::Url::parse(&token_endpoint) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => {}
        _ => {
            return Err(DiscoveryError::Invalid(
                "`token_endpoint` is not an absolute http(s) URL".into(),
            ));
        }
    }
    Ok(Arc::new(AsMetadata {
        issuer: doc_issuer,
        jwks_uri,
        token_endpoint,
        raw,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
    use serde_json::json;
    use std::time::Duration;

    const ISS: &str = "https://zone.keycard.cloud";

    fn config() -> Arc<Config> {
        let mut c = Config::from_env(|k| {
            match k {
                "KEYCARD_ISSUER" => Some(ISS),
                "KEYCARD_RESOURCE_URL" => Some("https://api.github.com"),
                "KEYCARD_CLIENT_ID" => Some("id"),
                "KEYCARD_CLIENT_SECRET" => Some("secret"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        c.trusted_issuers
            .push("https://zone.example/tenant/a".into());
        Arc::new(c)
    }

    fn ports(http: Arc<ScriptedHttp>, clock: Arc<ManualClock>) -> Ports {
        Ports {
            clock: Arc::new(SharedManualClock(clock)),
            http,
            crypto: Arc::new(NoCrypto),
        }
    }

    /// Discovery needs no crypto.
    struct NoCrypto;
    impl crate::ports::Crypto for NoCrypto {
        fn import_verifying_key<'a>(
            &'a self,
            _: crate::ports::JwsAlg,
            _: &'a crate::auth::jwk::Jwk,
        ) -> crate::ports::BoxFuture<
            'a,
            Result<Arc<dyn crate::ports::VerifyingKey>, crate::ports::CryptoError>,
        > {
            Box::pin(async { Err(crate::ports::CryptoError::Failed("none".into())) })
        }
        fn import_signing_key<'a>(
            &'a self,
            _: &'a crate::ports::SecretBytes,
        ) -> crate::ports::BoxFuture<
            'a,
            Result<Arc<dyn crate::ports::SigningKey>, crate::ports::CryptoError>,
        > {
            Box::pin(async { Err(crate::ports::CryptoError::Failed("none".into())) })
        }
        fn fill_random(&self, _: &mut [u8]) -> Result<(), crate::ports::CryptoError> {
            Err(crate::ports::CryptoError::Failed("none".into()))
        }
    }

    fn doc(issuer: &str, jwks: &str) -> serde_json::Value {
        json!({"issuer": issuer, "jwks_uri": jwks, "token_endpoint": format!("{issuer}/oauth/token"), "authorization_endpoint": format!("{issuer}/oauth/authorize")})
    }

    #[test]
    fn well_known_urls() {
        assert_eq!(
            well_known_url(ISS).unwrap(),
            "https://zone.keycard.cloud/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            well_known_url("https://zone.keycard.cloud/").unwrap(),
            "https://zone.keycard.cloud/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            well_known_url("https://zone.example:8443/tenant/a").unwrap(),
            "https://zone.example:8443/.well-known/oauth-authorization-server/tenant/a"
        );
    }

    #[test]
    fn validation() {
        let ok = parse_metadata(
            ISS,
            doc(ISS, "https://zone.keycard.cloud/jwks")
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.jwks_uri, "https://zone.keycard.cloud/jwks");
        assert_eq!(
            ok.raw["authorization_endpoint"],
            "https://zone.keycard.cloud/oauth/authorize"
        );
        let mismatch = parse_metadata(
            ISS,
            doc(
                "https://zone.keycard.cloud/",
                "https://zone.keycard.cloud/jwks",
            )
            .to_string()
            .as_bytes(),
        );
        assert!(matches!(mismatch, Err(DiscoveryError::Invalid(m)) if m.contains("issuer")));
        for jwks in [
            "https://evil.example/jwks",
            "http://zone.keycard.cloud/jwks",
            "https://zone.keycard.cloud:444/jwks",
            "/jwks",
        ] {
            let cross = parse_metadata(ISS, doc(ISS, jwks).to_string().as_bytes());
            assert!(
                matches!(cross, Err(DiscoveryError::Invalid(m)) if m.contains("jwks_uri")),
                "{jwks}"
            );
        }
        let mut no_token = doc(ISS, "https://zone.keycard.cloud/jwks");
        no_token.as_object_mut().unwrap().remove("token_endpoint");
        assert!(
            matches!(parse_metadata(ISS, no_token.to_string().as_bytes()), Err(DiscoveryError::Invalid(m)) if m.contains("token_endpoint"))
        );
        assert!(matches!(
            parse_metadata(ISS, b"<html>"),
            Err(DiscoveryError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn cached_for_ttl_and_path_issuer() {
        let clock = ManualClock::new(1_000_000);
        let http = ScriptedHttp::new(|req| {
            let uri = req.uri().to_string();
            if uri == "https://zone.example/.well-known/oauth-authorization-server/tenant/a" {
                Ok(json_response(
                    200,
                    doc(
                        "https://zone.example/tenant/a",
                        "https://zone.example/tenant/a/jwks",
                    ),
                ))
            } else {
                Ok(json_response(
                    200,
                    doc(ISS, "https://zone.keycard.cloud/jwks"),
                ))
            }
        });
        let d = Discovery::new(config(), ports(http.clone(), clock.clone()));
        d.metadata(ISS).await.unwrap();
        d.metadata(ISS).await.unwrap();
        assert_eq!(http.request_count(), 1);
        clock.advance(Duration::from_secs(3601));
        d.metadata(ISS).await.unwrap();
        assert_eq!(http.request_count(), 2);
        let t = d.metadata("https://zone.example/tenant/a").await.unwrap();
        assert_eq!(t.jwks_uri, "https://zone.example/tenant/a/jwks");
    }

    #[tokio::test]
    async fn untrusted_issuer_no_io() {
        let http = ScriptedHttp::unreachable();
        let d = Discovery::new(config(), ports(http.clone(), ManualClock::new(0)));
        assert!(matches!(
            d.metadata("https://evil.example").await,
            Err(DiscoveryError::Invalid(_))
        ));
        assert_eq!(http.request_count(), 0);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let http = ScriptedHttp::new(|_| Ok(json_response(500, json!({}))));
        let d = Discovery::new(config(), ports(http.clone(), ManualClock::new(0)));
        assert!(
            matches!(d.metadata(ISS).await, Err(DiscoveryError::Unavailable(m)) if m.contains("HTTP 500"))
        );
        assert!(d.metadata(ISS).await.is_err());
        assert_eq!(http.request_count(), 2);
        let http = ScriptedHttp::new(|_| Err(crate::ports::HttpError::Connect("refused".into())));
        let d = Discovery::new(config(), ports(http, ManualClock::new(0)));
        assert!(
            matches!(d.metadata(ISS).await, Err(DiscoveryError::Unavailable(m)) if m.contains("refused"))
        );
    }
}
