//! [`UpstreamAccess`]: the real [`Delegated`] handle tools use to call the upstream API.
//!
//! For each call: refuse a caller without `sub` (there is no user to act for), get an
//! upstream token for (issuer, subject, client, upstream, scopes) from the isolate-safe
//! [`TokenCache`] (exchanging at the STS on a miss), send the request with
//! `Authorization: Bearer <upstream token>` under the outbound timeout, and if the
//! upstream answers 401, drop that cached token, exchange afresh and retry exactly once.
//! No error produced here contains a token.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::cache::{CacheKey, CacheStats, TokenCache};
use crate::config::{Config, ConfigError};
use crate::credentials::ClientCredentials;
use crate::delegated::{Delegated, DelegationError};
use crate::discovery::Discovery;
use crate::exchange::{ExchangeError, ExchangeInput, TokenExchanger, UpstreamToken};
use crate::identity::Identity;
use crate::jwk::JwkSet;
use crate::ports::{BoxFuture, HttpError, Ports, with_timeout};

struct Inner {
    config: Arc<Config>,
    ports: Ports,
    exchanger: Arc<TokenExchanger>,
    cache: TokenCache,
    upstream_base: Option<url::Url>,
}

/// Delegated upstream access: the token exchanger, the token cache and the upstream
/// client. One per isolate (inside the [`crate::Gateway`]); cheap per-request handles come
/// from [`UpstreamAccess::for_resource_id`].
#[derive(Clone)]
pub struct UpstreamAccess {
    inner: Arc<Inner>,
    resource_id: Option<String>,
}

impl std::fmt::Debug for UpstreamAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAccess")
            .field("upstream", &self.inner.config.upstream_url)
            .field("resource_id", &self.resource_id)
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
        keying: crate::cache::CacheKeying,
    ) -> Result<Self, ConfigError> {
        let cache = TokenCache::with_keying(&config.cache, ports.clock.clone(), keying);
        Self::with_cache(config, ports, discovery, cache)
    }

    fn with_cache(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        cache: TokenCache,
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
            inner: Arc::new(Inner {
                upstream_base: url::Url::parse(&config.upstream_url).ok(),
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
        }
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
        let input = ExchangeInput {
            issuer: identity.issuer.clone(),
            subject_token: identity.token.clone(),
            resource: key.resource.clone(),
            scopes: key.scopes.clone(),
            resource_id: self.resource_id.clone(),
        };
        self.inner
            .cache
            .get_or_exchange(key, move || {
                Box::pin(async move { exchanger.exchange(&input).await })
            })
            .await
            .map_err(delegation_error)
    }

    /// [`Delegated::fetch`] with explicitly requested upstream scopes.
    pub async fn fetch_with_scopes(
        &self,
        identity: &Identity,
        scopes: &[String],
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, DelegationError> {
        let Some(subject) = identity.subject.clone() else {
            return Err(DelegationError::NoSubject);
        };
        if !self.is_under_upstream(request.uri()) {
            return Err(DelegationError::Upstream(
                "the request is not addressed to the configured upstream API".into(),
            ));
        }
        let key = CacheKey::new(
            identity.issuer.clone(),
            Some(subject),
            identity.client_id.clone(),
            self.inner.config.upstream_url.clone(),
            scopes.iter().cloned(),
        );
        let (parts, body) = request.into_parts();

        let token = self.token(identity, &key).await?;
        let response = self.send(&parts, &body, &token).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tracing::debug!("upstream answered 401: dropping the cached token and retrying once");
        self.inner.cache.invalidate(&key, &token);
        let fresh = self.token(identity, &key).await?;
        let retried = self.send(&parts, &body, &fresh).await?;
        if retried.status() == StatusCode::UNAUTHORIZED {
            self.inner.cache.invalidate(&key, &fresh);
            tracing::info!("upstream rejected a freshly exchanged token (401); not retrying again");
        }
        Ok(retried)
    }

    fn is_under_upstream(&self, uri: &http::Uri) -> bool {
        let Some(base) = &self.inner.upstream_base else {
            return false;
        };
        let Ok(target) = url::Url::parse(&uri.to_string()) else {
            return false;
        };
        if target.origin() != base.origin() {
            return false;
        }
        let base_path = base.path().trim_end_matches('/');
        let path = target.path();
        path == base_path
            || path
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'))
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

        let timeout = self.inner.config.limits.outbound_timeout;
        match with_timeout(
            self.inner.ports.clock.as_ref(),
            timeout,
            self.inner.ports.http.send(request),
        )
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

impl Delegated for UpstreamAccess {
    fn upstream_url(&self) -> &str {
        &self.inner.config.upstream_url
    }

    fn fetch<'a>(
        &'a self,
        identity: &'a Identity,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'a, Result<http::Response<Bytes>, DelegationError>> {
        Box::pin(self.fetch_with_scopes(identity, &[], request))
    }
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
