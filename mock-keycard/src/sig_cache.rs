//! A bounded memo of verified signatures: the SHA-256 of every exact token string whose
//! signature this zone has checked successfully.
//!
//! Only the *signature* check is memoized. A hit still requires the token to decode and its
//! `kid` to be published right now (a key rotated out past its grace period refuses cached
//! tokens too), and every caller keeps checking issuer, expiry, audience, user and consent on
//! every call. A token differing in a single byte hashes differently, so a tampered token can
//! never be a hit, and a failed check is never remembered.
//!
//! Bounded as a least-recently-used set (`lru`): a hit refreshes the token, so tokens in use
//! survive, and memory stays under `capacity` entries (32 bytes each plus the map's overhead).

use std::num::NonZeroUsize;

use lru::LruCache;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// Default capacity: far more tokens than a replay keeps in use at once (~10k subject tokens,
/// one upstream token per live (user, client) pair), ~10 MB at most.
pub(crate) const DEFAULT_CAPACITY: usize = 200_000;

/// Counters of a zone's signature memo ([`crate::Zone::signature_cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SignatureCacheStats {
    /// Signature checks answered by the memo.
    pub hits: u64,
    /// Signature checks that ran the real verification (successful or not).
    pub misses: u64,
    /// Successful verifications remembered.
    pub inserts: u64,
    /// Tokens remembered now.
    pub len: usize,
}

/// The SHA-256 of a token string: the memo's key.
pub(crate) type TokenHash = [u8; 32];

/// Hashes `token`.
pub(crate) fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct SignatureCache {
    tokens: LruCache<TokenHash, ()>,
    stats: SignatureCacheStats,
}

impl SignatureCache {
    /// A memo holding at most `capacity` tokens (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        // `LruCache::new` reserves the whole capacity up front; an unbounded cache resized
        // while empty starts small and grows with use (every zone has one).
        let mut tokens = LruCache::unbounded();
        tokens.resize(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN));
        Self {
            tokens,
            stats: SignatureCacheStats::default(),
        }
    }

    /// Whether the token with this hash verified before; counts a hit or a miss.
    pub(crate) fn check(&mut self, hash: &TokenHash) -> bool {
        let found = self.tokens.get(hash).is_some();
        if found {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        found
    }

    /// Remembers a token whose signature just verified.
    pub(crate) fn remember(&mut self, hash: TokenHash) {
        self.stats.inserts += 1;
        self.tokens.put(hash, ());
    }

    /// The counters.
    pub(crate) fn stats(&self) -> SignatureCacheStats {
        SignatureCacheStats {
            len: self.tokens.len(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exact_strings_only() {
        let mut cache = SignatureCache::new(8);
        let token = "a.b.c";
        assert!(!cache.check(&token_hash(token)));
        cache.remember(token_hash(token));
        assert!(cache.check(&token_hash(token)));
        assert!(!cache.check(&token_hash("a.b.d")));
        assert_eq!(
            cache.stats(),
            SignatureCacheStats {
                hits: 1,
                misses: 2,
                inserts: 1,
                len: 1
            }
        );
    }

    #[test]
    fn stays_bounded_and_keeps_tokens_in_use() {
        let mut cache = SignatureCache::new(10);
        let hot = token_hash("hot");
        cache.remember(hot);
        for i in 0..1000 {
            cache.remember(token_hash(&format!("cold-{i}")));
            assert!(cache.stats().len <= 10);
            if i % 3 == 0 {
                assert!(cache.check(&hot), "a token in use is never evicted");
            }
        }
        assert!(!cache.check(&token_hash("cold-0")), "old tokens age out");
    }
}
