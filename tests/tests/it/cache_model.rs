//! A model-based (state-machine) test of `TokenCache` against a plain `HashMap`-and-list
//! model: arbitrary sequences of get-or-exchange (succeeding with various lifetimes, or
//! failing), invalidations (of the current or a stale token) and clock moves. After every
//! step the cache must agree with the model on the token returned, on whether the
//! exchange ran, on every counter, on expiry (lifetime minus the 30 s skew; default
//! lifetime 300 s) and on LRU eviction, and never hold more than `max_entries`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::executor::block_on;
use keycard_core::SecretString;
use keycard_core::config::CacheConfig;
use keycard_core::delegation::cache::{CacheKey, CacheStats, TokenCache};
use keycard_core::delegation::exchange::{ExchangeError, UpstreamToken};
use keycard_core::outbound::Budget;
use keycard_core::ports::testing::{ManualClock, SharedManualClock};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;

const SKEW_MS: u64 = 30_000;
const DEFAULT_LIFETIME_SECS: u64 = 300;
const RESOURCE: &str = "https://api.upstream.test";

/// Keys that a string-concatenating cache would confuse, plus a sub-less one.
fn keys() -> Vec<CacheKey> {
    let key = |iss: &str, sub: Option<&str>, client: &str, resource: &str, scopes: &[&str]| {
        CacheKey::new(
            iss,
            sub.map(str::to_owned),
            client,
            "https://mcp.example.test",
            resource,
            scopes.iter().map(|s| (*s).to_owned()),
        )
    };
    vec![
        key("https://a", Some("alice"), "cursor", RESOURCE, &[]),
        key("https://b", Some("alice"), "cursor", RESOURCE, &[]),
        key("https://a", Some("alice"), "claude", RESOURCE, &[]),
        key("https://a", Some("a::b"), "cursor", RESOURCE, &[]),
        key(
            "https://a",
            Some("a"),
            "cursor",
            "b::https://api.upstream.test",
            &[],
        ),
        key("https://a", Some(""), "cursor", RESOURCE, &[]),
        key("https://a", Some("alice"), "cursor", RESOURCE, &["repo"]),
        key("https://a", None, "cursor", RESOURCE, &[]),
    ]
}

#[derive(Debug, Clone)]
enum CacheOp {
    /// `get_or_exchange`; the exchange (if it runs) yields a token with this
    /// `expires_in`, or fails when `None`.
    Get {
        key: Index,
        exchange: Option<Option<u64>>,
    },
    /// `invalidate` with one of the tokens handed out so far (current or stale).
    Invalidate { key: Index, token: Index },
    /// Moves the clock.
    Advance(u64),
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    let lifetime = select(vec![
        None,
        Some(0),
        Some(10),
        Some(30),
        Some(31),
        Some(60),
        Some(3600),
    ]);
    prop_oneof![
        5 => (any::<Index>(), proptest::option::weighted(0.9, lifetime))
            .prop_map(|(key, exchange)| CacheOp::Get { key, exchange }),
        1 => (any::<Index>(), any::<Index>())
            .prop_map(|(key, token)| CacheOp::Invalidate { key, token }),
        2 => prop_oneof![
            // Exactly onto (and one ms around) the fresh-until instants of the lifetimes
            // above: 31 s → 1 s, 60 s → 30 s, default 300 s → 270 s, 3600 s → 3570 s.
            select(vec![
                1u64, 999, 1_000, 1_001, 29_999, 30_000, 30_001, 269_999, 270_000, 3_570_000,
            ]),
            0u64..=400_000,
        ]
        .prop_map(CacheOp::Advance),
    ]
}

/// The model: entries in LRU order (front = least recently used), counters, time.
#[derive(Debug, Default)]
struct Model {
    max_entries: usize,
    now: u64,
    /// (key, token, expires_at), least recently used first.
    entries: Vec<(CacheKey, String, u64)>,
    stats: CacheStats,
}

impl Model {
    fn position(&self, key: &CacheKey) -> Option<usize> {
        self.entries.iter().position(|(k, _, _)| k == key)
    }

    /// What `get_or_exchange` must do: `(result token, whether the exchange runs)`.
    fn get(
        &mut self,
        key: &CacheKey,
        exchange: Option<Option<u64>>,
        fresh: &str,
    ) -> (Option<String>, bool) {
        let exchanged = exchange.map(|_| fresh.to_owned());
        if key.subject.is_none() {
            self.stats.uncacheable += 1;
            self.stats.misses += 1;
            self.stats.exchanges += 1;
            return (exchanged, true);
        }
        if let Some(i) = self.position(key) {
            let entry = self.entries.remove(i);
            if entry.2 > self.now {
                self.stats.hits += 1;
                let token = entry.1.clone();
                self.entries.push(entry);
                return (Some(token), false);
            }
        }
        self.stats.misses += 1;
        self.stats.exchanges += 1;
        if let Some(expires_in) = exchange {
            let lifetime_ms = expires_in.unwrap_or(DEFAULT_LIFETIME_SECS) * 1000;
            if lifetime_ms > SKEW_MS {
                if self.entries.len() == self.max_entries {
                    self.entries.remove(0);
                    self.stats.evictions += 1;
                }
                self.entries.push((
                    key.clone(),
                    fresh.to_owned(),
                    self.now + lifetime_ms - SKEW_MS,
                ));
            }
        }
        (exchanged, true)
    }

    fn invalidate(&mut self, key: &CacheKey, token: &str) -> bool {
        if key.subject.is_none() {
            return false;
        }
        match self.position(key) {
            Some(i) if self.entries[i].1 == token => {
                self.entries.remove(i);
                self.stats.invalidations += 1;
                true
            }
            _ => false,
        }
    }
}

fn upstream_token(value: &str, expires_in: Option<u64>) -> UpstreamToken {
    UpstreamToken {
        access_token: SecretString::from(value.to_owned()),
        token_type: "Bearer".into(),
        expires_in,
        scope: None,
        issued_token_type: None,
    }
}

fn check_sequence(max_entries: usize, ops: &[CacheOp]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(1_700_000_000_000);
    let config = CacheConfig {
        max_entries,
        expiry_skew: Duration::from_millis(SKEW_MS),
        default_lifetime: Duration::from_secs(DEFAULT_LIFETIME_SECS),
        ..CacheConfig::default()
    };
    let cache = TokenCache::new(&config, Arc::new(SharedManualClock(clock.clone())));
    let mut model = Model {
        max_entries,
        ..Model::default()
    };
    let keys = keys();
    let mut handed_out: Vec<String> = Vec::new();
    let mut per_key: HashMap<CacheKey, Vec<String>> = HashMap::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            CacheOp::Get { key, exchange } => {
                let key = key.get(&keys);
                let fresh = format!("t{step}");
                let ran = Arc::new(AtomicBool::new(false));
                let flag = ran.clone();
                let (value, expires) = (fresh.clone(), *exchange);
                let got = block_on(cache.get_or_exchange(key, Budget::UNLIMITED, move || {
                    flag.store(true, Ordering::SeqCst);
                    Box::pin(async move {
                        match expires {
                            Some(expires_in) => Ok(upstream_token(&value, expires_in)),
                            None => Err(ExchangeError::Unavailable { status: 503 }),
                        }
                    })
                }));
                let got = got.ok().map(|t| t.access_token.expose().clone());
                let (want, want_ran) = model.get(key, *exchange, &fresh);
                prop_assert_eq!(&got, &want, "step {}: {:?} on {:?}", step, op, key);
                prop_assert_eq!(ran.load(Ordering::SeqCst), want_ran, "step {}", step);
                if let Some(token) = got {
                    handed_out.push(token.clone());
                    per_key.entry(key.clone()).or_default().push(token);
                }
            }
            CacheOp::Invalidate { key, token } => {
                let key = key.get(&keys);
                let mut candidates = per_key.get(key).cloned().unwrap_or_default();
                candidates.extend(handed_out.iter().cloned());
                let value = if candidates.is_empty() {
                    "never-issued".to_owned()
                } else {
                    token.get(&candidates).clone()
                };
                let dropped = cache.invalidate(key, &upstream_token(&value, None));
                prop_assert_eq!(dropped, model.invalidate(key, &value), "step {}", step);
            }
            CacheOp::Advance(ms) => {
                clock.advance(Duration::from_millis(*ms));
                model.now += ms;
            }
        }
        model.stats.entries = model.entries.len();
        prop_assert_eq!(cache.stats(), model.stats, "step {}: {:?}", step, op);
        prop_assert!(cache.len() <= max_entries);
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    // 256 sequences of up to 48 steps; `PROPTEST_CASES` overrides it for a soak run.
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proptest-regressions/cache_model.txt"
    ))));
    config
}

proptest! {
    #![proptest_config(config())]

    /// The cache behaves exactly like the model, step by step.
    #[test]
    fn token_cache_matches_its_model(
        max_entries in 1usize..=4,
        ops in proptest::collection::vec(cache_op(), 1..=48),
    ) {
        check_sequence(max_entries, &ops)?;
    }
}

/// The model test can fail: a cache whose bound is one larger than the model's is caught.
#[test]
fn the_model_notices_a_wrong_bound() {
    // A model that believes the bound is 1 while the cache holds 2 entries.
    let clock = ManualClock::new(0);
    let config = CacheConfig {
        max_entries: 2,
        ..CacheConfig::default()
    };
    let cache = TokenCache::new(&config, Arc::new(SharedManualClock(clock)));
    let mut model = Model {
        max_entries: 1,
        ..Model::default()
    };
    let keys = keys();
    let mut disagreed = false;
    for (step, key) in [0usize, 1, 0].into_iter().enumerate() {
        let fresh = format!("t{step}");
        let value = fresh.clone();
        let got = block_on(
            cache.get_or_exchange(&keys[key], Budget::UNLIMITED, move || {
                Box::pin(async move { Ok(upstream_token(&value, Some(3600))) })
            }),
        )
        .map(|t| t.access_token.expose().clone())
        .ok();
        disagreed |= got != model.get(&keys[key], Some(Some(3600)), &fresh).0;
    }
    assert!(disagreed);
}
