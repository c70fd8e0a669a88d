//! RSA signing keys (parsed once), their JWKs, and the rotating keyring.
//!
//! The embedded pool is `fixtures/keys/zone-{1,2,3}.pem`; rotation walks 1 → 2 → 3 → 1. A
//! rotated-out key stays published (and accepted) for the grace period, then disappears.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Embedded rotation pool.
const POOL_PEMS: [(&str, &str); 3] = [
    ("zone-1", include_str!("../../fixtures/keys/zone-1.pem")),
    ("zone-2", include_str!("../../fixtures/keys/zone-2.pem")),
    ("zone-3", include_str!("../../fixtures/keys/zone-3.pem")),
];

/// A key of a different zone (for negative tests: its signatures must not verify here).
const OTHER_ZONE_PEM: &str = include_str!("../../fixtures/keys/other-zone.pem");

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a PKCS#8 or PKCS#1 RSA private key PEM.
    #[error("key {0}: not a PKCS#8 or PKCS#1 RSA private key")]
    Parse(String),
    /// A PEM file could not be read.
    #[error("key {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The pool is empty.
    #[error("the signing key pool is empty")]
    EmptyPool,
    /// Not a PKCS#8 P-256 private key PEM.
    #[error("key {0}: not a PKCS#8 P-256 (ES256) private key")]
    ParseEc(String),
    /// A key parsed once per process failed to parse (the message says which and why).
    #[error("{0}")]
    Loaded(String),
}

/// A public JWK as published in the JWKS: `RSA` (`n`, `e`; the access-token keys) or `EC`
/// P-256 (`crv`, `x`, `y`; the upstream-token key, see [`crate::Es256KeyPair`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `RS256` for our RSA keys, `ES256` for the EC key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id (RFC 7638 thumbprint for our keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// RSA modulus, base64url (empty for EC keys).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// RSA exponent, base64url (empty for EC keys).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
    /// EC curve (`P-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A JWK set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// An RSA key pair, parsed once, with its RS256 signer and verifier.
pub struct KeyPair {
    name: String,
    kid: String,
    signing: SigningKey<Sha256>,
    verifying: VerifyingKey<Sha256>,
    jwk: Jwk,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("name", &self.name)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Parses a PKCS#8 or PKCS#1 RSA private key PEM.
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, KeyError> {
        let mut private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| KeyError::Parse(name.to_owned()))?;
        // The CRT values (dP, dQ, qInv) make every signature ~3x cheaper. Parsing already
        // computes them; this makes it explicit and a no-op when they are there.
        private
            .precompute()
            .map_err(|_| KeyError::Parse(name.to_owned()))?;
        let public = private.to_public_key();
        let jwk = public_jwk(&public);
        let kid = thumbprint(&jwk);
        Ok(Self {
            name: name.to_owned(),
            jwk: Jwk {
                kid: Some(kid.clone()),
                ..jwk
            },
            kid,
            verifying: VerifyingKey::new(public),
            signing: SigningKey::new(private),
        })
    }

    /// The pool name (`zone-1`, a file path, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (RFC 7638 SHA-256 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Decodes `token` and verifies its RS256 signature with this key (no claim checks).
    pub fn verify_token(&self, token: &str) -> Result<crate::jws::Claims, crate::jws::JwsError> {
        let decoded = crate::jws::decode(token)?;
        decoded.verify(&self.verifying)?;
        Ok(decoded.claims)
    }

    pub(crate) fn signing_key(&self) -> &SigningKey<Sha256> {
        &self.signing
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey<Sha256> {
        &self.verifying
    }
}

/// The public JWK (without `kid`) of an RSA public key.
fn public_jwk(public: &RsaPublicKey) -> Jwk {
    Jwk {
        kty: "RSA".to_owned(),
        use_: Some("sig".to_owned()),
        alg: Some("RS256".to_owned()),
        kid: None,
        n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        ..Jwk::default()
    }
}

/// RFC 7638 thumbprint of an RSA or EC JWK (the required members in lexicographic order).
pub fn thumbprint(jwk: &Jwk) -> String {
    let canonical = if jwk.kty == "EC" {
        format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or_default(),
            jwk.x.as_deref().unwrap_or_default(),
            jwk.y.as_deref().unwrap_or_default()
        )
    } else {
        format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, jwk.e, jwk.n)
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public key that verifies one JWS algorithm.
#[derive(Debug, Clone)]
pub(crate) enum Verifier {
    /// RS256.
    Rs256(VerifyingKey<Sha256>),
    /// ES256.
    Es256(p256::ecdsa::VerifyingKey),
}

/// Builds a verifier from a JWK: RSA (RS256) or EC P-256 (ES256). A JWK whose `alg`
/// contradicts its type, or whose `use` is not `sig`, gives none.
pub(crate) fn verifier_from_jwk(jwk: &Jwk) -> Option<Verifier> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    match (jwk.kty.as_str(), jwk.alg.as_deref()) {
        ("RSA", None | Some("RS256")) => {
            let n = URL_SAFE_NO_PAD.decode(jwk.n.as_bytes()).ok()?;
            let e = URL_SAFE_NO_PAD.decode(jwk.e.as_bytes()).ok()?;
            let public = RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .ok()?;
            Some(Verifier::Rs256(VerifyingKey::new(public)))
        }
        ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => {
            let x = URL_SAFE_NO_PAD.decode(jwk.x.as_deref()?).ok()?;
            let y = URL_SAFE_NO_PAD.decode(jwk.y.as_deref()?).ok()?;
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .ok()
                .map(Verifier::Es256)
        }
        _ => None,
    }
}

/// The embedded pool, parsed once per process.
pub fn embedded_pool() -> Result<Vec<Arc<KeyPair>>, KeyError> {
    static POOL: OnceLock<Result<Vec<Arc<KeyPair>>, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        POOL_PEMS
            .iter()
            .map(|(name, pem)| KeyPair::from_pem(name, pem).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(KeyError::Parse)
}

/// The embedded key of a different zone, parsed once per process.
pub fn other_zone_key() -> Result<Arc<KeyPair>, KeyError> {
    static KEY: OnceLock<Result<Arc<KeyPair>, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        KeyPair::from_pem("other-zone", OTHER_ZONE_PEM)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(KeyError::Parse)
}

/// Loads the pool named by a config: files, or the embedded keys when `paths` is empty.
pub(crate) fn load_pool(paths: &[String]) -> Result<Vec<Arc<KeyPair>>, KeyError> {
    if paths.is_empty() {
        return embedded_pool();
    }
    paths
        .iter()
        .map(|path| {
            let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?;
            KeyPair::from_pem(path, &pem).map(Arc::new)
        })
        .collect()
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// The new signing key's id.
    pub new_kid: String,
    /// The retired key's id (still published during the grace period).
    pub retired_kid: String,
    /// The grace period, in milliseconds.
    pub grace_ms: u64,
}

/// Current signing key plus retired keys still in their grace period.
#[derive(Debug)]
pub(crate) struct Keyring {
    pool: Vec<Arc<KeyPair>>,
    current: usize,
    retired: Vec<(usize, Instant)>,
    grace: Duration,
}

impl Keyring {
    pub(crate) fn new(pool: Vec<Arc<KeyPair>>, grace: Duration) -> Result<Self, KeyError> {
        if pool.is_empty() {
            return Err(KeyError::EmptyPool);
        }
        Ok(Self {
            pool,
            current: 0,
            retired: Vec::new(),
            grace,
        })
    }

    fn purge(&mut self, now: Instant) {
        self.retired.retain(|(_, until)| *until > now);
    }

    pub(crate) fn current(&self) -> Arc<KeyPair> {
        Arc::clone(&self.pool[self.current % self.pool.len()])
    }

    /// Current key first, then the retired keys still in grace.
    pub(crate) fn published(&mut self, now: Instant) -> Vec<Arc<KeyPair>> {
        self.purge(now);
        let mut keys = vec![self.current()];
        keys.extend(
            self.retired
                .iter()
                .filter_map(|(i, _)| self.pool.get(*i).cloned()),
        );
        keys
    }

    pub(crate) fn find(&mut self, kid: &str, now: Instant) -> Option<Arc<KeyPair>> {
        self.published(now).into_iter().find(|k| k.kid() == kid)
    }

    pub(crate) fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    pub(crate) fn rotate(&mut self, now: Instant) -> Rotation {
        self.purge(now);
        let old = self.current;
        let new = (old + 1) % self.pool.len();
        self.retired.retain(|(i, _)| *i != new && *i != old);
        if new != old {
            self.retired.push((old, now + self.grace));
        }
        self.current = new;
        Rotation {
            new_kid: self.current().kid().to_owned(),
            retired_kid: self.pool[old].kid().to_owned(),
            grace_ms: u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_parses_with_distinct_thumbprint_kids() {
        let pool = embedded_pool().expect("pool");
        assert_eq!(pool.len(), 3);
        assert_ne!(pool[0].kid(), pool[1].kid());
        assert_eq!(pool[0].kid().len(), 43);
        assert_eq!(pool[0].jwk().e, "AQAB");
    }

    #[test]
    fn rotation_keeps_old_key_for_grace_then_drops_it() {
        let pool = embedded_pool().expect("pool");
        let mut ring = Keyring::new(pool, Duration::from_secs(10)).expect("ring");
        let t0 = Instant::now();
        let first = ring.current().kid().to_owned();
        let rotation = ring.rotate(t0);
        assert_eq!(rotation.retired_kid, first);
        assert_eq!(ring.published(t0).len(), 2);
        assert!(ring.find(&first, t0 + Duration::from_secs(9)).is_some());
        assert!(ring.find(&first, t0 + Duration::from_secs(11)).is_none());
        assert_eq!(ring.published(t0 + Duration::from_secs(11)).len(), 1);
    }

    #[test]
    fn full_cycle_never_publishes_a_key_twice() {
        let pool = embedded_pool().expect("pool");
        let mut ring = Keyring::new(pool, Duration::from_secs(100)).expect("ring");
        let t0 = Instant::now();
        for _ in 0..5 {
            ring.rotate(t0);
            let kids: Vec<_> = ring
                .published(t0)
                .iter()
                .map(|k| k.kid().to_owned())
                .collect();
            let mut dedup = kids.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(kids.len(), dedup.len());
            assert!(kids.len() <= 3);
        }
    }
}
