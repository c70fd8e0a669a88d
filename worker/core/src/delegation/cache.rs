//! The isolate-safe token cache: the one piece of isolate-wide per-user state.
//!
//! A Worker isolate serves many users' requests, interleaved at every await. Upstream
//! tokens are cached under a typed [`CacheKey`] — issuer, subject, client id and verified
//! audience of the presented token, upstream resource and requested scopes: everything the
//! STS decides on — compared field by field, so
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

use lru::LruCache;

use crate::config::{CacheConfig, Inflight};
use crate::delegation::exchange::{ExchangeError, UpstreamToken};
use crate::outbound::budget::Budget;
use crate::outbound::single_flight::{self, Flight, Outcome, Step, Waiter};
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
    /// This server's resource identifier the presented token was verified for (its `aud`,
    /// which the STS checks too: a token for another audience may be refused there).
    pub audience: String,
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
        audience: impl Into<String>,
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
            audience: audience.into(),
            resource: resource.into(),
            scopes,
        }
    }
}

/// How keys map to cache slots. Only [`CacheKeying::Isolated`] is correct; the others
/// exist (feature `naive-cache-demo`) so tests and `emulator replay --naive-cache` can
/// prove that the leak oracle catches a naive cache.
#[cfg(any(test, feature = "naive-cache-demo"))]
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
    /// The full key except the verified audience: a token of the same user for another
    /// MCP server resource (which the STS might refuse) gets the cached token.
    WithoutAudience,
    /// The full key except issuer and audience — what a multi-zone server gets if it
    /// shares one cache between zones keyed like a single-zone one: the same user name
    /// and client in two zones share one token. Caught only across zones sharing a cache
    /// (`Gateway::with_shared_cache`).
    WithoutZone,
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

type Exchanged = Result<Arc<UpstreamToken>, ExchangeError>;

struct Entry {
    token: Arc<UpstreamToken>,
    expires_at: UnixMillis,
}

struct InFlight {
    generation: u64,
    future: Flight<Exchanged>,
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

struct CacheInner {
    state: Mutex<State>,
    counters: Counters,
    clock: Arc<dyn Clock>,
    skew: Duration,
    default_lifetime: Duration,
    inflight: Inflight,
    poll_budget: Duration,
}

/// The isolate-wide upstream token cache. Cheap to share behind an `Arc`.
pub struct TokenCache {
    shared: Arc<CacheInner>,
    #[cfg(any(test, feature = "naive-cache-demo"))]
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
            shared: Arc::new(CacheInner {
                state: Mutex::new(State {
                    entries: LruCache::new(capacity),
                    inflight: HashMap::new(),
                    next_generation: 0,
                }),
                counters: Counters::default(),
                clock,
                skew: config.expiry_skew,
                default_lifetime: config.default_lifetime,
                inflight: Inflight::Await,
                poll_budget: Duration::from_secs(10),
            }),
            #[cfg(any(test, feature = "naive-cache-demo"))]
            keying: CacheKeying::Isolated,
        }
    }

    /// A cache with a deliberately chosen (possibly naive) keying policy. Demonstration
    /// and mutation testing only.
    #[cfg(any(test, feature = "naive-cache-demo"))]
    #[doc(hidden)]
    pub fn with_keying(config: &CacheConfig, clock: Arc<dyn Clock>, keying: CacheKeying) -> Self {
        Self {
            keying,
            ..Self::new(config, clock)
        }
    }

    /// Sets how concurrent misses wait for an in-flight exchange (see [`Inflight`]) and,
    /// in `Poll` mode, how long a waiter waits before exchanging for itself. Call right
    /// after construction.
    #[must_use]
    pub fn with_inflight(mut self, mode: Inflight, poll_budget: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.shared) {
            inner.inflight = mode;
            inner.poll_budget = poll_budget;
        }
        self
    }

    /// The slot a key is stored under; `None` means "never cache".
    fn slot(&self, key: &CacheKey) -> Option<CacheKey> {
        #[cfg(any(test, feature = "naive-cache-demo"))]
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
            CacheKeying::WithoutAudience => {
                return key.subject.as_ref().map(|_| CacheKey {
                    audience: String::new(),
                    ..key.clone()
                });
            }
            CacheKeying::WithoutZone => {
                return key.subject.as_ref().map(|_| CacheKey {
                    issuer: String::new(),
                    audience: String::new(),
                    ..key.clone()
                });
            }
        }
        key.subject.as_ref().map(|_| key.clone())
    }

    /// The cached token for `key`, or the result of `exchange` (shared with every
    /// concurrent caller for the same key). `exchange` is only called on a miss with no
    /// exchange already in flight. It is called while the cache's lock is held, so it must
    /// only build the (lazy) future and not touch this cache.
    pub async fn get_or_exchange<F>(
        &self,
        key: &CacheKey,
        budget: Budget,
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

        let clock = &*shared.clock;
        let waiter = Waiter::new(clock, shared.inflight, shared.poll_budget, budget);
        let mut exchange = Some(exchange);
        let outcome = waiter
            .run(|waiter| {
                let mut state = shared.lock();
                let now = clock.now_ms();
                match state.entries.get(&slot) {
                    Some(entry) if entry.expires_at > now => {
                        counters.hits.fetch_add(1, Ordering::Relaxed);
                        return Step::Done(Ok(entry.token.clone()));
                    }
                    Some(_) => {
                        state.entries.pop(&slot);
                    }
                    None => {}
                }
                if let Some(inflight) = state.inflight.get(&slot)
                    && let Some(step) = waiter.join(&inflight.future)
                {
                    if matches!(step, Step::Wait(_)) {
                        counters.misses.fetch_add(1, Ordering::Relaxed);
                        counters.joined.fetch_add(1, Ordering::Relaxed);
                    }
                    return step;
                }
                // `run` stops looking once a fetch is handed over, so this runs once.
                let Some(exchange) = exchange.take() else {
                    return Step::Done(Err(ExchangeError::Timeout));
                };
                counters.misses.fetch_add(1, Ordering::Relaxed);
                counters.exchanges.fetch_add(1, Ordering::Relaxed);
                let generation = state.next_generation;
                state.next_generation = state.next_generation.wrapping_add(1);
                let started = exchange();
                let owner = Arc::clone(shared);
                let slot_for_fill = slot.clone();
                let future = single_flight::start(async move {
                    let result = started.await.map(Arc::new);
                    owner.complete(&slot_for_fill, generation, &result);
                    result
                });
                state.inflight.insert(
                    slot.clone(),
                    InFlight {
                        generation,
                        future: future.clone(),
                    },
                );
                Step::Wait(future)
            })
            .await;
        match outcome {
            Outcome::Done(answer) | Outcome::Fetched(answer) => answer,
            Outcome::OutOfTime => Err(ExchangeError::Timeout),
        }
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

impl CacheInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every critical section
        // is a few map operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called once by the exchange future that owns the in-flight entry.
    fn complete(&self, slot: &CacheKey, generation: u64, result: &Exchanged) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, SharedManualClock};
    use crate::secret::SecretString;
    use std::sync::atomic::AtomicUsize;

    const T0: u64 = 1_700_000_000_000;

    fn token(value: &str, expires_in: Option<u64>) -> UpstreamToken {
        UpstreamToken {
            access_token: SecretString::from(value),
            token_type: "Bearer".into(),
            expires_in,
            scope: None,
            issued_token_type: None,
        }
    }

    fn key(issuer: &str, sub: Option<&str>, client: &str) -> CacheKey {
        CacheKey::new(
            issuer,
            sub.map(str::to_owned),
            client,
            "https://mcp.example.com",
            "https://api.github.com",
            Vec::new(),
        )
    }

    struct Fixture {
        clock: Arc<ManualClock>,
        cache: TokenCache,
        calls: Arc<AtomicUsize>,
    }

    fn fixture(max_entries: usize) -> Fixture {
        let clock = ManualClock::new(T0);
        let config = CacheConfig {
            max_entries,
            expiry_skew: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(300),
            ..CacheConfig::default()
        };
        Fixture {
            cache: TokenCache::new(&config, Arc::new(SharedManualClock(clock.clone()))),
            clock,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    impl Fixture {
        /// An exchange that counts itself and yields a token named `value`.
        fn ok(
            &self,
            value: &str,
            expires_in: Option<u64>,
        ) -> impl FnOnce() -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>> + use<>
        {
            let calls = self.calls.clone();
            let t = token(value, expires_in);
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move { Ok(t) })
            }
        }

        /// An exchange that completes only after the clock passes `delay`.
        fn slow(
            &self,
            value: &str,
            delay: Duration,
        ) -> impl FnOnce() -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>> + use<>
        {
            let calls = self.calls.clone();
            let sleep = SharedManualClock(self.clock.clone()).sleep(delay);
            let t = token(value, Some(3600));
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    sleep.await;
                    Ok(t)
                })
            }
        }

        async fn get(&self, key: &CacheKey, value: &str) -> String {
            self.cache
                .get_or_exchange(key, Budget::UNLIMITED, self.ok(value, Some(3600)))
                .await
                .unwrap()
                .access_token
                .expose()
                .clone()
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn failing() -> impl FnOnce() -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>> {
        || Box::pin(async { Err(ExchangeError::Unavailable { status: 503 }) })
    }

    #[tokio::test]
    async fn hit_after_miss() {
        let f = fixture(10);
        let alice = key("https://z", Some("alice"), "c");
        assert_eq!(f.get(&alice, "t1").await, "t1");
        assert_eq!(f.get(&alice, "t2").await, "t1");
        assert_eq!(f.calls(), 1);
        let stats = f.cache.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.exchanges, stats.entries),
            (1, 1, 1, 1)
        );
    }

    #[tokio::test]
    async fn expiry_honours_the_skew() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        f.cache
            .get_or_exchange(&k, Budget::UNLIMITED, f.ok("t1", Some(100)))
            .await
            .unwrap();
        // 100 s lifetime − 30 s skew: fresh until T0 + 70 s, exclusive.
        f.clock.advance(Duration::from_millis(69_999));
        assert_eq!(f.get(&k, "t2").await, "t1");
        f.clock.advance(Duration::from_millis(1));
        assert_eq!(f.get(&k, "t2").await, "t2");
        assert_eq!(f.calls(), 2);
    }

    #[tokio::test]
    async fn default_lifetime_and_too_short_tokens() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        // No expires_in: 300 s default − 30 s skew.
        f.cache
            .get_or_exchange(&k, Budget::UNLIMITED, f.ok("t1", None))
            .await
            .unwrap();
        f.clock.advance(Duration::from_secs(269));
        assert_eq!(f.get(&k, "t2").await, "t1");
        f.clock.advance(Duration::from_secs(1));
        assert_eq!(f.get(&k, "t2").await, "t2");

        // A token living no longer than the skew is returned but never stored.
        let bob = key("https://z", Some("bob"), "c");
        for (i, life) in [30u64, 10, 0].into_iter().enumerate() {
            let got = f
                .cache
                .get_or_exchange(
                    &bob,
                    Budget::UNLIMITED,
                    f.ok(&format!("short{i}"), Some(life)),
                )
                .await
                .unwrap();
            assert_eq!(got.access_token.expose(), &format!("short{i}"));
        }
        assert_eq!(f.calls(), 5);
        assert_eq!(f.cache.len(), 1);
    }

    #[tokio::test]
    async fn lru_bound_evicts_the_least_recently_used() {
        let f = fixture(2);
        let [a, b, c] = ["a", "b", "c"].map(|s| key("https://z", Some(s), "cl"));
        f.get(&a, "ta").await;
        f.get(&b, "tb").await;
        f.get(&a, "x").await; // a is now the most recently used
        f.get(&c, "tc").await; // evicts b
        assert_eq!(f.cache.len(), 2);
        assert_eq!(f.cache.stats().evictions, 1);
        assert_eq!(f.get(&a, "x").await, "ta");
        assert_eq!(f.get(&b, "tb2").await, "tb2");
        assert_eq!(f.cache.len(), 2);
    }

    #[tokio::test]
    async fn bounded_under_many_subjects() {
        let f = fixture(100);
        for i in 0..1000 {
            let k = key("https://z", Some(&format!("user{i}")), "c");
            f.get(&k, &format!("t{i}")).await;
        }
        assert_eq!(f.cache.len(), 100);
        assert_eq!(f.cache.stats().evictions, 900);
    }

    #[tokio::test]
    async fn subless_tokens_are_never_cached() {
        let f = fixture(10);
        let anon = key("https://z", None, "c");
        assert_eq!(f.get(&anon, "t1").await, "t1");
        assert_eq!(f.get(&anon, "t2").await, "t2");
        assert_eq!(f.calls(), 2);
        assert_eq!(f.cache.len(), 0);
        let stats = f.cache.stats();
        assert_eq!((stats.uncacheable, stats.hits), (2, 0));
    }

    #[tokio::test]
    async fn identities_never_share_entries() {
        let f = fixture(10);
        let keys = [
            key("https://zone-a", Some("alice"), "cursor"),
            // Same sub at another issuer.
            key("https://zone-b", Some("alice"), "cursor"),
            // Same user through another client.
            key("https://zone-a", Some("alice"), "claude"),
            // Strings that collide when concatenated with `::`.
            key("https://zone-a", Some("alice::x"), "cursor"),
            CacheKey::new(
                "https://zone-a",
                Some("alice".into()),
                "cursor",
                "https://mcp.example.com",
                "x::https://api.github.com",
                Vec::new(),
            ),
            // Another scope set.
            CacheKey::new(
                "https://zone-a",
                Some("alice".into()),
                "cursor",
                "https://mcp.example.com",
                "https://api.github.com",
                vec!["repo".into()],
            ),
            // A token of the same user and client verified for another audience (another
            // MCP server resource): the STS may refuse it, so it must not get a cached token.
            CacheKey::new(
                "https://zone-a",
                Some("alice".into()),
                "cursor",
                "https://other-mcp.example.com",
                "https://api.github.com",
                Vec::new(),
            ),
        ];
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(f.get(k, &format!("t{i}")).await, format!("t{i}"));
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(f.get(k, "fresh").await, format!("t{i}"));
        }
        assert_eq!(f.calls(), keys.len());
    }

    #[test]
    fn scopes_are_a_set() {
        let a = CacheKey::new(
            "i",
            Some("s".into()),
            "c",
            "a",
            "r",
            vec!["b".into(), "a".into(), "b".into()],
        );
        let b = CacheKey::new(
            "i",
            Some("s".into()),
            "c",
            "a",
            "r",
            vec!["a".into(), "b".into()],
        );
        assert_eq!(a, b);
        assert_eq!(a.scopes, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_exchange() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        let (a, b, c, ()) = futures::join!(
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("shared", Duration::from_secs(1))
            ),
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("second", Duration::from_secs(1))
            ),
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("third", Duration::from_secs(1))
            ),
            async {
                tokio::task::yield_now().await;
                f.clock.advance(Duration::from_secs(1));
            }
        );
        for r in [a, b, c] {
            assert_eq!(r.unwrap().access_token.expose(), "shared");
        }
        assert_eq!(f.calls(), 1);
        let stats = f.cache.stats();
        assert_eq!((stats.exchanges, stats.joined, stats.misses), (1, 2, 3));
        assert_eq!(f.get(&k, "later").await, "shared");
    }

    /// Advances the clock in small steps so polling waiters get to look again.
    async fn tick(clock: &ManualClock, step: Duration, steps: usize) {
        for _ in 0..steps {
            tokio::task::yield_now().await;
            clock.advance(step);
        }
    }

    #[tokio::test]
    async fn poll_mode_waiters_share_one_exchange_without_awaiting_it() {
        let mut f = fixture(10);
        let poll = Inflight::Poll {
            interval: Duration::from_millis(10),
        };
        f.cache = f.cache.with_inflight(poll, Duration::from_secs(10));
        let k = key("https://z", Some("alice"), "c");
        let (a, b, c, ()) = futures::join!(
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("shared", Duration::from_secs(1))
            ),
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("second", Duration::from_secs(1))
            ),
            f.cache.get_or_exchange(
                &k,
                Budget::UNLIMITED,
                f.slow("third", Duration::from_secs(1))
            ),
            tick(&f.clock, Duration::from_millis(10), 150)
        );
        for r in [a, b, c] {
            assert_eq!(r.unwrap().access_token.expose(), "shared");
        }
        assert_eq!(f.calls(), 1, "one exchange for three concurrent misses");
        let stats = f.cache.stats();
        // The waiters never polled the owner's future: they found the filled entry.
        assert_eq!((stats.exchanges, stats.joined, stats.hits), (1, 0, 2));
    }

    #[tokio::test]
    async fn poll_mode_waiter_gives_up_on_a_stuck_owner() {
        let mut f = fixture(10);
        let poll = Inflight::Poll {
            interval: Duration::from_millis(100),
        };
        f.cache = f.cache.with_inflight(poll, Duration::from_secs(1));
        let k = key("https://z", Some("alice"), "c");
        let mut stuck =
            std::pin::pin!(f.cache.get_or_exchange(&k, Budget::UNLIMITED, || Box::pin(
                futures::future::pending()
            )));
        assert!(futures::poll!(&mut stuck).is_pending());
        let (late, ()) = futures::join!(
            f.cache
                .get_or_exchange(&k, Budget::UNLIMITED, f.ok("own", Some(3600))),
            tick(&f.clock, Duration::from_millis(100), 20)
        );
        assert_eq!(late.unwrap().access_token.expose(), "own");
        assert_eq!(f.cache.stats().exchanges, 2);
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_on_each_other() {
        let f = fixture(10);
        let alice = key("https://z", Some("alice"), "c");
        let bob = key("https://z", Some("bob"), "c");
        let mut slow_alice = std::pin::pin!(f.cache.get_or_exchange(
            &alice,
            Budget::UNLIMITED,
            || Box::pin(futures::future::pending())
        ));
        assert!(futures::poll!(&mut slow_alice).is_pending());
        // Bob is served while Alice's exchange hangs.
        assert_eq!(f.get(&bob, "tb").await, "tb");
        assert_eq!(f.get(&bob, "x").await, "tb");
        // A second caller for Alice joins her hanging exchange rather than starting one.
        let mut alice_again = std::pin::pin!(f.cache.get_or_exchange(
            &alice,
            Budget::UNLIMITED,
            f.ok("other", None)
        ));
        assert!(futures::poll!(&mut alice_again).is_pending());
        assert_eq!(f.calls(), 1);
    }

    #[tokio::test]
    async fn failed_exchanges_are_not_cached() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        let err = f
            .cache
            .get_or_exchange(&k, Budget::UNLIMITED, failing())
            .await
            .unwrap_err();
        assert_eq!(err, ExchangeError::Unavailable { status: 503 });
        assert_eq!(f.cache.len(), 0);
        // The in-flight entry is gone: the next caller exchanges again and succeeds.
        assert_eq!(f.get(&k, "t1").await, "t1");
        assert_eq!(f.calls(), 1);
    }

    #[tokio::test]
    async fn concurrent_waiters_all_see_the_failure_then_retry() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        let clock = f.clock.clone();
        let slow_fail = move || -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>> {
            let sleep = SharedManualClock(clock).sleep(Duration::from_secs(1));
            Box::pin(async move {
                sleep.await;
                Err(ExchangeError::Timeout)
            })
        };
        let (a, b, ()) = futures::join!(
            f.cache.get_or_exchange(&k, Budget::UNLIMITED, slow_fail),
            f.cache
                .get_or_exchange(&k, Budget::UNLIMITED, f.ok("unused", None)),
            async {
                tokio::task::yield_now().await;
                f.clock.advance(Duration::from_secs(1));
            }
        );
        assert_eq!(a.unwrap_err(), ExchangeError::Timeout);
        assert_eq!(b.unwrap_err(), ExchangeError::Timeout);
        assert_eq!(f.calls(), 0);
        assert_eq!(f.get(&k, "t1").await, "t1");
    }

    #[tokio::test]
    async fn invalidate_drops_only_the_matching_token() {
        let f = fixture(10);
        let k = key("https://z", Some("alice"), "c");
        let old = f
            .cache
            .get_or_exchange(&k, Budget::UNLIMITED, f.ok("old", Some(3600)))
            .await
            .unwrap();
        assert!(f.cache.invalidate(&k, &old));
        assert_eq!(f.cache.len(), 0);
        assert_eq!(f.get(&k, "new").await, "new");
        // A stale 401 on the old token must not clobber the refreshed entry.
        assert!(!f.cache.invalidate(&k, &old));
        assert_eq!(f.get(&k, "newer").await, "new");
        assert_eq!(f.cache.stats().invalidations, 1);
        // Sub-less keys hold nothing to invalidate.
        assert!(!f.cache.invalidate(&key("https://z", None, "c"), &old));
    }

    #[cfg(any(test, feature = "naive-cache-demo"))]
    #[tokio::test]
    async fn naive_keyings_do_collide() {
        let config = CacheConfig::default();
        let clock: Arc<dyn Clock> = Arc::new(SharedManualClock(ManualClock::new(T0)));
        let alice = key("https://zone-a", Some("alice"), "cursor");
        let cases = [
            (
                CacheKeying::Isolated,
                key("https://zone-b", Some("alice"), "cursor"),
                false,
            ),
            (
                CacheKeying::ResourceOnly,
                key("https://zone-a", Some("bob"), "cursor"),
                true,
            ),
            (
                CacheKeying::SubResourceString,
                key("https://zone-b", Some("alice"), "claude"),
                true,
            ),
            (CacheKeying::SingleSlot, CacheKey::default(), true),
            (
                CacheKeying::WithoutAudience,
                CacheKey {
                    audience: "https://other-mcp.example.com".into(),
                    ..alice.clone()
                },
                true,
            ),
            (
                CacheKeying::Isolated,
                CacheKey {
                    audience: "https://other-mcp.example.com".into(),
                    ..alice.clone()
                },
                false,
            ),
        ];
        for (keying, other, collides) in cases {
            let cache = TokenCache::with_keying(&config, clock.clone(), keying);
            let first = cache
                .get_or_exchange(&alice, Budget::UNLIMITED, || {
                    Box::pin(async { Ok(token("alice-token", Some(3600))) })
                })
                .await
                .unwrap();
            let second = cache
                .get_or_exchange(&other, Budget::UNLIMITED, || {
                    Box::pin(async { Ok(token("other-token", Some(3600))) })
                })
                .await
                .unwrap();
            assert_eq!(first.access_token.expose(), "alice-token");
            assert_eq!(
                second.access_token == first.access_token,
                collides,
                "{keying:?}"
            );
        }
    }
}
