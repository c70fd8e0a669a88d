//! [`Crypto`] with pure-Rust crates (feature `rust-crypto`): `rsa` for RS256 and PS256,
//! `p256` for ES256, the OS random generator. Used by the native hosts and tests; the
//! wasm Worker uses WebCrypto instead.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use rand::RngCore as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use crate::auth::jwk::Jwk;
use crate::ports::{BoxFuture, Crypto, CryptoError, JwsAlg, SecretBytes, SigningKey, VerifyingKey};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds the cost of a verification).
pub const MAX_RSA_BITS: usize = 8192;

/// Pure-Rust crypto.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl RustCrypto {
    /// The provider.
    pub fn new() -> Self {
        Self
    }
}

enum Verifier {
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
    Ps256(rsa::pss::VerifyingKey<Sha256>),
    Es256(p256::ecdsa::VerifyingKey),
}

impl Verifier {
    fn verify_now(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Rs256(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Self::Ps256(key) => rsa::pss::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Self::Es256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        }
    }
}

impl VerifyingKey for Verifier {
    fn verify<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, CryptoError>> {
        let ok = self.verify_now(message, signature);
        Box::pin(async move { Ok(ok) })
    }
}

fn b64_member(value: Option<&str>, name: &str) -> Result<Vec<u8>, CryptoError> {
    let value = value.ok_or_else(|| CryptoError::BadKey(format!("JWK has no `{name}`")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| CryptoError::BadKey(format!("JWK `{name}` is not base64url")))
}

fn rsa_public(jwk: &Jwk) -> Result<RsaPublicKey, CryptoError> {
    if jwk.kty != "RSA" {
        return Err(CryptoError::BadKey(format!(
            "expected an RSA key, got kty {:?}",
            crate::auth::error::sanitize_param(&jwk.kty.chars().take(8).collect::<String>())
        )));
    }
    let n = BigUint::from_bytes_be(&b64_member(jwk.n.as_deref(), "n")?);
    let e = BigUint::from_bytes_be(&b64_member(jwk.e.as_deref(), "e")?);
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(CryptoError::BadKey(format!(
            "RSA key of {bits} bits is below the {MIN_RSA_BITS}-bit minimum"
        )));
    }
    if bits > MAX_RSA_BITS {
        return Err(CryptoError::BadKey(format!(
            "RSA key of {bits} bits is above the {MAX_RSA_BITS}-bit maximum"
        )));
    }
    RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
        .map_err(|e| CryptoError::BadKey(format!("invalid RSA key: {e}")))
}

fn p256_public(jwk: &Jwk) -> Result<p256::ecdsa::VerifyingKey, CryptoError> {
    if jwk.kty != "EC" || jwk.crv.as_deref() != Some("P-256") {
        return Err(CryptoError::BadKey("expected an EC P-256 key".into()));
    }
    let x = b64_member(jwk.x.as_deref(), "x")?;
    let y = b64_member(jwk.y.as_deref(), "y")?;
    if x.len() != 32 || y.len() != 32 {
        return Err(CryptoError::BadKey(
            "P-256 coordinates must be 32 bytes".into(),
        ));
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| CryptoError::BadKey("the point is not on P-256".into()))
}

struct RsaSigner {
    key: rsa::pkcs1v15::SigningKey<Sha256>,
    public: Jwk,
}

impl SigningKey for RsaSigner {
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, CryptoError>> {
        let result = self
            .key
            .try_sign(message)
            .map(|s| s.to_vec())
            .map_err(|e| CryptoError::Failed(format!("RS256 signing failed: {e}")));
        Box::pin(async move { result })
    }

    fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }
}

impl Crypto for RustCrypto {
    fn import_verifying_key<'a>(
        &'a self,
        alg: JwsAlg,
        jwk: &'a Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
        let result = (|| -> Result<Arc<dyn VerifyingKey>, CryptoError> {
            if let Some(name) = jwk.alg.as_deref()
                && name != alg.name()
            {
                return Err(CryptoError::BadKey(format!(
                    "the key is for another algorithm than {}",
                    alg.name()
                )));
            }
            Ok(Arc::new(match alg {
                JwsAlg::Rs256 => {
                    Verifier::Rs256(rsa::pkcs1v15::VerifyingKey::new(rsa_public(jwk)?))
                }
                JwsAlg::Ps256 => Verifier::Ps256(rsa::pss::VerifyingKey::new(rsa_public(jwk)?)),
                JwsAlg::Es256 => Verifier::Es256(p256_public(jwk)?),
            }))
        })();
        Box::pin(async move { result })
    }

    fn import_signing_key<'a>(
        &'a self,
        pkcs8_der: &'a SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
        let result = (|| -> Result<Arc<dyn SigningKey>, CryptoError> {
            let key = RsaPrivateKey::from_pkcs8_der(pkcs8_der.expose())
                .map_err(|_| CryptoError::BadKey("not an RSA private key in PKCS#8 DER".into()))?;
            let bits = key.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(CryptoError::BadKey(format!(
                    "RSA key of {bits} bits is below the {MIN_RSA_BITS}-bit minimum"
                )));
            }
            let public = Jwk {
                kty: "RSA".into(),
                n: Some(URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())),
                e: Some(URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())),
                ..Jwk::default()
            };
            Ok(Arc::new(RsaSigner {
                key: rsa::pkcs1v15::SigningKey::new(key),
                public,
            }))
        })();
        Box::pin(async move { result })
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .map_err(|e| CryptoError::Failed(format!("OS randomness unavailable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn der(pem: &str) -> Vec<u8> {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(b64).unwrap()
    }

    const WEB_IDENTITY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/keys/worker-web-identity.pem"
    ));
    const ES256: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/keys/es256-zone.pem"
    ));

    #[tokio::test]
    async fn rs256_sign_verify_roundtrip() {
        let crypto = RustCrypto::new();
        let key = crypto
            .import_signing_key(&SecretBytes::new(der(WEB_IDENTITY)))
            .await
            .unwrap();
        let jwk = key.public_jwk();
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        let sig = key.sign(b"hello").await.unwrap();
        assert_eq!(sig.len(), 256);
        let v = crypto
            .import_verifying_key(JwsAlg::Rs256, &jwk)
            .await
            .unwrap();
        assert!(v.verify(b"hello", &sig).await.unwrap());
        assert!(!v.verify(b"hellO", &sig).await.unwrap());
        assert!(!v.verify(b"hello", &sig[..255]).await.unwrap());
        // The same key as PS256 does not accept a PKCS#1 v1.5 signature.
        let pss = crypto
            .import_verifying_key(JwsAlg::Ps256, &jwk)
            .await
            .unwrap();
        assert!(!pss.verify(b"hello", &sig).await.unwrap());
        // A JWK that declares another alg is refused for RS256.
        let es = Jwk {
            alg: Some("ES256".into()),
            ..jwk
        };
        assert!(
            crypto
                .import_verifying_key(JwsAlg::Rs256, &es)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn small_rsa_keys_refused() {
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some(URL_SAFE_NO_PAD.encode([0xffu8; 128])),
            e: Some("AQAB".into()),
            ..Jwk::default()
        };
        let err = RustCrypto
            .import_verifying_key(JwsAlg::Rs256, &jwk)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("below the 2048-bit minimum"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn es256_keys() {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::from_pkcs8_der(&der(ES256)).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(point.x().unwrap())),
            y: Some(URL_SAFE_NO_PAD.encode(point.y().unwrap())),
            ..Jwk::default()
        };
        let v = RustCrypto
            .import_verifying_key(JwsAlg::Es256, &jwk)
            .await
            .unwrap();
        let signer = p256::ecdsa::SigningKey::from(&secret);
        let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&signer, b"msg");
        assert!(v.verify(b"msg", &sig.to_bytes()).await.unwrap());
        assert!(!v.verify(b"msg2", &sig.to_bytes()).await.unwrap());
        assert!(!v.verify(b"msg", &[0u8; 63]).await.unwrap());
        // Off-curve point and RSA-typed key are refused.
        let bad = Jwk {
            y: jwk.x.clone(),
            ..jwk.clone()
        };
        assert!(
            RustCrypto
                .import_verifying_key(JwsAlg::Es256, &bad)
                .await
                .is_err()
        );
        assert!(
            RustCrypto
                .import_verifying_key(JwsAlg::Rs256, &jwk)
                .await
                .is_err()
        );
    }

    #[test]
    fn randomness() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        RustCrypto.fill_random(&mut a).unwrap();
        RustCrypto.fill_random(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn signing_key_must_be_rsa_pkcs8() {
        let err = RustCrypto
            .import_signing_key(&SecretBytes::new(der(ES256)))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, CryptoError::BadKey(_)));
        assert!(!format!("{err:?}").contains("MIG"));
    }
}
