//! [`UpstreamAccess`]: the real delegation behind `ctx.upstream(name).fetch(request)`.
//!
//! For each call: refuse a caller without `sub` (there is no user to act for), get an
//! upstream token for (issuer, subject, client, this server's resource the token was
//! verified for, upstream, scopes) from the isolate-safe [`TokenCache`] (exchanging at the
//! STS on a miss), send the request with
//! `Authorization: Bearer <upstream token>` under the outbound timeout, and if the
//! upstream answers 401, drop that cached token, exchange afresh and retry exactly once.
//! No error produced here contains a token.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, header};

use crate::auth::identity::Identity;
use crate::auth::jwk::JwkSet;
use crate::config::UpstreamConfig;
use crate::config::{Config, ConfigError};
use crate::delegation::DelegationError;
use crate::delegation::cache::{CacheKey, CacheStats, TokenCache};
use crate::delegation::consent;
use crate::delegation::credentials::ClientCredentials;
use crate::delegation::exchange::{ExchangeError, ExchangeInput, TokenExchanger, UpstreamToken};
use crate::oauth::discovery::Discovery;
use crate::outbound::budget::Budget;
use crate::ports::{HttpError, Ports};

struct Inner {
    config: Arc<Config>,
    ports: Ports,
    exchanger: Arc<TokenExchanger>,
    cache: Arc<TokenCache>,
    /// The configured upstreams, each with its base URL and origin parsed once.
    upstreams: Vec<Upstream>,
}

/// One configured upstream, ready for the base check.
struct Upstream {
    config: UpstreamConfig,
    /// The base URL and its origin; `None` when it has no tuple origin (never matches).
    base: Option<(url::Url, String)>,
}

/// Delegated upstream access: the token exchanger, the token cache and the upstream
/// client. One per isolate (inside the [`crate::Gateway`]); cheap per-request handles come
/// from [`UpstreamAccess::for_resource_id`].
#[derive(Clone)]
pub struct UpstreamAccess {
    inner: Arc<Inner>,
    resource_id: Option<String>,
    /// The outbound time budget of the request this handle serves.
    budget: Budget,
}

impl std::fmt::Debug for UpstreamAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAccess")
            .field("upstreams", &self.inner.config.upstream_names())
            .field("resource_id", &self.resource_id)
            .field("budget", &self.budget)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl UpstreamAccess {
    /// Builds the credentials (parsing `KEYCARD_PRIVATE_KEY` now: a bad key is a
    /// [`ConfigError`]), the exchanger and an empty cache.
    pub fn new(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
    ) -> Result<Self, ConfigError> {
        let cache = TokenCache::new(&config.cache, ports.clock.clone());
        Self::with_cache(config, ports, discovery, cache)
    }

    /// Like [`UpstreamAccess::new`] with a deliberately chosen cache keying.
    /// Demonstration and mutation testing only.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_cache_keying(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        keying: crate::delegation::cache::CacheKeying,
    ) -> Result<Self, ConfigError> {
        let cache = TokenCache::with_keying(&config.cache, ports.clock.clone(), keying);
        Self::with_cache(config, ports, discovery, cache)
    }

    /// Like [`UpstreamAccess::with_cache_keying`] with a cache shared with other
    /// handles (other zones): mutation testing of zone separation only.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_shared_cache(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        cache: Arc<TokenCache>,
    ) -> Result<Self, ConfigError> {
        Self::with_cache_arc(config, ports, discovery, cache)
    }

    fn with_cache(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        cache: TokenCache,
    ) -> Result<Self, ConfigError> {
        let cache = cache.with_inflight(config.inflight, config.limits.outbound_timeout);
        Self::with_cache_arc(config, ports, discovery, Arc::new(cache))
    }

    fn with_cache_arc(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        cache: Arc<TokenCache>,
    ) -> Result<Self, ConfigError> {
        let credentials = ClientCredentials::new(
            &config.credential,
            ports.crypto.clone(),
            ports.clock.clone(),
        )
        .map_err(|e| e.into_config_error())?;
        let exchanger = TokenExchanger::new(
            config.clone(),
            ports.clone(),
            discovery,
            Arc::new(credentials),
        );
        Ok(Self {
            resource_id: config.resource_id.clone(),
            budget: Budget::UNLIMITED,
            inner: Arc::new(Inner {
                upstreams: config
                    .upstreams
                    .iter()
                    .map(|u| Upstream {
                        config: u.clone(),
                        // Only a tuple origin can match: an opaque one serialises as "null".
                        base: url::Url::parse(&u.url)
                            .ok()
                            .filter(|base| base.origin().is_tuple())
                            .map(|base| {
                                let origin = base.origin().ascii_serialization();
                                (base, origin)
                            }),
                    })
                    .collect(),
                config,
                ports,
                exchanger: Arc::new(exchanger),
                cache,
            }),
        })
    }

    /// A handle acting as the server identified by `resource_id` (web identity's
    /// `iss`/`sub`/`client_id`; by default the request origin). Shares the cache.
    pub fn for_resource_id(&self, resource_id: impl Into<String>) -> Self {
        Self {
            inner: self.inner.clone(),
            resource_id: Some(resource_id.into()),
            budget: self.budget,
        }
    }

    /// This handle bound to one request's outbound [`Budget`] (started by
    /// [`crate::Gateway::handle`]): the exchange, the upstream call and its retry each get
    /// `min(outbound timeout, time left)`, and fail at once when it is spent. A handle
    /// built outside a request has no budget ([`Budget::UNLIMITED`]).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The outbound budget this handle runs under.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// The STS credentials.
    pub fn credentials(&self) -> &ClientCredentials {
        self.inner.exchanger.credentials()
    }

    /// The public key set for `/.well-known/jwks.json` (web identity only).
    pub fn public_jwks(&self) -> Option<JwkSet> {
        self.credentials().public_jwks()
    }

    /// The token cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// The token cache.
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// An upstream token for `identity` (cached or freshly exchanged), with its cache key.
    async fn token(
        &self,
        identity: &Identity,
        key: &CacheKey,
    ) -> Result<Arc<UpstreamToken>, DelegationError> {
        let exchanger = self.inner.exchanger.clone();
        // A shared (joined) exchange runs under its owner's budget; see `exchange_within`.
        let budget = self.budget;
        let input = ExchangeInput {
            issuer: identity.issuer.clone(),
            subject_token: identity.token.clone(),
            resource: key.resource.clone(),
            scopes: key.scopes.clone(),
            resource_id: self.resource_id.clone(),
        };
        self.inner
            .cache
            .get_or_exchange(key, budget, move || {
                Box::pin(async move { exchanger.exchange_within(&input, budget).await })
            })
            .await
            .map_err(|e| self.delegation_error(e, identity, key))
    }

    /// The user-facing form of an exchange failure; a refusal for missing consent
    /// becomes [`DelegationError::ConsentRequired`] with the consent page's URL.
    fn delegation_error(
        &self,
        error: ExchangeError,
        identity: &Identity,
        key: &CacheKey,
    ) -> DelegationError {
        if let ExchangeError::Refused {
            error: code,
            description,
            ..
        } = &error
            && consent::is_consent_refusal(code, description.as_deref())
        {
            let client_id = self
                .inner
                .exchanger
                .credentials()
                .client_id()
                .or(self.resource_id.as_deref())
                .unwrap_or(identity.resource.as_str());
            let who = consent::ConsentSubject {
                issuer: &identity.issuer,
                user: identity.subject.as_deref().unwrap_or_default(),
                client_id,
                resource: &key.resource,
            };
            let template = self
                .inner
                .config
                .consent_url
                .as_deref()
                .unwrap_or(consent::DEFAULT_CONSENT_URL_TEMPLATE);
            match consent::consent_url(template, &who) {
                Some(url) => {
                    return DelegationError::ConsentRequired {
                        resource: key.resource.clone(),
                        url,
                        elicitation_id: consent::elicitation_id(&who),
                        description: description.clone(),
                    };
                }
                None => tracing::warn!(
                    "KEYCARD_CONSENT_URL does not produce an absolute http(s) URL; answering without a consent link"
                ),
            }
        }
        delegation_error(error)
    }

    /// The base URL of the upstream called `name`.
    pub fn upstream_url(&self, name: &str) -> Option<&str> {
        self.upstream(name).map(|u| u.config.url.as_str())
    }

    fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.inner.upstreams.iter().find(|u| u.config.name == name)
    }

    /// Sends `request` (an absolute URI under the base URL of the upstream called
    /// `upstream`) with a delegated token for `identity` in its `Authorization` header.
    /// Returns the upstream's response, whatever its status, after at most one retry on
    /// 401. Only a verified [`Identity`] is ever exchanged.
    pub async fn fetch(
        &self,
        upstream: &str,
        identity: &Identity,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, DelegationError> {
        let Some(target) = self.upstream(upstream) else {
            return Err(DelegationError::UnknownUpstream {
                name: upstream.to_owned(),
                configured: self.inner.config.upstream_names(),
            });
        };
        if identity.test_only {
            return Err(DelegationError::TestIdentity);
        }
        let Some(subject) = identity.subject.clone() else {
            return Err(DelegationError::NoSubject);
        };
        let under = target
            .base
            .as_ref()
            .is_some_and(|(base, origin)| is_under(base, origin, &request.uri().to_string()));
        if !under {
            return Err(DelegationError::OutsideUpstream {
                upstream: target.config.name.clone(),
                base: target.config.url.clone(),
            });
        }
        let key = CacheKey::new(
            identity.issuer.clone(),
            Some(subject),
            identity.client_id.clone(),
            identity.resource.clone(),
            target.config.url.clone(),
            target.config.scopes.iter().cloned(),
        );
        let (parts, body) = request.into_parts();

        let token = self.token(identity, &key).await?;
        let response = self.send(&parts, &body, &token).await?;
        if !is_unauthorized(&response) {
            return Ok(response);
        }
        tracing::debug!("upstream answered 401: dropping the cached token and retrying once");
        self.inner.cache.invalidate(&key, &token);
        let fresh = self.token(identity, &key).await?;
        let retried = self.send(&parts, &body, &fresh).await?;
        if is_unauthorized(&retried) {
            self.inner.cache.invalidate(&key, &fresh);
            tracing::info!("upstream rejected a freshly exchanged token (401); not retrying again");
        }
        Ok(retried)
    }

    async fn send(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        token: &UpstreamToken,
    ) -> Result<http::Response<Bytes>, DelegationError> {
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.access_token.expose()))
            .map_err(|_| {
                DelegationError::Unavailable(
                    "Keycard issued a token that cannot be sent in an HTTP header".into(),
                )
            })?;
        bearer.set_sensitive(true);
        let mut request = http::Request::new(body.clone());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request.headers_mut().insert(header::AUTHORIZATION, bearer);

        let clock = self.inner.ports.clock.as_ref();
        if self.budget.is_spent(clock) {
            return Err(DelegationError::Upstream(
                "the request's outbound time budget is spent; the upstream API was not called"
                    .into(),
            ));
        }
        let timeout = self
            .budget
            .call_timeout(clock, self.inner.config.limits.outbound_timeout);
        match self
            .budget
            .run(clock, timeout, self.inner.ports.http.send(request))
            .await
        {
            Some(Ok(response)) => Ok(response),
            None | Some(Err(HttpError::Timeout)) => Err(DelegationError::Upstream(format!(
                "the upstream API did not answer within {} ms",
                timeout.as_millis()
            ))),
            Some(Err(e)) => Err(DelegationError::Upstream(e.to_string())),
        }
    }
}

/// Whether the upstream refused the token (its 401, read here, never one we answer).
fn is_unauthorized(response: &http::Response<Bytes>) -> bool {
    response.status().as_u16() == 401
}

/// Whether `target` is `base` or below it: same origin, and a path that is the base
/// path or continues it after a `/`. Already-canonical URLs are split without a parse;
/// anything else (queries, escapes, dot segments, unusual hosts) is normalised by `url`
/// first, so `/v1/../admin` is judged as `/admin`.
fn is_under(base: &url::Url, base_origin: &str, target: &str) -> bool {
    let parsed;
    let (same_origin, path) = match crate::http::resource::simple_origin_and_path(target) {
        Some((origin, path)) => (origin == base_origin, path),
        None => {
            let Ok(url) = url::Url::parse(target) else {
                return false;
            };
            parsed = url;
            (
                parsed.origin().ascii_serialization() == base_origin,
                parsed.path(),
            )
        }
    };
    if !same_origin {
        return false;
    }
    let base_path = base.path().trim_end_matches('/');
    path == base_path
        || path
            .strip_prefix(base_path)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The user-facing form of an exchange failure.
fn delegation_error(error: ExchangeError) -> DelegationError {
    match error {
        ExchangeError::Refused {
            error, description, ..
        } => DelegationError::Refused {
            error: error.as_str().to_owned(),
            description,
        },
        ExchangeError::Unavailable { status } => {
            DelegationError::Unavailable(format!("the token endpoint answered HTTP {status}"))
        }
        ExchangeError::Timeout => {
            DelegationError::Unavailable("the token endpoint did not answer in time".into())
        }
        other => DelegationError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegation::credentials::tests::{FakeCrypto, PKCS1};
    use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
    use crate::ports::{BoxFuture, Clock, HttpClient};
    use crate::secret::SecretString;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const ISS: &str = "https://zone.keycard.cloud";
    const TOKEN_ENDPOINT: &str = "https://zone.keycard.cloud/oauth/token";
    const UPSTREAM: &str = "https://api.github.com";

    fn config(private_key: bool) -> Arc<Config> {
        Arc::new(
            Config::from_env(|k| {
                match k {
                    "KEYCARD_ISSUER" => Some(ISS),
                    "KEYCARD_RESOURCE_URL" => Some(UPSTREAM),
                    "KEYCARD_CLIENT_ID" => Some("my-app"),
                    "KEYCARD_CLIENT_SECRET" => Some("s3cr3t"),
                    "KEYCARD_PRIVATE_KEY" if private_key => Some(PKCS1),
                    _ => None,
                }
                .map(str::to_owned)
            })
            .unwrap(),
        )
    }

    fn identity(sub: Option<&str>) -> Identity {
        Identity {
            issuer: ISS.into(),
            subject: sub.map(str::to_owned),
            client_id: "cursor".into(),
            scopes: vec!["mcp:tools".into()],
            audience: vec!["https://mcp.example.com".into()],
            expires_at: 2_000_000_000,
            issued_at: None,
            token_id: None,
            token: SecretString::from(format!("bearer-of-{}", sub.unwrap_or("nobody"))),
            resource: "https://mcp.example.com".into(),
            test_only: false,
        }
    }

    /// A zone issuing `up-<n>` tokens (or answering `token_answer`), and an upstream
    /// answering `upstream_status(n)` for the n-th upstream call.
    struct World {
        http: Arc<ScriptedHttp>,
        access: UpstreamAccess,
    }

    fn world(
        private_key: bool,
        token_answer: impl Fn(usize) -> http::Response<Bytes> + Send + Sync + 'static,
        upstream_status: impl Fn(usize) -> u16 + Send + Sync + 'static,
    ) -> World {
        let exchanges = AtomicUsize::new(0);
        let upstream_calls = AtomicUsize::new(0);
        let http = ScriptedHttp::new(move |req| {
            let uri = req.uri().to_string();
            if uri == format!("{ISS}/.well-known/oauth-authorization-server") {
                Ok(json_response(
                    200,
                    json!({ "issuer": ISS, "jwks_uri": format!("{ISS}/jwks"), "token_endpoint": TOKEN_ENDPOINT }),
                ))
            } else if uri == TOKEN_ENDPOINT {
                Ok(token_answer(exchanges.fetch_add(1, Ordering::SeqCst) + 1))
            } else if uri.starts_with(UPSTREAM) {
                let n = upstream_calls.fetch_add(1, Ordering::SeqCst) + 1;
                let auth = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                Ok(json_response(upstream_status(n), json!({ "saw": auth })))
            } else {
                Err(HttpError::Connect(format!("no route to {uri}")))
            }
        });
        let ports = Ports {
            clock: Arc::new(SharedManualClock(ManualClock::new(1_700_000_000_000))),
            http: http.clone(),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let config = config(private_key);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        World {
            access: UpstreamAccess::new(config, ports, discovery).unwrap(),
            http,
        }
    }

    fn issuing(n: usize) -> http::Response<Bytes> {
        json_response(
            200,
            json!({ "access_token": format!("up-{n}"), "token_type": "Bearer", "expires_in": 3600 }),
        )
    }

    fn get_user() -> http::Request<Bytes> {
        http::Request::get(format!("{UPSTREAM}/user"))
            .header("x-tool", "github_user")
            .body(Bytes::new())
            .unwrap()
    }

    fn saw(response: &http::Response<Bytes>) -> String {
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        body["saw"].as_str().unwrap().to_owned()
    }

    impl World {
        fn exchanges(&self) -> usize {
            self.http.count_matching("/oauth/token")
        }
        fn upstream_calls(&self) -> usize {
            self.http.count_matching(UPSTREAM)
        }
    }

    #[tokio::test]
    async fn exchanges_once_then_serves_from_cache() {
        let w = world(false, issuing, |_| 200);
        let alice = identity(Some("alice"));
        let first = w.access.fetch("default", &alice, get_user()).await.unwrap();
        assert_eq!(saw(&first), "Bearer up-1");
        let second = w.access.fetch("default", &alice, get_user()).await.unwrap();
        assert_eq!(saw(&second), "Bearer up-1");
        assert_eq!((w.exchanges(), w.upstream_calls()), (1, 2));
        // The tool's own headers survive; the exchange carried the user's token.
        let requests = w.http.requests();
        let upstream = requests
            .iter()
            .find(|r| r.uri().to_string().starts_with(UPSTREAM))
            .unwrap();
        assert_eq!(upstream.headers()["x-tool"], "github_user");
        assert!(upstream.headers()[header::AUTHORIZATION].is_sensitive());
        let exchange = requests.iter().find(|r| r.uri() == TOKEN_ENDPOINT).unwrap();
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(exchange.body()).unwrap();
        assert!(form.contains(&("subject_token".into(), "bearer-of-alice".into())));
        assert!(form.contains(&("resource".into(), UPSTREAM.into())));
        // Bob gets his own token.
        let bob = w
            .access
            .fetch("default", &identity(Some("bob")), get_user())
            .await
            .unwrap();
        assert_eq!(saw(&bob), "Bearer up-2");
        let stats = w.access.cache_stats();
        assert_eq!((stats.entries, stats.hits, stats.exchanges), (2, 1, 2));
    }

    #[tokio::test]
    async fn no_subject_is_refused_without_any_call() {
        let w = world(false, issuing, |_| 200);
        let err = w
            .access
            .fetch("default", &identity(None), get_user())
            .await
            .unwrap_err();
        assert_eq!(err, DelegationError::NoSubject);
        assert!(err.to_string().contains("`sub`"));
        assert_eq!(w.http.request_count(), 0);
    }

    #[tokio::test]
    async fn upstream_401_drops_the_token_and_retries_once() {
        let w = world(false, issuing, |n| if n == 1 { 401 } else { 200 });
        let alice = identity(Some("alice"));
        let response = w.access.fetch("default", &alice, get_user()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(saw(&response), "Bearer up-2");
        assert_eq!((w.exchanges(), w.upstream_calls()), (2, 2));
        // The fresh token is the cached one now.
        let again = w.access.fetch("default", &alice, get_user()).await.unwrap();
        assert_eq!(saw(&again), "Bearer up-2");
        assert_eq!(w.exchanges(), 2);
        assert_eq!(w.access.cache_stats().invalidations, 1);
    }

    #[tokio::test]
    async fn upstream_401_twice_is_not_a_loop() {
        let w = world(false, issuing, |_| 401);
        let response = w
            .access
            .fetch("default", &identity(Some("alice")), get_user())
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!((w.exchanges(), w.upstream_calls()), (2, 2));
        // Neither rejected token stays cached.
        assert_eq!(w.access.cache().len(), 0);
    }

    /// The zone refuses for missing consent; the user consents on the page; the retried
    /// call exchanges afresh (the refusal was never cached) and succeeds.
    #[tokio::test]
    async fn a_retry_after_consent_exchanges_afresh() {
        let w = world(
            false,
            |n| {
                if n == 1 {
                    json_response(
                        400,
                        json!({ "error": "invalid_grant", "error_description": "the user has not consented to https://api.github.com" }),
                    )
                } else {
                    issuing(n)
                }
            },
            |_| 200,
        );
        let mallory = identity(Some("mallory"));
        let err = w
            .access
            .fetch("default", &mallory, get_user())
            .await
            .unwrap_err();
        let DelegationError::ConsentRequired {
            resource,
            url,
            elicitation_id,
            description,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(resource, UPSTREAM);
        assert_eq!(
            url,
            "https://zone.keycard.cloud/consent?user=mallory&client_id=my-app&resource=https%3A%2F%2Fapi.github.com"
        );
        assert!(elicitation_id.starts_with("consent-"));
        assert!(description.as_deref().unwrap().contains("consented"));
        assert!(!format!("{err} {err:?}").contains("bearer-of-mallory"));
        assert_eq!((w.exchanges(), w.access.cache().len()), (1, 0));

        let response = w
            .access
            .fetch("default", &mallory, get_user())
            .await
            .unwrap();
        assert_eq!(saw(&response), "Bearer up-2");
        assert_eq!((w.exchanges(), w.upstream_calls()), (2, 1));
    }

    /// `KEYCARD_CONSENT_URL` shapes the consent link; a template that yields no http(s)
    /// URL falls back to the plain refusal.
    #[test]
    fn the_consent_template_is_configurable() {
        let with = |template: &'static str| {
            Config::from_env(move |k| {
                match k {
                    "KEYCARD_ISSUER" => Some(ISS),
                    "KEYCARD_RESOURCE_URL" => Some(UPSTREAM),
                    "KEYCARD_CLIENT_ID" => Some("my-app"),
                    "KEYCARD_CLIENT_SECRET" => Some("s3cr3t"),
                    "KEYCARD_CONSENT_URL" => Some(template),
                    _ => None,
                }
                .map(str::to_owned)
            })
            .unwrap()
        };
        assert_eq!(
            with("https://console.example/{client_id}/grant?r={resource}")
                .consent_url
                .as_deref(),
            Some("https://console.example/{client_id}/grant?r={resource}")
        );
        assert_eq!(config(false).consent_url, None);
    }

    #[tokio::test]
    async fn exchange_failures_map_to_delegation_errors() {
        let cases: Vec<(http::Response<Bytes>, DelegationError)> = vec![
            (
                json_response(
                    400,
                    json!({ "error": "invalid_grant", "error_description": "the user has not authorized GitHub" }),
                ),
                DelegationError::Refused {
                    error: "invalid_grant".into(),
                    description: Some("the user has not authorized GitHub".into()),
                },
            ),
            (
                json_response(400, json!({ "error": "invalid_target" })),
                DelegationError::Refused {
                    error: "invalid_target".into(),
                    description: None,
                },
            ),
            (
                json_response(503, json!({})),
                DelegationError::Unavailable("the token endpoint answered HTTP 503".into()),
            ),
            (
                json_response(429, json!({})),
                DelegationError::Unavailable("the token endpoint answered HTTP 429".into()),
            ),
        ];
        for (answer, expected) in cases {
            let answer = std::sync::Mutex::new(Some(answer));
            let w = world(
                false,
                move |_| answer.lock().unwrap().take().unwrap(),
                |_| 200,
            );
            let err = w
                .access
                .fetch("default", &identity(Some("alice")), get_user())
                .await
                .unwrap_err();
            assert_eq!(err, expected);
            assert!(!err.to_string().contains("bearer-of-alice"));
            assert_eq!(w.upstream_calls(), 0);
            assert_eq!(w.access.cache().len(), 0);
        }
        let w = world(
            false,
            |_| http::Response::new(Bytes::from("<html>")),
            |_| 200,
        );
        let err = w
            .access
            .fetch("default", &identity(Some("alice")), get_user())
            .await
            .unwrap_err();
        assert!(
            matches!(err, DelegationError::Unavailable(ref m) if m.contains("malformed")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn requests_outside_the_upstream_never_get_a_token() {
        let w = world(false, issuing, |_| 200);
        for uri in [
            "https://evil.example/user",
            "http://api.github.com/user",
            "https://api.github.com.evil.example/user",
        ] {
            let request = http::Request::get(uri).body(Bytes::new()).unwrap();
            let err = w
                .access
                .fetch("default", &identity(Some("alice")), request)
                .await
                .unwrap_err();
            assert!(
                matches!(err, DelegationError::OutsideUpstream { ref upstream, .. } if upstream == "default"),
                "{uri}: {err}"
            );
        }
        assert_eq!(w.http.request_count(), 0);
        // Unknown upstream names and test identities never get a token either.
        let request = || {
            http::Request::get(format!("{UPSTREAM}/user"))
                .body(Bytes::new())
                .unwrap()
        };
        let err = w
            .access
            .fetch("calendar", &identity(Some("alice")), request())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no upstream named \"calendar\" is configured (configured: default); add it to KEYCARD_UPSTREAMS"
        );
        let test_only = Identity::for_tests(ISS, Some("alice"), "cursor");
        let err = w
            .access
            .fetch("default", &test_only, request())
            .await
            .unwrap_err();
        assert_eq!(err, DelegationError::TestIdentity);
        assert_eq!(w.http.request_count(), 0);
    }

    #[test]
    fn under_the_upstream_base() {
        for (base, target, expected) in [
            (
                "https://api.github.com",
                "https://api.github.com/user",
                true,
            ),
            ("https://api.github.com", "https://api.github.com", true),
            (
                "https://api.github.com",
                "https://API.github.com:443/user?x=1",
                true,
            ),
            (
                "https://api.github.com",
                "http://api.github.com/user",
                false,
            ),
            (
                "https://api.github.com",
                "https://api.github.com:8443/user",
                false,
            ),
            (
                "https://api.github.com",
                "https://api.github.com.evil.example/",
                false,
            ),
            (
                "https://api.github.com",
                "https://user@evil.example/",
                false,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v1",
                true,
            ),
            (
                "https://api.example.com/v1/",
                "https://api.example.com/v1/users",
                true,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v1?page=2",
                true,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v10",
                false,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v2/x",
                false,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v1/../admin",
                false,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/v1/%2e%2e/admin",
                false,
            ),
            (
                "https://api.example.com/v1",
                "https://api.example.com/",
                false,
            ),
            ("https://api.example.com/v1", "not a url", false),
        ] {
            let base_url = url::Url::parse(base).unwrap();
            let origin = base_url.origin().ascii_serialization();
            assert_eq!(
                is_under(&base_url, &origin, target),
                expected,
                "{base} / {target}"
            );
        }
    }

    /// Everything answers at once except the upstream API, which never does.
    struct HangingUpstream(Arc<ScriptedHttp>);

    impl HttpClient for HangingUpstream {
        fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
            if request.uri().to_string().starts_with(UPSTREAM) {
                Box::pin(futures::future::pending())
            } else {
                self.0.send(request)
            }
        }
    }

    #[tokio::test]
    async fn upstream_timeout_is_an_upstream_error() {
        let w = world(false, issuing, |_| 200);
        let clock = ManualClock::new(0);
        let ports = Ports {
            clock: Arc::new(SharedManualClock(clock.clone())),
            http: Arc::new(HangingUpstream(w.http.clone())),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let config = config(false);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let access = UpstreamAccess::new(config, ports, discovery).unwrap();
        let alice = identity(Some("alice"));
        let (result, ()) = futures::join!(access.fetch("default", &alice, get_user()), async {
            while w.exchanges() == 0 {
                tokio::task::yield_now().await;
            }
            tokio::task::yield_now().await;
            clock.advance(Duration::from_secs(10));
        });
        let err = result.unwrap_err();
        assert_eq!(
            err,
            DelegationError::Upstream("the upstream API did not answer within 10000 ms".into())
        );
    }

    #[tokio::test]
    async fn web_identity_acts_as_the_request_resource() {
        let w = world(true, issuing, |_| 200);
        assert!(w.access.public_jwks().is_some());
        // No KEYCARD_RESOURCE_ID and no request origin: a clear error, no exchange.
        let err = w
            .access
            .fetch("default", &identity(Some("alice")), get_user())
            .await
            .unwrap_err();
        assert!(
            matches!(err, DelegationError::Unavailable(ref m) if m.contains("resource identifier")),
            "{err}"
        );
        assert_eq!(w.exchanges(), 0);

        let scoped = w.access.for_resource_id("https://mcp.example.com");
        let response = scoped
            .fetch("default", &identity(Some("alice")), get_user())
            .await
            .unwrap();
        assert_eq!(saw(&response), "Bearer up-1");
        let requests = w.http.requests();
        let exchange = requests.iter().find(|r| r.uri() == TOKEN_ENDPOINT).unwrap();
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(exchange.body()).unwrap();
        assert!(form.contains(&("client_id".into(), "https://mcp.example.com".into())));
        assert!(exchange.headers().get(header::AUTHORIZATION).is_none());
        // The per-request handle shares the isolate's cache.
        assert_eq!(w.access.cache().len(), 1);
    }

    #[test]
    fn a_bad_private_key_is_a_config_error() {
        let mut config = (*config(false)).clone();
        config.credential = crate::config::Credential::PrivateKey {
            pem: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----".into(),
        };
        let ports = Ports {
            clock: Arc::new(SharedManualClock(ManualClock::new(0))),
            http: ScriptedHttp::unreachable(),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let config = Arc::new(config);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let err = UpstreamAccess::new(config, ports, discovery).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "KEYCARD_PRIVATE_KEY",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("EC PRIVATE KEY"), "{err}");
    }

    fn gateway(private_key: bool) -> crate::Gateway {
        let ports = Ports {
            clock: Arc::new(SharedManualClock(ManualClock::new(0))),
            http: ScriptedHttp::unreachable(),
            crypto: Arc::new(FakeCrypto::default()),
        };
        crate::Gateway::new(
            (*config(private_key)).clone(),
            ports,
            crate::server::Server::demo(),
        )
        .unwrap()
    }

    fn get(path: &str, method: http::Method) -> http::Request<Bytes> {
        http::Request::builder()
            .method(method)
            .uri(format!("https://mcp.example.com{path}"))
            .body(Bytes::new())
            .unwrap()
    }

    /// Every upstream a tool declares is checked against the configuration when the
    /// gateway is built, however many it declares.
    #[test]
    fn gateway_checks_every_declared_upstream() {
        let ports = Ports {
            clock: Arc::new(SharedManualClock(ManualClock::new(0))),
            http: ScriptedHttp::unreachable(),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let server =
            crate::server::Server::new("two", "0.0.0").tool(crate::tools::builtin::my_day());
        let with = |upstreams: Option<&str>| {
            let mut config = (*config(false)).clone();
            if let Some(json) = upstreams {
                let parsed = Config::from_env(|k| match k {
                    "KEYCARD_ISSUER" => Some(ISS.to_owned()),
                    "KEYCARD_UPSTREAMS" => Some(json.to_owned()),
                    "KEYCARD_CLIENT_ID" => Some("my-app".to_owned()),
                    "KEYCARD_CLIENT_SECRET" => Some("s3cr3t".to_owned()),
                    _ => None,
                })
                .unwrap();
                config.upstreams.extend(parsed.upstreams);
            }
            crate::Gateway::new(config, ports.clone(), server.clone())
        };
        let err = with(None).unwrap_err().to_string();
        assert!(
            err.contains("tool `my_day` calls the upstream \"github\", which is not configured (add it there; configured: default)"),
            "{err}"
        );
        let err = with(Some(r#"{"github": "https://api.github.com"}"#))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("KEYCARD_UPSTREAMS")
                && err.contains("the upstream \"calendar\", which is not configured (add it there; configured: default, github)"),
            "{err}"
        );
        with(Some(
            r#"{"github": "https://api.github.com", "calendar": "https://calendar.example"}"#,
        ))
        .unwrap();
    }

    #[tokio::test]
    async fn gateway_serves_the_web_identity_jwks() {
        let g = gateway(true);
        let response = g
            .handle(get("/.well-known/jwks.json", http::Method::GET))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=300"
        );
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let jwks: JwkSet = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(Some(jwks), g.upstream().public_jwks());
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        let key = &body["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"].as_str(), g.upstream().credentials().key_id());
        assert!(key.get("d").is_none());

        let post = g
            .handle(get("/.well-known/jwks.json", http::Method::POST))
            .await;
        assert_eq!(post.status(), 405);
        assert_eq!(g.cache_stats(), CacheStats::default());
    }

    #[tokio::test]
    async fn gateway_has_no_jwks_in_client_secret_mode() {
        let g = gateway(false);
        let response = g
            .handle(get("/.well-known/jwks.json", http::Method::GET))
            .await;
        assert_eq!(response.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"], "not_found");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("KEYCARD_PRIVATE_KEY")
        );
        assert!(!String::from_utf8_lossy(response.body()).contains("s3cr3t"));
    }

    /// The token endpoint answers only once the clock has moved 1 s past the request, with
    /// a token naming the subject token it was exchanged for; the upstream echoes it.
    struct SlowZone {
        clock: Arc<ManualClock>,
        inner: Arc<ScriptedHttp>,
    }

    impl HttpClient for SlowZone {
        fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
            let slow = request.uri() == TOKEN_ENDPOINT;
            let answer = self.inner.send(request);
            let sleep = SharedManualClock(self.clock.clone()).sleep(Duration::from_secs(1));
            Box::pin(async move {
                if slow {
                    sleep.await;
                }
                answer.await
            })
        }
    }

    #[tokio::test]
    async fn concurrent_users_share_nothing_and_one_user_shares_one_exchange() {
        let inner = ScriptedHttp::new(|req| {
            let uri = req.uri().to_string();
            if uri.ends_with("/.well-known/oauth-authorization-server") {
                return Ok(json_response(
                    200,
                    json!({ "issuer": ISS, "jwks_uri": format!("{ISS}/jwks"), "token_endpoint": TOKEN_ENDPOINT }),
                ));
            }
            if uri == TOKEN_ENDPOINT {
                let form: Vec<(String, String)> = serde_urlencoded::from_bytes(req.body()).unwrap();
                let subject = form
                    .iter()
                    .find(|(k, _)| k == "subject_token")
                    .unwrap()
                    .1
                    .clone();
                return Ok(json_response(
                    200,
                    json!({ "access_token": format!("upstream-for-{subject}"), "expires_in": 600 }),
                ));
            }
            let auth = req.headers()[header::AUTHORIZATION]
                .to_str()
                .unwrap()
                .to_owned();
            Ok(json_response(200, json!({ "saw": auth })))
        });
        let clock = ManualClock::new(1_700_000_000_000);
        let ports = Ports {
            clock: Arc::new(SharedManualClock(clock.clone())),
            http: Arc::new(SlowZone {
                clock: clock.clone(),
                inner: inner.clone(),
            }),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let config = config(false);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let access = UpstreamAccess::new(config, ports, discovery).unwrap();

        let users = ["alice", "alice", "alice", "bob", "bob", "carol"].map(|s| identity(Some(s)));
        let calls =
            futures::future::join_all(users.iter().map(|u| access.fetch("default", u, get_user())));
        let (results, ()) = futures::join!(calls, async {
            while inner.count_matching("/oauth/token") < 3 {
                tokio::task::yield_now().await;
            }
            clock.advance(Duration::from_secs(1));
        });
        for (user, result) in users.iter().zip(results) {
            let sub = user.subject.as_deref().unwrap();
            assert_eq!(
                saw(&result.unwrap()),
                format!("Bearer upstream-for-bearer-of-{sub}")
            );
        }
        // One exchange per user, however many of their requests overlapped.
        assert_eq!(inner.count_matching("/oauth/token"), 3);
        let stats = access.cache_stats();
        assert_eq!((stats.exchanges, stats.joined, stats.entries), (3, 3, 3));
    }

    /// A tool asking for two upstreams at once: both exchanges are in flight before either
    /// answers, each is cached under its own resource, and a refusal for one upstream
    /// leaves the other's result intact.
    #[tokio::test]
    async fn fetch_all_exchanges_concurrently_and_fails_per_upstream() {
        const CALENDAR: &str = "https://calendar.example/api";
        let inner = ScriptedHttp::new(|req| {
            let uri = req.uri().to_string();
            if uri.ends_with("/.well-known/oauth-authorization-server") {
                return Ok(json_response(
                    200,
                    json!({ "issuer": ISS, "jwks_uri": format!("{ISS}/jwks"), "token_endpoint": TOKEN_ENDPOINT }),
                ));
            }
            if uri == TOKEN_ENDPOINT {
                let form: Vec<(String, String)> = serde_urlencoded::from_bytes(req.body()).unwrap();
                let get = |k: &str| form.iter().find(|(n, _)| n == k).unwrap().1.clone();
                let (subject, resource) = (get("subject_token"), get("resource"));
                if subject == "bearer-of-bob" && resource == CALENDAR {
                    return Ok(json_response(
                        400,
                        json!({ "error": "invalid_grant", "error_description": "the user has not consented" }),
                    ));
                }
                return Ok(json_response(
                    200,
                    json!({ "access_token": format!("tok-{subject}-{resource}"), "expires_in": 600 }),
                ));
            }
            let auth = req.headers()[header::AUTHORIZATION]
                .to_str()
                .unwrap()
                .to_owned();
            Ok(json_response(200, json!({ "saw": auth })))
        });
        let clock = ManualClock::new(1_700_000_000_000);
        let ports = Ports {
            clock: Arc::new(SharedManualClock(clock.clone())),
            http: Arc::new(SlowZone {
                clock: clock.clone(),
                inner: inner.clone(),
            }),
            crypto: Arc::new(FakeCrypto::default()),
        };
        let config = Arc::new(
            Config::from_env(|k| match k {
                "KEYCARD_ISSUER" => Some(ISS.to_owned()),
                "KEYCARD_UPSTREAMS" => Some(format!(
                    r#"{{"github": "{UPSTREAM}", "calendar": "{CALENDAR}"}}"#
                )),
                "KEYCARD_CLIENT_ID" => Some("my-app".to_owned()),
                "KEYCARD_CLIENT_SECRET" => Some("s3cr3t".to_owned()),
                _ => None,
            })
            .unwrap(),
        );
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let access = UpstreamAccess::new(config, ports, discovery).unwrap();

        let day = |sub: &str| {
            let ctx = crate::tools::ToolContext::live(
                identity(Some(sub)),
                access.clone(),
                crate::mcp::version::ProtocolVersion::V2025_11_25,
                crate::tools::ToClient::nothing("test"),
            );
            let inner = inner.clone();
            let clock = clock.clone();
            async move {
                let before = inner.count_matching("/oauth/token");
                let request = |url: String| http::Request::get(url).body(Bytes::new()).unwrap();
                let (results, both_in_flight) = futures::join!(
                    ctx.fetch_all([
                        ("github", request(format!("{UPSTREAM}/user"))),
                        ("calendar", request(format!("{CALENDAR}/events"))),
                    ]),
                    async {
                        // The token endpoint answers only once the clock moves: both
                        // exchanges must have been sent before it does.
                        for _ in 0..1_000 {
                            if inner.count_matching("/oauth/token") >= before + 2 {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        let both = inner.count_matching("/oauth/token") == before + 2;
                        clock.advance(Duration::from_secs(1));
                        both
                    }
                );
                assert!(both_in_flight, "the two exchanges ran one after the other");
                results
            }
        };

        let alice = day("alice").await;
        assert_eq!(alice[0].0, "github");
        assert_eq!(
            saw(alice[0].1.as_ref().unwrap()),
            format!("Bearer tok-bearer-of-alice-{UPSTREAM}")
        );
        assert_eq!(alice[1].0, "calendar");
        assert_eq!(
            saw(alice[1].1.as_ref().unwrap()),
            format!("Bearer tok-bearer-of-alice-{CALENDAR}")
        );
        let stats = access.cache_stats();
        assert_eq!((stats.exchanges, stats.entries), (2, 2));

        let bob = day("bob").await;
        assert_eq!(
            saw(bob[0].1.as_ref().unwrap()),
            format!("Bearer tok-bearer-of-bob-{UPSTREAM}")
        );
        let refused = bob[1].1.as_ref().unwrap_err();
        assert!(
            matches!(refused, crate::tools::ToolError::Delegation { upstream, error: DelegationError::ConsentRequired { resource, url, .. } }
                if upstream == "calendar" && resource == CALENDAR && url.contains("/consent?user=bob&client_id=my-app&resource=")),
            "{refused:?}"
        );
        let message = refused.to_string();
        assert!(
            message.starts_with("You have not granted access to the \"calendar\" upstream")
                && !message.contains("tok-")
                && !message.contains("bearer-of"),
            "{message}"
        );
        // Bob's GitHub token was cached; his refusal was not.
        assert_eq!(access.cache_stats().entries, 3);
    }
}
