//! A bounded memo of token signatures already proven, so a client that sends the same
//! bearer on every call pays for one signature check, not one per request.
//!
//! What it remembers and what it never skips:
//!
//! * The key is the SHA-256 of the whole compact token (header, claims and signature),
//!   so any change to any byte is a different entry; the token itself is never stored.
//! * The value is the verifying key that accepted it, held weakly. A hit counts only if
//!   the keyring still hands out *that same key* for the token's issuer and `kid`: when a
//!   key rotates out of the JWKS (or is re-imported on refresh) its entries stop
//!   matching, and the token is verified again against whatever the keyring now holds.
//! * Every claim check (issuer, `exp`/`nbf`/`iat` against the current clock, audience,
//!   `client_id`, scopes) still runs on every request: only the signature check, whose
//!   answer cannot change while the bytes and the key are the same, is memoised.
//! * Only successes are remembered; a bad signature is checked again every time.
//!
//! Bounded by `KEYCARD_VERIFIED_CACHE_MAX_ENTRIES` (LRU; `0` turns it off; at most
//! [`crate::config::MAX_CACHE_BOUND`], since the table is reserved up front). Each entry
//! is a 32-byte digest and a weak pointer; a weak pointer keeps a rotated-out key's small
//! allocation (not the key's use) alive until its entry is evicted or looked up again.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, Weak};

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::ports::VerifyingKey;

/// The digest an entry is keyed by.
pub type TokenDigest = [u8; 32];

/// Signatures already verified, per isolate. See the module docs for what a hit means.
pub struct VerifiedTokens {
    entries: Option<Mutex<LruCache<TokenDigest, Weak<dyn VerifyingKey>>>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("len", &self.len())
            .finish()
    }
}

impl VerifiedTokens {
    /// A memo of at most `max_entries` tokens; `0` remembers nothing.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(max_entries).map(|n| Mutex::new(LruCache::new(n))),
        }
    }

    /// The digest of a compact token.
    pub fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Whether `digest`'s signature was proven by exactly `key` (the key the keyring
    /// gives for the token now).
    pub fn contains(&self, digest: &TokenDigest, key: &Arc<dyn VerifyingKey>) -> bool {
        let Some(entries) = &self.entries else {
            return false;
        };
        let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(digest) {
            Some(proven_by) if std::ptr::addr_eq(proven_by.as_ptr(), Arc::as_ptr(key)) => true,
            Some(_) => {
                // Proven by a key the keyring no longer hands out for this kid.
                entries.pop(digest);
                false
            }
            None => false,
        }
    }

    /// Remembers that `key` verified the token with `digest`.
    pub fn insert(&self, digest: TokenDigest, key: &Arc<dyn VerifyingKey>) {
        if let Some(entries) = &self.entries {
            entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(digest, Arc::downgrade(key));
        }
    }

    /// Number of remembered tokens.
    pub fn len(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |e| e.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{BoxFuture, CryptoError};

    struct AnyKey;
    impl VerifyingKey for AnyKey {
        fn verify<'a>(
            &'a self,
            _: &'a [u8],
            _: &'a [u8],
        ) -> BoxFuture<'a, Result<bool, CryptoError>> {
            Box::pin(async { Ok(true) })
        }
    }

    fn key() -> Arc<dyn VerifyingKey> {
        Arc::new(AnyKey)
    }

    #[test]
    fn a_hit_needs_the_same_bytes_and_the_same_key() {
        let memo = VerifiedTokens::new(8);
        let (k1, k2) = (key(), key());
        let d = VerifiedTokens::digest("a.b.c");
        assert!(!memo.contains(&d, &k1));
        memo.insert(d, &k1);
        assert!(memo.contains(&d, &k1));
        assert!(!memo.contains(&VerifiedTokens::digest("a.b.d"), &k1));
        // Another key for the same kid (rotation, re-import): a miss, and the entry goes.
        assert!(!memo.contains(&d, &k2));
        assert!(!memo.contains(&d, &k1));
        assert!(memo.is_empty());
    }

    #[test]
    fn a_dropped_key_never_matches_a_new_one() {
        let memo = VerifiedTokens::new(8);
        let d = VerifiedTokens::digest("a.b.c");
        let k1 = key();
        memo.insert(d, &k1);
        drop(k1);
        // The weak pointer keeps the old allocation reserved, so a new key cannot
        // take its address and inherit its entries.
        let k2 = key();
        assert!(!memo.contains(&d, &k2));
    }

    #[test]
    fn bounded_and_can_be_off() {
        let memo = VerifiedTokens::new(2);
        let k = key();
        for t in ["1", "2", "3"] {
            memo.insert(VerifiedTokens::digest(t), &k);
        }
        assert_eq!(memo.len(), 2);
        assert!(!memo.contains(&VerifiedTokens::digest("1"), &k));
        let off = VerifiedTokens::new(0);
        off.insert(VerifiedTokens::digest("1"), &k);
        assert!(!off.contains(&VerifiedTokens::digest("1"), &k));
    }
}
