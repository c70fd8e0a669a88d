//! A bounded memo of verified signatures: the SHA-256 of every exact token string whose
//! signature this zone has checked successfully.
//!
//! Only the *signature* check is memoized. A hit still requires the token to decode and its
//! `kid` to be published right now (a key rotated out past its grace period refuses cached
//! tokens too), and every caller keeps checking issuer, expiry, audience, user and consent on
//! every call. A token differing in a single byte hashes differently, so a tampered token can
//! never be a hit, and a failed check is never remembered.
//!
//! Bounded as two generations: inserts go to the young set; when it holds half the capacity,
//! the old set is dropped and the young one becomes old. A hit in the old set is promoted, so
//! tokens in use survive, memory stays under `capacity` entries (32 bytes each plus the hash
//! set's overhead), and nothing is ever scanned.

use std::collections::HashSet;

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
    young: HashSet<TokenHash>,
    old: HashSet<TokenHash>,
    generation: usize,
    stats: SignatureCacheStats,
}

impl SignatureCache {
    /// A memo holding at most `capacity` tokens (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            young: HashSet::new(),
            old: HashSet::new(),
            generation: (capacity / 2).max(1),
            stats: SignatureCacheStats::default(),
        }
    }

    /// Whether the token with this hash verified before; counts a hit or a miss.
    pub(crate) fn check(&mut self, hash: &TokenHash) -> bool {
        let found = if self.young.contains(hash) {
            true
        } else if self.old.remove(hash) {
            self.insert_young(*hash);
            true
        } else {
            false
        };
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
        self.insert_young(hash);
    }

    fn insert_young(&mut self, hash: TokenHash) {
        if self.young.len() >= self.generation {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(hash);
    }

    /// The counters.
    pub(crate) fn stats(&self) -> SignatureCacheStats {
        SignatureCacheStats {
            len: self.young.len() + self.old.len(),
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
