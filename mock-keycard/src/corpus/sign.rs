//! The signers of the corpus: RS256 with a zone key pair, ES256 with the fixture P-256
//! key, HMAC-SHA256 keyed with an RSA public key PEM (alg confusion), and no signature.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::Signature as RsaSignature;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha2::{Digest as _, Sha256};

use super::CorpusError;
use crate::keys::KeyPair;

/// The fixture P-256 key (`fixtures/keys/es256-zone.pem`), not published by the zone.
const ES256_PEM: &str = include_str!("../../../fixtures/keys/es256-zone.pem");

/// A parsed ES256 key and its RFC 7638 thumbprint.
pub struct Es256Key {
    signing: p256::ecdsa::SigningKey,
    kid: String,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Es256Key {
    /// The fixture key, parsed once per process.
    pub fn fixture() -> Result<&'static Self, CorpusError> {
        static KEY: OnceLock<Result<Es256Key, String>> = OnceLock::new();
        KEY.get_or_init(|| Self::from_pem(ES256_PEM))
            .as_ref()
            .map_err(|e| CorpusError::Key(e.clone()))
    }

    fn from_pem(pem: &str) -> Result<Self, String> {
        use p256::pkcs8::DecodePrivateKey as _;
        let signing = p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| "es256-zone.pem is not a PKCS#8 P-256 key".to_owned())?;
        let point = signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("es256-zone.pem has no affine public point".to_owned());
        };
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self { signing, kid })
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 64-byte `r || s` ES256 signature over `input`.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.signing.sign(input);
        signature.to_bytes().to_vec()
    }
}

/// RS256 over `input` with `key`.
pub fn rs256(key: &KeyPair, input: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let signature: RsaSignature = key
        .signing_key()
        .try_sign(input)
        .map_err(|_| CorpusError::Key(format!("RS256 signing with {} failed", key.name())))?;
    Ok(signature.to_vec())
}

/// The SPKI PEM (`-----BEGIN PUBLIC KEY-----`, LF line endings) of `key`'s public half:
/// what a verifier that trusts the header's `alg` would feed to HMAC as the secret.
pub fn public_key_pem(key: &KeyPair) -> Result<String, CorpusError> {
    let public: &rsa::RsaPublicKey = key.verifying_key().as_ref();
    public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| CorpusError::Key(format!("cannot encode {}'s public key", key.name())))
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut key = [0_u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
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
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn es256_signs_with_a_verifiable_signature() {
        use p256::ecdsa::signature::Verifier as _;
        let key = Es256Key::fixture().expect("es256 fixture");
        assert_eq!(key.kid().len(), 43);
        let signature = key.sign(b"input");
        assert_eq!(signature.len(), 64);
        let parsed = p256::ecdsa::Signature::from_slice(&signature).expect("r||s");
        assert!(
            key.signing
                .verifying_key()
                .verify(b"input", &parsed)
                .is_ok()
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
