//! Request authentication: bearer → JWT front-half checks → keyring → signature → scopes.
//!
//! Nothing touches the network before the token has passed every key-less check of
//! [`crate::auth::jwt`], including the trusted-issuer check; a token with `alg: none`, an HMAC
//! algorithm or an untrusted `iss` is refused with zero outbound requests.

pub mod bearer;
pub mod error;
pub mod identity;
pub mod jwk;
pub mod jwks;
pub mod jwt;
pub mod verified;

pub use error::AuthError;
pub use identity::Identity;

use std::sync::Arc;

use crate::auth::bearer::bearer_token;
use crate::auth::jwks::Keyring;
use crate::auth::jwt::{ClaimRules, check_token, missing_scopes};
use crate::auth::verified::VerifiedTokens;
use crate::config::Config;
use crate::oauth::discovery::Discovery;
use crate::outbound::budget::Budget;
use crate::ports::Ports;

/// Verifies bearer tokens. One per isolate (it owns the JWKS keyring).
pub struct Authenticator {
    config: Arc<Config>,
    ports: Ports,
    keyring: Keyring,
    verified: VerifiedTokens,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `config`, fetching keys through `discovery` and `ports`.
    pub fn new(config: Arc<Config>, ports: Ports, discovery: Arc<Discovery>) -> Self {
        Self {
            keyring: Keyring::new(config.clone(), ports.clone(), discovery),
            verified: VerifiedTokens::new(config.cache.verified_max_entries),
            config,
            ports,
        }
    }

    /// The verified-signature memo of this authenticator.
    pub fn verified(&self) -> &VerifiedTokens {
        &self.verified
    }

    /// The keyring (shared key cache of this authenticator).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Authenticates a request to the resource `resource_id`: the token must name it in
    /// `aud` and carry every configured required scope.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        resource_id: &str,
    ) -> Result<Identity, AuthError> {
        self.authenticate_within(headers, resource_id, Budget::UNLIMITED)
            .await
    }

    /// [`Authenticator::authenticate`] with the request's outbound [`Budget`]: a key fetch
    /// (discovery + JWKS) this request starts gets at most the time left in it.
    pub async fn authenticate_within(
        &self,
        headers: &http::HeaderMap,
        resource_id: &str,
        budget: Budget,
    ) -> Result<Identity, AuthError> {
        let pre = self.precheck(headers, resource_id)?;
        self.finish_within(pre, budget).await
    }

    /// The synchronous half of authentication: the bearer and every claim check (issuer,
    /// times, audience, client), no key and no I/O. A host may run it before reading the
    /// request body, so a refused token costs no body read.
    pub fn precheck(
        &self,
        headers: &http::HeaderMap,
        resource_id: &str,
    ) -> Result<Prechecked, AuthError> {
        let token = bearer_token(headers)?;
        let rules = ClaimRules {
            max_token_bytes: self.config.limits.max_token_bytes,
            trusted_issuers: &self.config.trusted_issuers,
            resource_id,
            now_secs: self.ports.clock.now_secs(),
            leeway_secs: self.config.limits.leeway_secs,
        };
        let checked = check_token(&token, &rules)?;
        Ok(Prechecked {
            inner: Arc::new(PrecheckedInner {
                authorization: headers.get(http::header::AUTHORIZATION).cloned(),
                resource_id: resource_id.to_owned(),
                token,
                checked,
            }),
        })
    }

    /// The asynchronous half: the issuer's key (fetched through the keyring when not
    /// cached), the signature, the required scopes.
    pub async fn finish_within(
        &self,
        pre: Prechecked,
        budget: Budget,
    ) -> Result<Identity, AuthError> {
        let PrecheckedInner { token, checked, .. } = match Arc::try_unwrap(pre.inner) {
            Ok(inner) => inner,
            Err(shared) => PrecheckedInner::clone(&shared),
        };
        let key = self
            .keyring
            .key_within(&checked.identity.issuer, &checked.kid, checked.alg, budget)
            .await?;
        // Every claim above was checked against this request; only a signature this
        // very key has already accepted for these very bytes is not checked again.
        let digest = VerifiedTokens::digest(token.expose());
        if !self.verified.contains(&digest, &key) {
            match key
                .verify(checked.signing_input.as_bytes(), &checked.signature)
                .await
            {
                Ok(true) => self.verified.insert(digest, &key),
                Ok(false) => return Err(AuthError::BadSignature),
                Err(e) => {
                    tracing::warn!(error = %e, "signature check failed to run");
                    return Err(AuthError::SignatureCheckFailed);
                }
            }
        }
        let identity = checked.identity;
        let missing = missing_scopes(&self.config.required_scopes, &identity.scopes);
        if !missing.is_empty() {
            return Err(AuthError::InsufficientScope {
                missing: missing.into_iter().map(str::to_owned).collect(),
            });
        }
        Ok(identity)
    }
}

/// A request's bearer token after [`Authenticator::precheck`]: every claim checked, the
/// signature not yet. Only this crate makes one; it can travel in the request's
/// extensions from a host's early check to [`crate::Gateway::handle`], which uses it only
/// for the same `Authorization` header and resource.
#[derive(Clone)]
pub struct Prechecked {
    inner: Arc<PrecheckedInner>,
}

#[derive(Clone)]
struct PrecheckedInner {
    authorization: Option<http::HeaderValue>,
    resource_id: String,
    token: crate::secret::SecretString,
    checked: crate::auth::jwt::CheckedToken,
}

impl Prechecked {
    /// Whether this was checked for exactly this `Authorization` header and resource.
    pub fn is_for(&self, headers: &http::HeaderMap, resource_id: &str) -> bool {
        self.inner.resource_id == resource_id
            && self.inner.authorization.as_ref() == headers.get(http::header::AUTHORIZATION)
            && headers.get_all(http::header::AUTHORIZATION).iter().count() == 1
    }
}

impl std::fmt::Debug for Prechecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prechecked").finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests;
