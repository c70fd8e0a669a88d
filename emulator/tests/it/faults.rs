//! Fault runs (`--fault <kind>`) with the leak oracle on, shortened: 50 users, 2,000
//! requests per kind. Every run: no leak, no error answer carrying another user's data
//! or any JWT, no failure that outlives its fault, clean error kinds only.

use emulator::isolate::RoutePolicy;
use emulator::replay::faults::FaultKind;
use emulator::replay::{ReplayArgs, run};

/// Error kinds that would mean the fault escaped as something unclean (a crash, a raw
/// 500, an unparseable answer, a hang).
const UNCLEAN: [&str; 6] = [
    "transport",
    "http_500",
    "unparseable",
    "jsonrpc_error",
    "http_other",
    "tool_error",
];

async fn fault_run(kind: FaultKind) -> emulator::replay::ReplayOutcome {
    let args = ReplayArgs {
        users: 50,
        requests: 2_000,
        concurrency: 64,
        isolates: 2,
        route: RoutePolicy::Sticky,
        seed: 11,
        fault: vec![kind],
        fault_probability: 0.5,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    let f = s.faults.clone().unwrap();
    assert_eq!(f.kinds, vec![kind]);
    assert_eq!(s.requests, 2_000, "{kind}");
    assert_eq!(s.leaks, 0, "{kind}: {:?}", outcome.leaks);
    assert_eq!(f.foreign_data, 0, "{kind}");
    assert_eq!(f.stale_failures, 0, "{kind}: {:?}", s.errors_by_kind);
    assert_eq!(f.reused_after_failure, 0, "{kind}: {f:?}");
    assert_eq!(s.unexpected_successes, 0, "{kind}");
    for unclean in UNCLEAN {
        assert!(
            !s.errors_by_kind.contains_key(unclean),
            "{kind}: {unclean} in {:?}",
            s.errors_by_kind
        );
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_failures_are_reported_never_cached_and_recovered_from() {
    for kind in [
        FaultKind::Sts500,
        FaultKind::Sts429,
        FaultKind::StsMalformed,
        FaultKind::StsDrop,
        FaultKind::StsSlow,
    ] {
        let outcome = fault_run(kind).await;
        let s = &outcome.summary;
        let f = s.faults.clone().unwrap();
        let failed = s
            .errors_by_kind
            .get("sts_unavailable")
            .copied()
            .unwrap_or(0);
        assert!(
            failed > 0,
            "{kind}: the fault never bit: {:?}",
            s.errors_by_kind
        );
        assert!(f.requests_under_fault == 1_000, "{kind}: {f:?}");
        // users whose exchange failed later got a token from a fresh exchange
        assert!(f.fresh_after_failure > 0, "{kind}: {f:?}");
        // every failed exchange was retried: the zone issued what the users received
        assert_eq!(s.zone_exchanges, Some(s.exchanges), "{kind}: {s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_down_keeps_grace_keys_then_refuses_cleanly() {
    let outcome = fault_run(FaultKind::JwksDown).await;
    let s = &outcome.summary;
    // past the grace period: clean 503 (keys unavailable), nothing else
    let refused = s.errors_by_kind.get("http_503").copied().unwrap_or(0)
        + s.errors_by_kind.get("http_401").copied().unwrap_or(0);
    assert!(refused > 0, "{:?}", s.errors_by_kind);
    // requests between the fault and the end of the grace period still succeeded
    assert!(s.ok > 1_000, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_mid_run_is_picked_up() {
    let outcome = fault_run(FaultKind::RotateMidRun).await;
    let s = &outcome.summary;
    // after the rotation every primary-zone caller sends a token with the new kid;
    // stale_failures == 0 (checked) means the core refetched the JWKS and accepted them
    assert!(
        !s.errors_by_kind.contains_key("http_401"),
        "{:?}",
        s.errors_by_kind
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_401_drops_the_entry_and_retries_once() {
    let outcome = fault_run(FaultKind::Upstream401).await;
    let s = &outcome.summary;
    let c = s.cache.unwrap();
    assert!(c.invalidations > 0, "{c:?}");
    // each invalidation is followed by a fresh exchange
    assert!(c.exchanges >= c.invalidations, "{c:?}");
    // a 401 survives only when the retry got one too (p = 0.5 → about a quarter)
    let final_401 = s.errors_by_kind.get("upstream_401").copied().unwrap_or(0);
    assert!(
        final_401 > 0 && final_401 < c.invalidations,
        "{final_401} {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_is_reported_and_keeps_the_cache() {
    let outcome = fault_run(FaultKind::Upstream5xx).await;
    let s = &outcome.summary;
    let c = s.cache.unwrap();
    assert!(s.errors_by_kind.get("upstream_5xx").copied().unwrap_or(0) > 0);
    assert_eq!(c.invalidations, 0, "{c:?}");
}
