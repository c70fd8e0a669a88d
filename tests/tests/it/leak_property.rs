//! The leak property against the real (isolated) cache keying.

use keycard_core::delegation::cache::CacheKeying;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::support::scenario::{Op, Scenario, Task, User, run, scenario};
use crate::support::world::{ISSUER_A, ISSUER_B, RESOURCE_ID, WorldSpec};

/// Cases per run (each case is ≥ 8 concurrent tasks through one isolate); `PROPTEST_CASES`
/// overrides it for a soak run.
const CASES: u32 = 128;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proptest-regressions/leak_property.txt"
    ))));
    config
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary users and operations, interleaved by the zone's latency, through one
    /// shared `UpstreamAccess`: every answer belongs to its requester.
    #[test]
    fn no_token_crosses_between_users_in_a_shared_isolate(s in scenario()) {
        run(CacheKeying::Isolated, &s)?;
    }
}

/// Every adversarial identity at once, twice each, with overlapping exchanges: the run
/// really exercises exchanges, single flight and cache hits (the property is not
/// vacuous for the real cache either).
#[test]
fn every_collision_at_once_is_served_correctly() {
    let user = |issuer, subject, client_id| User {
        issuer,
        subject,
        client_id,
        audience: RESOURCE_ID,
    };
    let users = vec![
        user(ISSUER_A, Some("a::b"), "cursor"),
        user(ISSUER_B, Some("a::b"), "cursor"),
        user(ISSUER_A, Some("a::b"), "claude"),
        user(ISSUER_A, Some("a"), "b::cursor"),
        user(ISSUER_A, None, "cursor"),
    ];
    let tasks = (0..16)
        .map(|i| Task {
            start_delay: (i % 3) as u8,
            ops: vec![Op::Fetch(i), Op::Fetch(i + 1)],
        })
        .collect();
    let scenario = Scenario {
        users,
        tasks,
        world: WorldSpec {
            token_lifetime_secs: 3600,
            max_entries: 16,
            latency: vec![3, 0, 1, 4, 2],
        },
    };
    let subless = scenario
        .tasks
        .iter()
        .flat_map(|t| &t.ops)
        .filter(|op| matches!(op, Op::Fetch(u) if scenario.user(*u).subject.is_none()))
        .count();
    assert!(subless > 0);
    let stats = run(CacheKeying::Isolated, &scenario).unwrap();
    assert_eq!(stats.fetches, 32);
    assert_eq!(stats.ok, 32 - subless);
    // Four cacheable identities: four exchanges, everything else shared or cached.
    assert_eq!(stats.issued, 4);
    // Requests really overlapped (misses joined in-flight exchanges) and hit the cache.
    assert!(stats.cache_hits > 0 && stats.joined > 0, "{stats:?}");
}
