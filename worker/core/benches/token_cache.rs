//! The token cache's hot paths: a hit among many users, and a miss whose exchange is
//! instant (the cache's own overhead: single-flight bookkeeping, LRU insertion).
//!
//! `cargo bench -p keycard-core --features testing --bench token_cache`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt as _;
use keycard_core::SecretString;
use keycard_core::config::CacheConfig;
use keycard_core::delegation::cache::{CacheKey, TokenCache};
use keycard_core::delegation::exchange::{ExchangeError, UpstreamToken};
use keycard_core::outbound::Budget;
use keycard_core::ports::BoxFuture;
use keycard_core::ports::testing::{ManualClock, SharedManualClock};

const USERS: usize = 10_000;

fn key(i: usize) -> CacheKey {
    CacheKey::new(
        "https://zone.keycard.cloud",
        Some(format!("user-{i}")),
        "cursor",
        "https://mcp.example.com",
        "https://api.github.com",
        Vec::new(),
    )
}

fn exchange(i: usize) -> impl FnOnce() -> BoxFuture<'static, Result<UpstreamToken, ExchangeError>> {
    move || {
        Box::pin(async move {
            Ok(UpstreamToken {
                access_token: SecretString::new(format!("upstream-{i}")),
                token_type: "Bearer".into(),
                expires_in: Some(3600),
                scope: None,
                issued_token_type: None,
            })
        })
    }
}

fn cache(max_entries: usize) -> TokenCache {
    let clock = Arc::new(SharedManualClock(ManualClock::new(1_700_000_000_000)));
    let config = CacheConfig {
        max_entries,
        expiry_skew: Duration::from_secs(30),
        default_lifetime: Duration::from_secs(300),
        ..CacheConfig::default()
    };
    TokenCache::new(&config, clock)
}

fn bench(c: &mut Criterion) {
    let warm = cache(USERS);
    for i in 0..USERS {
        let _ = warm
            .get_or_exchange(&key(i), Budget::UNLIMITED, exchange(i))
            .now_or_never();
    }
    let keys: Vec<CacheKey> = (0..USERS).map(key).collect();
    let mut n = 0usize;
    c.bench_function("cache hit (10k users)", |b| {
        b.iter(|| {
            n = (n + 7919) % USERS;
            let token = warm
                .get_or_exchange(black_box(&keys[n]), Budget::UNLIMITED, exchange(n))
                .now_or_never();
            black_box(token)
        })
    });

    // Every lookup misses and evicts: 1,000 slots, a fresh subject each time.
    let cold = cache(1_000);
    let mut m = 0usize;
    c.bench_function("cache miss + insert + evict (instant exchange)", |b| {
        b.iter(|| {
            m += 1;
            let token = cold
                .get_or_exchange(&key(m), Budget::UNLIMITED, exchange(m))
                .now_or_never();
            black_box(token)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
