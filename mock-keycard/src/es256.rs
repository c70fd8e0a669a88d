//! The zone's ES256 (P-256) key for the upstream tokens it issues in exchanges.
//!
//! Upstream tokens are only ever verified by this zone's demo upstream and by the upstreams
//! of zones that trust it as a peer, so they need not be RS256 like the MCP-facing access
//! tokens (which stay RS256, as Keycard's are). An ECDSA P-256 signature costs a small
//! fraction of an RSA-2048 one (see `benches/crypto.rs`). The key is published in the JWKS
//! with its own RFC 7638 thumbprint `kid`, after the RSA keys.

use std::sync::{Arc, OnceLock};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};

use crate::keys::{KeyError, Verifier, published};

/// The embedded upstream-token key (`fixtures/keys/upstream-es256.pem`).
const UPSTREAM_PEM: &str = include_str!("../../fixtures/keys/upstream-es256.pem");

/// A P-256 key pair, parsed once, with its ES256 signing key, verifier and public JWK.
pub struct Es256KeyPair {
    name: String,
    kid: String,
    encoding: EncodingKey,
    verifier: Verifier,
    jwk: Jwk,
}

impl std::fmt::Debug for Es256KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256KeyPair")
            .field("name", &self.name)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Es256KeyPair {
    /// Parses a PKCS#8 P-256 private key PEM.
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, KeyError> {
        let signing =
            SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::ParseEc(name.to_owned()))?;
        Self::from_signing_key(name, &signing)
    }

    /// A fresh random P-256 key (never written anywhere; lives as long as the zone).
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        Self::from_signing_key(name, &signing)
    }

    fn from_signing_key(name: &str, signing: &SigningKey) -> Result<Self, KeyError> {
        let parse_error = || KeyError::ParseEc(name.to_owned());
        // jsonwebtoken's RustCrypto signer takes PKCS#8 DER (and re-reads it per signature).
        let der = signing.to_pkcs8_der().map_err(|_| parse_error())?;
        let public = p256::PublicKey::from(signing.verifying_key());
        let jwk: Jwk = serde_json::from_str(&public.to_jwk_string()).map_err(|_| parse_error())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| parse_error())?;
        let jwk = published(jwk, Algorithm::ES256).ok_or_else(parse_error)?;
        Ok(Self {
            name: name.to_owned(),
            kid: jwk.common.key_id.clone().unwrap_or_default(),
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            verifier: Verifier {
                alg: Algorithm::ES256,
                key,
            },
            jwk,
        })
    }

    /// The file or fixture name.
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

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

/// The embedded upstream-token key, parsed once per process.
pub fn embedded_upstream_key() -> Result<Arc<Es256KeyPair>, KeyError> {
    static KEY: OnceLock<Result<Arc<Es256KeyPair>, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        Es256KeyPair::from_pem("upstream-es256", UPSTREAM_PEM)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(KeyError::Loaded)
}

/// Loads the upstream-token key named by a config: a file, or the embedded key.
pub(crate) fn load_upstream_key(path: Option<&str>) -> Result<Arc<Es256KeyPair>, KeyError> {
    let Some(path) = path else {
        return embedded_upstream_key();
    };
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    Es256KeyPair::from_pem(path, &pem).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};

    use super::*;

    #[test]
    fn embedded_key_has_a_p256_jwk_with_thumbprint_kid() {
        let key = embedded_upstream_key().expect("key");
        let p256 = |jwk: &Jwk| matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256);
        assert!(p256(key.jwk()));
        assert_eq!(key.kid().len(), 43);
        assert_eq!(key.jwk().common.key_id.as_deref(), Some(key.kid()));
        let fixture = include_str!("../../fixtures/keys/es256-zone.pem");
        let corpus = Es256KeyPair::from_pem("es256-zone", fixture).expect("corpus key");
        assert_ne!(
            corpus.kid(),
            key.kid(),
            "the corpus key must stay unpublished"
        );
    }

    #[test]
    fn generated_keys_are_distinct_p256_keys() {
        let a = Es256KeyPair::generate("a").expect("a");
        let b = Es256KeyPair::generate("b").expect("b");
        assert_ne!(a.kid(), b.kid());
        assert!(matches!(
            &a.jwk().algorithm,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256
        ));
        assert_eq!(a.jwk().common.key_id.as_deref(), Some(a.kid()));
        assert_eq!(a.name(), "a");
    }

    #[test]
    fn rsa_pem_is_refused_with_a_specific_error() {
        let rsa = include_str!("../../fixtures/keys/zone-1.pem");
        assert!(matches!(
            Es256KeyPair::from_pem("zone-1", rsa),
            Err(KeyError::ParseEc(name)) if name == "zone-1"
        ));
    }
}
