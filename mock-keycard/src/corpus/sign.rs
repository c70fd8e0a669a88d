//! The signers of the corpus: RS256 with a zone key pair, ES256 with the fixture P-256
//! key, HMAC-SHA256 keyed with an RSA public key PEM (alg confusion), and no signature.
//!
//! The signatures are jsonwebtoken's (`crypto::sign` over the given input); the tokens
//! around them, deliberately malformed, are assembled by hand in `build.rs`.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};

use super::CorpusError;
use crate::es256::Es256KeyPair;
use crate::keys::KeyPair;

/// The fixture P-256 key (`fixtures/keys/es256-zone.pem`), not published by the zone.
const ES256_PEM: &str = include_str!("../../../fixtures/keys/es256-zone.pem");

/// A parsed ES256 key and its RFC 7638 thumbprint.
#[derive(Debug)]
pub struct Es256Key(Es256KeyPair);

impl Es256Key {
    /// The fixture key, parsed once per process.
    pub fn fixture() -> Result<&'static Self, CorpusError> {
        static KEY: OnceLock<Result<Es256Key, String>> = OnceLock::new();
        KEY.get_or_init(|| {
            Es256KeyPair::from_pem("es256-zone.pem", ES256_PEM)
                .map(Self)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| CorpusError::Key(e.clone()))
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.0.kid()
    }

    /// The 64-byte `r || s` ES256 signature over `input`.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, CorpusError> {
        raw_signature(input, self.0.encoding_key(), Algorithm::ES256)
    }
}

/// RS256 over `input` with `key`.
pub fn rs256(key: &KeyPair, input: &[u8]) -> Result<Vec<u8>, CorpusError> {
    raw_signature(input, key.encoding_key(), Algorithm::RS256)
}

/// The SPKI PEM (`-----BEGIN PUBLIC KEY-----`, LF line endings) of `key`'s public half:
/// what a verifier that trusts the header's `alg` would feed to HMAC as the secret.
pub fn public_key_pem(key: &KeyPair) -> Result<String, CorpusError> {
    key.public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| CorpusError::Key(format!("cannot encode {}'s public key", key.name())))
}

/// HMAC-SHA256 (RFC 2104): the HS256 signature over `message` with `secret`.
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> Result<Vec<u8>, CorpusError> {
    raw_signature(message, &EncodingKey::from_secret(secret), Algorithm::HS256)
}

/// jsonwebtoken's signature over `input`, as bytes.
fn raw_signature(input: &[u8], key: &EncodingKey, alg: Algorithm) -> Result<Vec<u8>, CorpusError> {
    let failed = |e: &dyn std::fmt::Display| CorpusError::Key(format!("{alg:?} signing: {e}"));
    let signature = jsonwebtoken::crypto::sign(input, key, alg).map_err(|e| failed(&e))?;
    URL_SAFE_NO_PAD.decode(signature).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1 (short key) and 6 (key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There").expect("hmac")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )
            .expect("hmac")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn es256_signs_with_a_verifiable_signature() {
        let key = Es256Key::fixture().expect("es256 fixture");
        assert_eq!(key.kid().len(), 43);
        let signature = key.sign(b"input").expect("sign");
        assert_eq!(signature.len(), 64);
        let verifier = key.0.verifier();
        let signature = URL_SAFE_NO_PAD.encode(signature);
        assert_eq!(
            jsonwebtoken::crypto::verify(&signature, b"input", &verifier.key, verifier.alg),
            Ok(true)
        );
    }

    #[test]
    fn public_key_pem_is_spki() {
        let pool = crate::keys::embedded_pool().expect("pool");
        let pem = public_key_pem(&pool[0]).expect("pem");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    }
}
