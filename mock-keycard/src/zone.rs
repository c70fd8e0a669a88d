//! The zone: configuration, keys, audit log, faults, consents, grants — one cheap-to-clone
//! handle shared by the HTTP handlers and by in-process callers (tests, the emulator).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::audit::{AuditEvent, AuditFilter, AuditLog};
use crate::config::{ConfigError, Profile, UpstreamAlg, Vars, ZoneConfig};
use crate::es256::{Es256KeyPair, load_upstream_key};
use crate::faults::{Endpoint, FaultError, FaultState, Faults, Plan};
use crate::jws::{self, Claims, JwsError};
use crate::keys::{JwkSet, KeyError, KeyPair, Keyring, Rotation, Verifier, load_pool};
use crate::model::{Application, Resolved, UserInfo};
use crate::sig_cache::{self, SignatureCache, SignatureCacheStats, token_hash};

/// Errors building a zone.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad signing keys.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The outbound HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Http(String),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a token minted by (or presented to) this zone fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a well-formed RS256/ES256 JWS, or its signature does not verify.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// No `kid` header.
    #[error("token has no kid")]
    NoKid,
    /// The `kid` is not published by the issuer (unknown or rotated out).
    #[error("unknown signing key (kid not published by {0})")]
    UnknownKid(String),
    /// The issuer is neither this zone nor a trusted peer.
    #[error("untrusted issuer")]
    UntrustedIssuer,
    /// The peer's keys could not be fetched.
    #[error("cannot fetch the peer issuer's JWKS")]
    PeerUnavailable,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub sub: String,
    pub resource: String,
    pub scope: String,
    pub expires_at: i64,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub sub: String,
    pub resource: String,
    pub scope: String,
    pub expires_at: i64,
}

/// Verifiers of a fetched JWKS.
#[derive(Debug, Clone)]
pub(crate) struct CachedKeys {
    pub fetched: Instant,
    pub keys: Vec<(Option<String>, Verifier)>,
}

#[derive(Debug)]
pub(crate) enum Peer {
    Zone(Weak<Inner>),
    Remote {
        issuer: String,
        jwks_uri: String,
        cache: Mutex<Option<CachedKeys>>,
    },
}

/// Shared state. No `Debug`: it holds authorization codes and refresh tokens.
pub(crate) struct Inner {
    pub issuer: String,
    pub config: ZoneConfig,
    pub default_issuer: String,
    pub resolved: RwLock<Resolved>,
    pub consent_overrides: Mutex<Vec<(String, String, bool)>>,
    pub registered: RwLock<HashMap<String, Application>>,
    pub keyring: Mutex<Keyring>,
    /// The ES256 upstream-token key (`None` with `upstream_alg = "RS256"`).
    pub upstream_key: Option<Arc<Es256KeyPair>>,
    /// The ES256 access-token key (`[keys] access_es256`; `None` by default).
    pub access_es256_key: Option<Arc<Es256KeyPair>>,
    /// Signatures of this zone's tokens already verified (see `sig_cache`).
    pub sig_cache: Mutex<SignatureCache>,
    pub audit: Mutex<AuditLog>,
    pub faults: Mutex<FaultState>,
    pub codes: Mutex<HashMap<String, AuthCode>>,
    pub refresh: Mutex<HashMap<String, RefreshGrant>>,
    pub assertion_jtis: Mutex<HashMap<(String, String), i64>>,
    pub app_jwks: Mutex<HashMap<String, CachedKeys>>,
    pub peers: RwLock<Vec<Peer>>,
    pub http: reqwest::Client,
    /// Random per zone: makes the upstream's per-user canaries unguessable.
    pub canary_salt: [u8; 32],
    /// Accepted upstream calls (off until `record_upstream_calls`).
    pub upstream_log: Mutex<crate::canary::UpstreamLog>,
}

/// A handle on a mock Keycard zone. Cloning is cheap; all clones share state.
#[derive(Clone)]
pub struct Zone {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zone")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering from poisoning (state stays usable after a panicking test).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unix time in seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Zone {
    /// Builds a zone. `default_issuer` (e.g. `http://127.0.0.1:8788`) is used unless the
    /// config overrides the issuer.
    pub fn new(config: ZoneConfig, default_issuer: &str) -> Result<Self, ZoneError> {
        let vars = Vars::new(&config, default_issuer, &config.mcp_resource);
        let pool = load_pool(&config.keys.pool)?;
        let keyring = Keyring::new(pool, Duration::from_millis(config.keys.grace_ms))?;
        let upstream_key = match config.keys.upstream_alg {
            UpstreamAlg::Es256 => Some(load_upstream_key(config.keys.upstream_key.as_deref())?),
            UpstreamAlg::Rs256 => None,
        };
        let access_es256_key = if config.keys.access_es256 {
            Some(Arc::new(Es256KeyPair::generate("access-es256")?))
        } else {
            None
        };
        config
            .faults
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ZoneError::Http(e.to_string()))?;
        let peers = config
            .peers
            .iter()
            .map(|p| Peer::Remote {
                issuer: p.issuer.trim_end_matches('/').to_owned(),
                jwks_uri: p.jwks_uri.clone(),
                cache: Mutex::new(None),
            })
            .collect();
        let inner = Inner {
            issuer: vars.issuer.clone(),
            resolved: RwLock::new(Resolved::new(&config, vars)),
            default_issuer: default_issuer.to_owned(),
            consent_overrides: Mutex::new(Vec::new()),
            registered: RwLock::new(HashMap::new()),
            keyring: Mutex::new(keyring),
            upstream_key,
            access_es256_key,
            sig_cache: Mutex::new(SignatureCache::new(sig_cache::DEFAULT_CAPACITY)),
            audit: Mutex::new(AuditLog::new(config.audit_capacity)),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            codes: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            assertion_jtis: Mutex::new(HashMap::new()),
            app_jwks: Mutex::new(HashMap::new()),
            peers: RwLock::new(peers),
            http,
            canary_salt: rand::random(),
            upstream_log: Mutex::new(crate::canary::UpstreamLog::default()),
            config,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Resolved> {
        self.inner
            .resolved
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The issuer (an origin, no trailing slash).
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// The demo upstream API base, also the upstream resource identifier.
    pub fn upstream_url(&self) -> String {
        self.read().vars.upstream.clone()
    }

    /// The calendar demo upstream's base URL, also its resource identifier.
    pub fn calendar_url(&self) -> String {
        self.read().vars.calendar.clone()
    }

    /// The MCP server's resource identifier (`{mcp}`).
    pub fn mcp_resource(&self) -> String {
        self.read().vars.mcp.clone()
    }

    /// The token endpoint URL.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.inner.issuer)
    }

    /// The authorization endpoint URL.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.inner.issuer)
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.inner.issuer)
    }

    /// Changes the MCP server's resource identifier at runtime (the MCP server's URL is only
    /// known once it binds): resources, applications and consents using `{mcp}` follow.
    /// Consent changes made at runtime are kept.
    pub fn set_mcp_resource(&self, url: &str) {
        let vars = Vars::new(&self.inner.config, &self.inner.default_issuer, url);
        let mut resolved = Resolved::new(&self.inner.config, vars);
        for (sub, resource, granted) in lock(&self.inner.consent_overrides).iter() {
            apply_consent(&mut resolved, sub, resource, *granted);
        }
        *self
            .inner
            .resolved
            .write()
            .unwrap_or_else(PoisonError::into_inner) = resolved;
        tracing::info!(mcp_resource = url, "MCP resource set");
    }

    /// The fixture users, in configuration order.
    pub fn users(&self) -> Vec<UserInfo> {
        let resolved = self.read();
        resolved
            .user_order
            .iter()
            .filter_map(|sub| {
                let profile = resolved.users.get(sub)?.clone();
                let mut consents: Vec<String> = resolved
                    .consents
                    .iter()
                    .filter(|(s, _)| s == sub)
                    .map(|(_, r)| r.clone())
                    .collect();
                consents.sort();
                Some(UserInfo {
                    sub: sub.clone(),
                    profile,
                    consents,
                })
            })
            .collect()
    }

    /// A user's profile.
    pub fn user(&self, sub: &str) -> Option<Profile> {
        self.read().users.get(sub).cloned()
    }

    /// Whether `sub` currently consents to `resource`.
    pub fn has_consented(&self, sub: &str, resource: &str) -> bool {
        let resource = crate::config::canonical_resource(resource);
        self.read().consents.contains(&(sub.to_owned(), resource))
    }

    /// Revokes `sub`'s consent to `resource`; false when the user is unknown.
    pub fn revoke_consent(&self, sub: &str, resource: &str) -> bool {
        self.set_consent(sub, resource, false)
    }

    /// Grants `sub`'s consent to `resource`; false when the user is unknown.
    pub fn grant_consent(&self, sub: &str, resource: &str) -> bool {
        self.set_consent(sub, resource, true)
    }

    fn set_consent(&self, sub: &str, resource: &str, granted: bool) -> bool {
        let resource = crate::config::canonical_resource(resource);
        let mut resolved = self
            .inner
            .resolved
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !resolved.users.contains_key(sub) {
            return false;
        }
        apply_consent(&mut resolved, sub, &resource, granted);
        lock(&self.inner.consent_overrides).push((sub.to_owned(), resource, granted));
        tracing::info!(granted, "consent changed");
        true
    }

    /// An application by client id (configured or dynamically registered).
    pub fn application(&self, client_id: &str) -> Option<Application> {
        if let Some(app) = self.read().apps.get(client_id) {
            return Some(app.clone());
        }
        self.inner
            .registered
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_id)
            .cloned()
    }

    /// Rotates the signing key: the next pool key signs from now on, the previous one stays
    /// published for the grace period.
    pub fn rotate_key(&self) -> Rotation {
        let rotation = lock(&self.inner.keyring).rotate(Instant::now());
        tracing::info!(new_kid = %rotation.new_kid, retired_kid = %rotation.retired_kid, "signing key rotated");
        rotation
    }

    /// Changes the grace period for keys rotated out from now on.
    pub fn set_key_grace(&self, grace: Duration) {
        lock(&self.inner.keyring).set_grace(grace);
    }

    /// The published JWKS: the current RSA key first, then the RSA keys in their grace
    /// period, then the ES256 upstream-token key (when `upstream_alg = "ES256"`), then the
    /// ES256 access-token key (when `[keys] access_es256` is on).
    pub fn jwks(&self) -> JwkSet {
        let keys = lock(&self.inner.keyring).published(Instant::now());
        let mut keys: Vec<_> = keys.iter().map(|k| k.jwk().clone()).collect();
        if let Some(key) = &self.inner.upstream_key {
            keys.push(key.jwk().clone());
        }
        if let Some(key) = &self.inner.access_es256_key {
            keys.push(key.jwk().clone());
        }
        JwkSet { keys }
    }

    /// The `kid` of the ES256 access-token key (`None` unless `[keys] access_es256`).
    pub fn access_es256_kid(&self) -> Option<String> {
        self.inner
            .access_es256_key
            .as_ref()
            .map(|k| k.kid().to_owned())
    }

    pub(crate) fn access_es256_key(&self) -> Option<Arc<Es256KeyPair>> {
        self.inner.access_es256_key.clone()
    }

    /// The `kid` of the ES256 upstream-token key (`None` with `upstream_alg = "RS256"`).
    pub fn upstream_kid(&self) -> Option<String> {
        self.inner.upstream_key.as_ref().map(|k| k.kid().to_owned())
    }

    /// Counters of the memo of verified signatures (subject tokens at the token endpoint,
    /// upstream tokens at the demo upstream).
    pub fn signature_cache_stats(&self) -> SignatureCacheStats {
        lock(&self.inner.sig_cache).stats()
    }

    /// The current signing key id.
    pub fn current_kid(&self) -> String {
        lock(&self.inner.keyring).current().kid().to_owned()
    }

    pub(crate) fn current_key(&self) -> Arc<KeyPair> {
        lock(&self.inner.keyring).current()
    }

    /// Replaces the injected faults (the RNG is reseeded from `faults.seed`).
    pub fn set_faults(&self, faults: Faults) -> Result<(), FaultError> {
        faults.validate()?;
        *lock(&self.inner.faults) = FaultState::new(faults);
        tracing::info!("faults set");
        Ok(())
    }

    /// Removes all injected faults.
    pub fn clear_faults(&self) {
        *lock(&self.inner.faults) = FaultState::new(Faults::default());
    }

    /// The injected faults.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).faults().clone()
    }

    pub(crate) fn fault_plan(&self, endpoint: Endpoint) -> Option<Plan> {
        lock(&self.inner.faults).plan(endpoint)
    }

    /// Every audit event, oldest first.
    pub fn audit(&self) -> Vec<AuditEvent> {
        self.audit_query(&AuditFilter::default())
    }

    /// Audit events matching `filter`.
    pub fn audit_query(&self, filter: &AuditFilter) -> Vec<AuditEvent> {
        lock(&self.inner.audit).query(filter)
    }

    /// The event that issued the token with this `jti`.
    pub fn audit_by_jti(&self, jti: &str) -> Option<AuditEvent> {
        lock(&self.inner.audit).by_jti(jti).cloned()
    }

    pub(crate) fn record(&self, event: AuditEvent) {
        lock(&self.inner.audit).record(event);
    }

    /// Makes the demo upstream accept upstream tokens issued by `peer` (another in-process
    /// zone). For "same sub at two issuers", start the peer with
    /// `ZoneConfig::default().with_upstream_url(this.upstream_url())` so its upstream tokens
    /// carry this upstream's resource as audience. Holds only a weak reference.
    pub fn trust_peer(&self, peer: &Zone) {
        self.inner
            .peers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Peer::Zone(Arc::downgrade(&peer.inner)));
    }

    /// Signs `claims` with the current key (RS256).
    pub(crate) fn sign(&self, claims: &Claims) -> Result<(String, String), JwsError> {
        let key = self.current_key();
        let token = jws::sign(&key, None, &claims.0)?;
        Ok((token, key.kid().to_owned()))
    }

    /// Signs an upstream token: ES256 with the upstream key, or RS256 with the current key
    /// when `upstream_alg = "RS256"`.
    pub(crate) fn sign_upstream(&self, claims: &Claims) -> Result<(String, String), JwsError> {
        match &self.inner.upstream_key {
            Some(key) => Ok((jws::sign_es256(key, &claims.0)?, key.kid().to_owned())),
            None => self.sign(claims),
        }
    }

    /// Verifies `token`'s signature (RS256 with a published RSA key — current or in grace —
    /// or ES256 with the upstream key or the optional access-token key) and returns its claims. Time, issuer and audience are
    /// NOT checked.
    pub fn verify_signature(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_own(token)
    }

    /// Decodes `token` and verifies its signature against this zone's published keys
    /// (RSA current + grace, the ES256 upstream key, the ES256 access-token key if any). Time, issuer, audience, user and
    /// consent are the caller's checks, made on every call.
    ///
    /// A successful signature check is memoized by the SHA-256 of the exact token string;
    /// a memoized token still has to decode and name a key published right now.
    pub(crate) fn verify_own(&self, token: &str) -> Result<Claims, VerifyError> {
        let decoded = jws::decode(token)?;
        let kid = decoded.header.kid.as_deref().ok_or(VerifyError::NoKid)?;
        let key = self.published_key(kid)?;
        let hash = token_hash(token);
        if lock(&self.inner.sig_cache).check(&hash) {
            return Ok(decoded.claims);
        }
        match key {
            OwnKey::Rsa(key) => decoded.verify_with(key.verifier())?,
            OwnKey::Es256(key) => decoded.verify_with(key.verifier())?,
        }
        lock(&self.inner.sig_cache).remember(hash);
        Ok(decoded.claims)
    }

    /// The published key with this `kid`.
    fn published_key(&self, kid: &str) -> Result<OwnKey, VerifyError> {
        if let Some(key) = self.inner.upstream_key.as_ref().filter(|k| k.kid() == kid) {
            return Ok(OwnKey::Es256(Arc::clone(key)));
        }
        if let Some(key) = self
            .inner
            .access_es256_key
            .as_ref()
            .filter(|k| k.kid() == kid)
        {
            return Ok(OwnKey::Es256(Arc::clone(key)));
        }
        lock(&self.inner.keyring)
            .find(kid, Instant::now())
            .map(OwnKey::Rsa)
            .ok_or_else(|| VerifyError::UnknownKid(self.inner.issuer.clone()))
    }
}

/// One of the zone's own published keys.
enum OwnKey {
    Rsa(Arc<KeyPair>),
    Es256(Arc<Es256KeyPair>),
}

fn apply_consent(resolved: &mut Resolved, sub: &str, resource: &str, granted: bool) {
    if !resolved.users.contains_key(sub) {
        return;
    }
    let key = (sub.to_owned(), resource.to_owned());
    if granted {
        resolved.consents.insert(key);
    } else {
        resolved.consents.remove(&key);
    }
}
