//! The isolate-safe token cache: the one piece of isolate-wide per-user state.
//!
//! A Worker isolate serves many users' requests, interleaved at every await. Upstream
//! tokens are cached under a typed [`CacheKey`] — issuer, subject, client id of the
//! presented token, upstream resource and requested scopes — compared field by field, so
//! no two identities can collide the way a concatenated string key can
//! (`"a::b" + "::" + "c"` = `"a" + "::" + "b::c"`). A token without `sub` is never cached.
//!
//! Concurrent misses for one key share a single exchange (single flight through a
//! [`futures::future::Shared`] future kept in a map under a `std` mutex that is never held
//! across an await); different keys never wait on each other. A failed exchange is not
//! cached and its in-flight entry is removed, so the next caller tries again. Entries
//! expire `expiry_skew` before the token does; the cache holds at most `max_entries`,
//! evicting the least recently used. All time comes from the [`Clock`] port.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::Shared;
use lru::LruCache;

use crate::config::CacheConfig;
use crate::exchange::{ExchangeError, UpstreamToken};
use crate::ports::{BoxFuture, Clock, UnixMillis};

/// Who a cached token belongs to and what it is for. Compared field by field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CacheKey {
    /// `iss` of the presented token.
    pub issuer: String,
    /// `sub` of the presented token; a key without one is never stored.
    pub subject: Option<String>,
    /// `client_id` of the presented token (the MCP client the user came through).
    pub client_id: String,
    /// The upstream resource the token is for.
    pub resource: String,
    /// Requested scopes, sorted and deduplicated.
    pub scopes: Vec<String>,
}

impl CacheKey {
    /// A key; `scopes` are sorted and deduplicated.
    pub fn new(
        issuer: impl Into<String>,
        subject: Option<String>,
        client_id: impl Into<String>,
        resource: impl Into<String>,
        scopes: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut scopes: Vec<String> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Self {
            issuer: issuer.into(),
            subject,
            client_id: client_id.into(),
            resource: resource.into(),
            scopes,
        }
    }
}

/// How keys map to cache slots. Only [`CacheKeying::Isolated`] is correct; the others
/// exist (feature `naive-cache-demo`) so tests and `emulator replay --naive-cache` can
/// prove that the leak oracle catches a naive cache.
#[cfg(feature = "naive-cache-demo")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheKeying {
    /// The full typed key; sub-less tokens are never cached.
    #[default]
    Isolated,
    /// Keyed by upstream resource only: every user shares one token.
    ResourceOnly,
    /// `format!("{sub}::{resource}")` like the TypeScript package (sub-less tokens share
    /// the `undefined::…` slot; issuer and client ignored).
    SubResourceString,
    /// One module-level slot for everything.
    SingleSlot,
}

/// Counters since the cache was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries currently held.
    pub entries: usize,
    /// Requests served from a cached entry.
    pub hits: u64,
    /// Requests not served from a cached entry (they exchanged or joined an exchange).
    pub misses: u64,
    /// Exchanges started (including uncacheable ones).
    pub exchanges: u64,
    /// Misses that waited for another request's in-flight exchange instead.
    pub joined: u64,
    /// Requests whose token is never cached (no `sub`).
    pub uncacheable: u64,
    /// Entries evicted to respect `max_entries`.
    pub evictions: u64,
    /// Entries dropped by [`TokenCache::invalidate`].
    pub invalidations: u64,
}

type ExchangeFuture = BoxFuture<'static, Result<Arc<UpstreamToken>, ExchangeError>>;

struct Entry {
    token: Arc<UpstreamToken>,
    expires_at: UnixMillis,
}

struct InFlight {
    generation: u64,
    future: Shared<ExchangeFuture>,
}

struct State {
    entries: LruCache<CacheKey, Entry>,
    inflight: HashMap<CacheKey, InFlight>,
    next_generation: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    exchanges: AtomicU64,
    joined: AtomicU64,
    uncacheable: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

struct Shared_ {
    state: Mutex<State>,
    counters: Counters,
    clock: Arc<dyn Clock>,
    skew: Duration,
    default_lifetime: Duration,
}

/// The isolate-wide upstream token cache. Cheap to share behind an `Arc`.
pub struct TokenCache {
    shared: Arc<Shared_>,
    #[cfg(feature = "naive-cache-demo")]
    keying: CacheKeying,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache with `config`'s bound and expiry skew, reading time from `clock`.
    pub fn new(config: &CacheConfig, clock: Arc<dyn Clock>) -> Self {
        let capacity = NonZeroUsize::new(config.max_entries).unwrap_or(NonZeroUsize::MIN);
        Self {
            shared: Arc::new(Shared_ {
                state: Mutex::new(State {
                    entries: LruCache::new(capacity),
                    inflight: HashMap::new(),
                    next_generation: 0,
                }),
                counters: Counters::default(),
                clock,
                skew: config.expiry_skew,
                default_lifetime: config.default_lifetime,
            }),
            #[cfg(feature = "naive-cache-demo")]
            keying: CacheKeying::Isolated,
        }
    }

    /// A cache with a deliberately chosen (possibly naive) keying policy. Demonstration
    /// and mutation testing only.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_keying(config: &CacheConfig, clock: Arc<dyn Clock>, keying: CacheKeying) -> Self {
        Self {
            keying,
            ..Self::new(config, clock)
        }
    }

    /// The slot a key is stored under; `None` means "never cache".
    fn slot(&self, key: &CacheKey) -> Option<CacheKey> {
        #[cfg(feature = "naive-cache-demo")]
        match self.keying {
            CacheKeying::Isolated => {}
            CacheKeying::ResourceOnly => {
                return Some(CacheKey {
                    resource: key.resource.clone(),
                    ..CacheKey::default()
                });
            }
            CacheKeying::SubResourceString => {
                let sub = key.subject.as_deref().unwrap_or("undefined");
                return Some(CacheKey {
                    subject: Some(format!("{sub}::{}", key.resource)),
                    ..CacheKey::default()
                });
            }
            CacheKeying::SingleSlot => return Some(CacheKey::default()),
        }
        key.subject.as_ref().map(|_| key.clone())
    }

    /// The cached token for `key`, or the result of `exchange` (shared with every
    /// concurrent caller for the same key). `exchange` is only called on a miss with no
    /// exchange already in flight.
    pub async fn get_or_exchange<F>(
        &self,
        key: &CacheKey,
        exchange: F,
    ) -> Result<Arc<UpstreamToken>, ExchangeError>
    where
        F: FnOnce() -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>>,
    {
        let shared = &self.shared;
        let counters = &shared.counters;
        let Some(slot) = self.slot(key) else {
            counters.uncacheable.fetch_add(1, Ordering::Relaxed);
            counters.misses.fetch_add(1, Ordering::Relaxed);
            counters.exchanges.fetch_add(1, Ordering::Relaxed);
            return exchange().await.map(Arc::new);
        };

        let future = {
            let mut state = shared.lock();
            let now = shared.clock.now_ms();
            match state.entries.get(&slot) {
                Some(entry) if entry.expires_at > now => {
                    counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(entry.token.clone());
                }
                Some(_) => {
                    state.entries.pop(&slot);
                }
                None => {}
            }
            counters.misses.fetch_add(1, Ordering::Relaxed);
            if let Some(inflight) = state.inflight.get(&slot) {
                counters.joined.fetch_add(1, Ordering::Relaxed);
                inflight.future.clone()
            } else {
                counters.exchanges.fetch_add(1, Ordering::Relaxed);
                let generation = state.next_generation;
                state.next_generation = state.next_generation.wrapping_add(1);
                let started = exchange();
                let owner = Arc::clone(shared);
                let slot_for_fill = slot.clone();
                let future: ExchangeFuture = Box::pin(async move {
                    let result = started.await.map(Arc::new);
                    owner.complete(&slot_for_fill, generation, &result);
                    result
                });
                let future = future.shared();
                state.inflight.insert(
                    slot,
                    InFlight {
                        generation,
                        future: future.clone(),
                    },
                );
                future
            }
        };
        future.await
    }

    /// Drops the entry for `key` if it still holds `token` (an entry refreshed meanwhile
    /// by another request is kept). Returns whether an entry was dropped.
    pub fn invalidate(&self, key: &CacheKey, token: &UpstreamToken) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let mut state = self.shared.lock();
        let holds_it = state
            .entries
            .peek(&slot)
            .is_some_and(|entry| entry.token.access_token == token.access_token);
        if holds_it {
            state.entries.pop(&slot);
            self.shared
                .counters
                .invalidations
                .fetch_add(1, Ordering::Relaxed);
        }
        holds_it
    }

    /// Entries currently held (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.shared.lock().entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since the cache was built.
    pub fn stats(&self) -> CacheStats {
        let c = &self.shared.counters;
        CacheStats {
            entries: self.len(),
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            exchanges: c.exchanges.load(Ordering::Relaxed),
            joined: c.joined.load(Ordering::Relaxed),
            uncacheable: c.uncacheable.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            invalidations: c.invalidations.load(Ordering::Relaxed),
        }
    }
}

impl Shared_ {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every critical section
        // is a few map operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called once by the exchange future that owns the in-flight entry.
    fn complete(
        &self,
        slot: &CacheKey,
        generation: u64,
        result: &Result<Arc<UpstreamToken>, ExchangeError>,
    ) {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        if state
            .inflight
            .get(slot)
            .is_some_and(|f| f.generation == generation)
        {
            state.inflight.remove(slot);
        }
        let Ok(token) = result else {
            return;
        };
        let lifetime = token
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(self.default_lifetime);
        let Some(usable) = lifetime.checked_sub(self.skew).filter(|d| !d.is_zero()) else {
            return;
        };
        let expires_at = now.saturating_add(u64::try_from(usable.as_millis()).unwrap_or(u64::MAX));
        let entry = Entry {
            token: token.clone(),
            expires_at,
        };
        if let Some((evicted, _)) = state.entries.push(slot.clone(), entry)
            && evicted != *slot
        {
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}
