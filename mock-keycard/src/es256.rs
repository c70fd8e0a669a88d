//! The zone's ES256 (P-256) key for the upstream tokens it issues in exchanges.
//!
//! Upstream tokens are only ever verified by this zone's demo upstream and by the upstreams
//! of zones that trust it as a peer, so they need not be RS256 like the MCP-facing access
//! tokens (which stay RS256, as Keycard's are). An ECDSA P-256 signature costs a small
//! fraction of an RSA-2048 one (see `benches/crypto.rs`). The key is published in the JWKS
//! with its own RFC 7638 thumbprint `kid`, after the RSA keys.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;

use crate::keys::{Jwk, KeyError, thumbprint};

/// The embedded upstream-token key (`fixtures/keys/upstream-es256.pem`).
const UPSTREAM_PEM: &str = include_str!("../../fixtures/keys/upstream-es256.pem");

/// A P-256 key pair, parsed once, with its ES256 signer, verifier and public JWK.
pub struct Es256KeyPair {
    name: String,
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
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
        Self::from_signing_key(name, signing)
    }

    /// A fresh random P-256 key (never written anywhere; lives as long as the zone).
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        Self::from_signing_key(name, signing)
    }

    fn from_signing_key(name: &str, signing: SigningKey) -> Result<Self, KeyError> {
        let verifying = *signing.verifying_key();
        let point = verifying.to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(KeyError::ParseEc(name.to_owned()));
        };
        let mut jwk = Jwk {
            kty: "EC".to_owned(),
            use_: Some("sig".to_owned()),
            alg: Some("ES256".to_owned()),
            crv: Some("P-256".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            ..Jwk::default()
        };
        let kid = thumbprint(&jwk);
        jwk.kid = Some(kid.clone());
        Ok(Self {
            name: name.to_owned(),
            kid,
            signing,
            verifying,
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

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
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
    use super::*;

    #[test]
    fn embedded_key_has_a_p256_jwk_with_thumbprint_kid() {
        let key = embedded_upstream_key().expect("key");
        assert_eq!(key.jwk().kty, "EC");
        assert_eq!(key.jwk().crv.as_deref(), Some("P-256"));
        assert_eq!(key.kid().len(), 43);
        assert_eq!(key.jwk().kid.as_deref(), Some(key.kid()));
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
        assert_eq!(a.jwk().crv.as_deref(), Some("P-256"));
        assert_eq!(a.jwk().kid.as_deref(), Some(a.kid()));
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
