//! A memoizing wrapper for the crypto port: remembers signature-verification results.
//!
//! `verify(key, message, signature)` is a pure function, so remembering its result per
//! (key, SHA-256 of message and signature) changes nothing the core decides: every other
//! check (issuer, expiry, audience, scopes, ...) still runs on every request. It only
//! spares the replay from re-doing pure-Rust RSA (~0.1 ms natively, where the Worker's
//! WebCrypto takes ~0.02 ms) for tokens it has already verified, so a million-request
//! replay measures the core and the isolates rather than big-number arithmetic.
//! The dev server does not use it.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use keycard_core::jwk::Jwk;
use keycard_core::ports::{
    BoxFuture, Crypto, CryptoError, JwsAlg, SecretBytes, SigningKey, VerifyingKey,
};
use lru::LruCache;
use sha2::{Digest, Sha256};

/// Remembered results per imported key.
const ENTRIES_PER_KEY: usize = 1 << 16;

/// [`Crypto`] that memoizes [`VerifyingKey::verify`] results (bounded LRU per key).
#[derive(Debug, Clone)]
pub struct MemoCrypto<C> {
    inner: C,
}

impl<C: Crypto> MemoCrypto<C> {
    /// Wraps `inner`.
    pub fn new(inner: C) -> Self {
        Self { inner }
    }
}

struct MemoKey {
    inner: Arc<dyn VerifyingKey>,
    seen: Mutex<LruCache<[u8; 32], bool>>,
}

impl MemoKey {
    fn digest(message: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((message.len() as u64).to_be_bytes());
        h.update(message);
        h.update(signature);
        h.finalize().into()
    }

    fn remembered(&self, digest: &[u8; 32]) -> Option<bool> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .copied()
    }
}

impl VerifyingKey for MemoKey {
    fn verify<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, CryptoError>> {
        Box::pin(async move {
            let digest = Self::digest(message, signature);
            if let Some(known) = self.remembered(&digest) {
                return Ok(known);
            }
            let result = self.inner.verify(message, signature).await?;
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(digest, result);
            Ok(result)
        })
    }
}

impl<C: Crypto> Crypto for MemoCrypto<C> {
    fn import_verifying_key<'a>(
        &'a self,
        alg: JwsAlg,
        jwk: &'a Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
        Box::pin(async move {
            let inner = self.inner.import_verifying_key(alg, jwk).await?;
            let capacity = NonZeroUsize::new(ENTRIES_PER_KEY).unwrap_or(NonZeroUsize::MIN);
            Ok(Arc::new(MemoKey {
                inner,
                seen: Mutex::new(LruCache::new(capacity)),
            }) as Arc<dyn VerifyingKey>)
        })
    }

    fn import_signing_key<'a>(
        &'a self,
        pkcs8_der: &'a SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
        self.inner.import_signing_key(pkcs8_der)
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill_random(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);
    impl VerifyingKey for Counting {
        fn verify<'a>(
            &'a self,
            message: &'a [u8],
            signature: &'a [u8],
        ) -> BoxFuture<'a, Result<bool, CryptoError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let ok = message == signature;
            Box::pin(async move { Ok(ok) })
        }
    }

    struct Fake(Arc<AtomicUsize>);
    impl Crypto for Fake {
        fn import_verifying_key<'a>(
            &'a self,
            _alg: JwsAlg,
            _jwk: &'a Jwk,
        ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
            let key: Arc<dyn VerifyingKey> = Arc::new(Counting(self.0.clone()));
            Box::pin(async move { Ok(key) })
        }
        fn import_signing_key<'a>(
            &'a self,
            _der: &'a SecretBytes,
        ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
            Box::pin(async { Err(CryptoError::Failed("no".into())) })
        }
        fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            buf.fill(7);
            Ok(())
        }
    }

    #[tokio::test]
    async fn results_are_remembered_exactly() {
        let calls = Arc::new(AtomicUsize::new(0));
        let crypto = MemoCrypto::new(Fake(calls.clone()));
        let jwk: Jwk = serde_json::from_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#).unwrap();
        let key = crypto
            .import_verifying_key(JwsAlg::Rs256, &jwk)
            .await
            .unwrap();
        assert!(key.verify(b"a", b"a").await.unwrap());
        assert!(key.verify(b"a", b"a").await.unwrap());
        assert!(!key.verify(b"a", b"b").await.unwrap());
        assert!(!key.verify(b"a", b"b").await.unwrap());
        // message/signature boundary is part of the digest
        assert!(!key.verify(b"ab", b"").await.unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
