//! RSA signing keys (parsed once), their JWKs, and the rotating keyring.
//!
//! The embedded pool is `fixtures/keys/zone-{1,2,3}.pem`; rotation walks 1 → 2 → 3 → 1. A
//! rotated-out key stays published (and accepted) for the grace period, then disappears.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
use jsonwebtoken::jwk::{PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;

/// A public JWK and a JWK set, as published in the JWKS and read from applications' and peers'
/// JWKS: `RSA` (the access-token keys) or `EC` P-256 (the upstream-token key, see
/// [`crate::Es256KeyPair`]).
pub use jsonwebtoken::jwk::{Jwk, JwkSet};

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

/// An RSA key pair, parsed once, with its RS256 signing key, verifier and public JWK.
pub struct KeyPair {
    name: String,
    kid: String,
    encoding: EncodingKey,
    verifier: Verifier,
    public: rsa::RsaPublicKey,
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
        let parse_error = || KeyError::Parse(name.to_owned());
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| parse_error())?;
        // jsonwebtoken's RustCrypto signer takes PKCS#1 DER (and re-reads it per signature).
        let der = private.to_pkcs1_der().map_err(|_| parse_error())?;
        let public = private.to_public_key();
        let key = DecodingKey::from_rsa_raw_components(
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
        );
        let jwk = Jwk::from_decoding_key(&key, None).map_err(|_| parse_error())?;
        let jwk = published(jwk, Algorithm::RS256).ok_or_else(parse_error)?;
        Ok(Self {
            name: name.to_owned(),
            kid: jwk.common.key_id.clone().unwrap_or_default(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            verifier: Verifier {
                alg: Algorithm::RS256,
                key,
            },
            public,
            jwk,
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
        decoded.verify_with(&self.verifier)?;
        Ok(decoded.claims)
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub(crate) fn public_key(&self) -> &rsa::RsaPublicKey {
        &self.public
    }
}

/// `jwk` as this zone publishes it: `use: sig`, `alg`, and its RFC 7638 thumbprint as `kid`.
pub(crate) fn published(mut jwk: Jwk, alg: Algorithm) -> Option<Jwk> {
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(alg.into());
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256).ok()?);
    Some(jwk)
}

/// RFC 7638 SHA-256 thumbprint of an RSA or EC JWK (empty for a key type without one).
pub fn thumbprint(jwk: &Jwk) -> String {
    jwk.thumbprint(ThumbprintHash::SHA256).unwrap_or_default()
}

/// A public key and the one JWS algorithm it verifies (RS256 or ES256).
#[derive(Clone)]
pub(crate) struct Verifier {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Builds a verifier from a JWK: RSA (RS256) or EC P-256 (ES256). A JWK whose `alg`
/// contradicts its type, whose `use` is not `sig`, or whose key is invalid, gives none.
pub(crate) fn verifier_from_jwk(jwk: &Jwk) -> Option<Verifier> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    // jsonwebtoken only base64-decodes the JWK; an invalid key would fail each verification.
    // Checking it here keeps such a key out of the set (no candidate, not a bad signature).
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => {
            let jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } = key.kind() else {
                return None;
            };
            let n = rsa::BigUint::from_bytes_be(n);
            rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e)).ok()?;
            Algorithm::RS256
        }
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            // p256's JWK reader: 32-byte coordinates of a point on the curve.
            p256::PublicKey::from_jwk_str(&serde_json::to_string(ec).ok()?).ok()?;
            Algorithm::ES256
        }
        _ => return None,
    };
    Some(Verifier { alg, key })
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
        assert!(matches!(
            &pool[0].jwk().algorithm,
            AlgorithmParameters::RSA(rsa) if rsa.e == "AQAB"
        ));
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
