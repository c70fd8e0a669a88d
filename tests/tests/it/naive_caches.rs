//! The mutation check: the very same leak property, run against deliberately naive cache
//! keyings, must fail with a leak. If the property ever became vacuous (no concurrency,
//! no collisions, an oracle that accepts anything), these tests would fail.

use keycard_core::cache::CacheKeying;
use proptest::test_runner::{Config, FileFailurePersistence, TestError, TestRunner};

use crate::support::scenario::{Scenario, run, scenario};

/// Upper bound on cases searched; a naive cache is usually caught within a few.
const CASES: u32 = 256;

/// Runs the leak property against `keying` and returns proptest's failure reason and
/// minimal counterexample; panics if no leak is found.
fn find_leak(keying: CacheKeying, regressions: &'static str) -> (String, Scenario) {
    let config = Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    match runner.run(&scenario(), |s| run(keying, &s).map(drop)) {
        Err(TestError::Fail(reason, minimal)) => {
            let reason = reason.to_string();
            println!("{keying:?}: {reason}\nminimal counterexample: {minimal:#?}");
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

macro_rules! regressions {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/", $name)
    };
}

#[test]
fn resource_only_keying_leaks() {
    let (_, minimal) = find_leak(
        CacheKeying::ResourceOnly,
        regressions!("naive_resource_only.txt"),
    );
    // Any two users with a `sub` share the one token.
    assert!(minimal.users.iter().filter(|u| u.subject.is_some()).count() >= 2);
}

#[test]
fn sub_resource_string_keying_leaks() {
    let (_, minimal) = find_leak(
        CacheKeying::SubResourceString,
        regressions!("naive_sub_resource_string.txt"),
    );
    // The upstream resource is fixed per gateway, so the collision that exists is the same
    // `sub` at another issuer or through another client.
    let collides = minimal.users.iter().any(|a| {
        minimal.users.iter().any(|b| {
            a.subject.is_some()
                && a.subject == b.subject
                && (a.issuer != b.issuer || a.client_id != b.client_id)
        })
    });
    assert!(collides, "{minimal:#?}");
}

#[test]
fn single_slot_keying_leaks() {
    let (_, minimal) = find_leak(
        CacheKeying::SingleSlot,
        regressions!("naive_single_slot.txt"),
    );
    assert!(minimal.users.iter().filter(|u| u.subject.is_some()).count() >= 2);
}
