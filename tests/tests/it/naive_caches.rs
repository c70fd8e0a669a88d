//! The mutation check: the very same leak property, run against deliberately naive cache
//! keyings, must fail with a leak. If the property ever became vacuous (no concurrency,
//! no collisions, an oracle that accepts anything), these tests would fail.
//!
//! Each search starts from scratch (no persisted seeds), so it is the property's own
//! strategy that finds the collision every run. The original (unshrunk) failing cases
//! were saved as seeds in `proptest-regressions/leak_property.txt`, where the real cache
//! replays them before every run of the leak property.

use std::cell::Cell;

use keycard_core::delegation::cache::CacheKeying;
use proptest::test_runner::{Config, TestError, TestRunner};

use crate::support::scenario::{Scenario, run, scenario};

/// Upper bound on cases searched; a naive cache is usually caught within a few.
const CASES: u32 = 256;

/// Runs the leak property against `keying` and returns proptest's failure reason and
/// minimal counterexample; panics if no leak is found.
fn find_leak(keying: CacheKeying) -> (String, Scenario) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let runs = Cell::new(0u32);
    let first_failure = Cell::new(None);
    let result = runner.run(&scenario(), |s| {
        runs.set(runs.get() + 1);
        let verdict = run(keying, &s).map(drop);
        if verdict.is_err() && first_failure.get().is_none() {
            first_failure.set(Some(runs.get()));
        }
        verdict
    });
    match result {
        Err(TestError::Fail(reason, minimal)) => {
            let reason = reason.to_string();
            println!(
                "{keying:?}: leak found at case {} of at most {CASES}, shrunk in {} more runs\n\
                 {reason}\nminimal counterexample: {minimal:?}",
                first_failure.get().unwrap_or(0),
                runs.get() - first_failure.get().unwrap_or(0),
            );
            assert!(
                reason.contains("LEAK"),
                "{keying:?} failed, but not with a leak: {reason}"
            );
            (reason, minimal)
        }
        Err(TestError::Abort(why)) => panic!("{keying:?}: proptest aborted: {why}"),
        Ok(()) => panic!("the leak property found no leak in the naive {keying:?} cache"),
    }
}

/// Whether two users with a `sub` but different chains appear in the pool.
fn two_distinct_subjects(minimal: &Scenario) -> bool {
    minimal.users.iter().any(|a| {
        minimal
            .users
            .iter()
            .any(|b| a.subject.is_some() && b.subject.is_some() && a.chain() != b.chain())
    })
}

#[test]
fn resource_only_keying_leaks() {
    let (_, minimal) = find_leak(CacheKeying::ResourceOnly);
    // Any two users with a `sub` share the one token.
    assert!(two_distinct_subjects(&minimal), "{minimal:?}");
}

#[test]
fn sub_resource_string_keying_leaks() {
    let (_, minimal) = find_leak(CacheKeying::SubResourceString);
    // The upstream resource is fixed per gateway, so the collision that exists is the same
    // `sub` at another issuer, through another client or for another MCP server audience.
    let collides = minimal.users.iter().any(|a| {
        minimal.users.iter().any(|b| {
            a.subject.is_some()
                && a.subject == b.subject
                && (a.issuer != b.issuer || a.client_id != b.client_id || a.audience != b.audience)
        })
    });
    assert!(collides, "{minimal:?}");
}

#[test]
fn single_slot_keying_leaks() {
    let (_, minimal) = find_leak(CacheKeying::SingleSlot);
    assert!(two_distinct_subjects(&minimal), "{minimal:?}");
}

#[test]
fn keying_without_the_verified_audience_leaks() {
    let (_, minimal) = find_leak(CacheKeying::WithoutAudience);
    // The same user's token for the other MCP server resource got the cached one.
    let collides = minimal.users.iter().any(|a| {
        minimal.users.iter().any(|b| {
            a.subject.is_some()
                && (a.issuer, a.subject, a.client_id) == (b.issuer, b.subject, b.client_id)
                && a.audience != b.audience
        })
    });
    assert!(collides, "{minimal:?}");
}
