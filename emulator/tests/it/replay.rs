//! `emulator replay` end to end: in-process, naive caches, and target mode over HTTP.

use emulator::cli::ServeArgs;
#[cfg(feature = "naive-cache-demo")]
use emulator::replay::NaiveCache;
use emulator::replay::{ReplayArgs, run};
use emulator::settings::KeycardArgs;

use crate::helpers::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_replay_has_no_leaks_and_uses_the_cache() {
    let args = ReplayArgs {
        users: 200,
        requests: 5_000,
        concurrency: 128,
        isolates: 4,
        seed: 7,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, 5_000);
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.unexpected_successes, 0, "{s:?}");
    assert!(s.exchanges > 0 && s.cache_hits > 0, "{s:?}");
    assert_eq!(s.zone_exchanges, Some(s.exchanges), "{s:?}");
    assert!(s.subjects > 200, "{s:?}");
    // every non-success is a refusal that was due (no sub, bad token, empty sub, ...)
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    assert!(s.errors_by_kind.get("no_subject").copied().unwrap_or(0) > 0);
    assert!(s.errors_by_kind.get("bad_token").copied().unwrap_or(0) > 0);
}

/// Only `profile_resource`: `resources/read` of a delegated resource.
fn resource_reads() -> emulator::replay::generate::Mix {
    "profile_resource=1".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_replay_of_a_delegated_resource_has_no_leaks() {
    let args = ReplayArgs {
        users: 200,
        requests: 3_000,
        concurrency: 128,
        isolates: 4,
        seed: 9,
        mix: resource_reads(),
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, 3_000);
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.unexpected_successes, 0, "{s:?}");
    // Every read that succeeded carried an upstream profile the oracle judged (its
    // identity and token id): exchanges happened and the cache served repeats.
    assert!(s.ok > 2_500, "{s:?}");
    assert!(s.exchanges > 200 && s.cache_hits > 1_000, "{s:?}");
    assert_eq!(s.zone_exchanges, Some(s.exchanges), "{s:?}");
    // Refused delegations (JSON-RPC errors for a read) were all due.
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    assert!(s.errors_by_kind.get("no_subject").copied().unwrap_or(0) > 0);
}

#[cfg(feature = "naive-cache-demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_naive_cache_behind_a_delegated_resource_is_caught() {
    let args = ReplayArgs {
        users: 40,
        requests: 1_500,
        concurrency: 64,
        isolates: 2,
        seed: 3,
        mix: resource_reads(),
        naive_cache: Some(NaiveCache::SingleSlot),
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    assert!(outcome.summary.leaks > 0, "{:?}", outcome.summary);
    assert!(
        outcome
            .leaks
            .iter()
            .all(|l| l.op == emulator::replay::trace::Op::ProfileResource),
        "{:?}",
        outcome.leaks
    );
}

#[cfg(feature = "naive-cache-demo")]
async fn naive(kind: NaiveCache) -> u64 {
    let args = ReplayArgs {
        users: 40,
        requests: 1_500,
        concurrency: 64,
        isolates: 2,
        seed: 3,
        naive_cache: Some(kind),
        no_progress: true,
        ..ReplayArgs::default()
    };
    run(&args).await.unwrap().summary.leaks
}

#[cfg(feature = "naive-cache-demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_naive_cache_is_caught_leaking() {
    for kind in [
        NaiveCache::ResourceOnly,
        NaiveCache::SubResourceString,
        NaiveCache::SingleSlot,
    ] {
        let leaks = naive(kind).await;
        assert!(leaks > 0, "{kind:?} was not caught");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_mode_replays_over_http_against_a_listening_emulator() {
    let zone_port = free_port();
    let secondary_port = free_port();
    let zone = format!("http://127.0.0.1:{zone_port}");
    let args = ServeArgs {
        port: Some(0),
        keycard: KeycardArgs {
            issuer: Some(zone.clone()),
            extra_issuers: Some(format!("http://127.0.0.1:{secondary_port}")),
            resource_url: Some(format!("{zone}/upstream/github")),
            client_id: Some("mcp-worker".into()),
            client_secret: Some("mcp-worker-secret".into()),
            leeway_secs: Some(1),
            ..KeycardArgs::default()
        },
        isolates: Some(2),
        ..ServeArgs::default()
    };
    let server = emulator::serve::start_with_env(&args, Vec::new())
        .await
        .unwrap();
    assert!(server.zone.is_none());
    let out = std::env::temp_dir().join(format!("emu-target-{}.jsonl", std::process::id()));
    let replay = ReplayArgs {
        users: 30,
        requests: 600,
        concurrency: 16,
        target: Some(server.origin.clone()),
        zone_port,
        secondary_zone_port: secondary_port,
        leeway_secs: Some(1),
        per_request_out: Some(out.clone()),
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&replay).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, 600);
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert!(s.exchanges > 0 && s.cache_hits > 0, "{s:?}");
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    assert_eq!(s.mode, server.origin);
    // `emulator serve` offers sessions: every caller used its own, and every
    // cross-session attempt (another identity's session id) was refused.
    let sessions = &s.sessions;
    assert_eq!(sessions.mode, "on", "{sessions:?}");
    assert_eq!(sessions.not_opened, 0, "{sessions:?}");
    assert!(sessions.cross_session_refused > 0, "{sessions:?}");
    assert_eq!(
        sessions.cross_session_refused + sessions.cross_session_token_expired,
        sessions.cross_session_attempts,
        "{sessions:?}"
    );
    assert_eq!(sessions.cross_session_accepted, 0, "{sessions:?}");
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 600);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(
        first.get("id").is_some() && first.get("status").is_some(),
        "{first}"
    );
    std::fs::remove_file(&out).unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_trace_file_replays_clean() {
    let trace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/traces/adversarial-small.jsonl");
    let args = ReplayArgs {
        trace: Some(trace),
        isolates: 2,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, 400);
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert!(s.exchanges > 0, "{s:?}");
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_mode_with_an_external_zone() {
    use emulator::replay::trace::{Op, Principal, Trace, TraceRequest, ZoneRef};
    // The emulator listens first (its origin is the zone's MCP resource).
    let zone_port = free_port();
    let zone_url = format!("http://127.0.0.1:{zone_port}");
    let args = ServeArgs {
        port: Some(0),
        keycard: KeycardArgs {
            issuer: Some(zone_url.clone()),
            resource_url: Some(format!("{zone_url}/upstream/github")),
            client_id: Some("mcp-worker".into()),
            client_secret: Some("mcp-worker-secret".into()),
            ..KeycardArgs::default()
        },
        ..ServeArgs::default()
    };
    let server = emulator::serve::start_with_env(&args, Vec::new())
        .await
        .unwrap();
    let zone = mock_keycard::MockKeycard::start_on(
        mock_keycard::ZoneConfig::default().with_mcp_resource(&server.origin),
        ([127, 0, 0, 1], zone_port).into(),
    )
    .await
    .unwrap();
    let principal = |id: u32, sub: Option<&str>| Principal {
        id,
        zone: ZoneRef::Primary,
        sub: sub.map(str::to_owned),
        client_id: None,
        lifetime_secs: None,
        revoke_at: None,
        tag: String::new(),
    };
    let trace = Trace {
        principals: vec![
            principal(0, Some("alice")),
            principal(1, Some("bob")),
            principal(2, None),
        ],
        requests: (0..60)
            .map(|id| TraceRequest {
                id,
                principal: (id % 3) as u32,
                op: if id % 2 == 0 {
                    Op::GithubUser
                } else {
                    Op::Whoami
                },
            })
            .collect(),
    };
    let file = std::env::temp_dir().join(format!("emu-ext-{}.jsonl", std::process::id()));
    trace.write_jsonl(&file).unwrap();
    let replay = ReplayArgs {
        trace: Some(file.clone()),
        target: Some(server.origin.clone()),
        zone_url: Some(zone_url),
        concurrency: 8,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&replay).await.unwrap();
    std::fs::remove_file(&file).unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, 60);
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert!(s.exchanges >= 2 && s.cache_hits > 0, "{s:?}");
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    assert_eq!(s.errors_by_kind.get("no_subject"), Some(&10), "{s:?}");
    zone.shutdown().await;
    server.shutdown().await;
}

/// The memory-bound mode, shortened (the 1,000,000-subject run is in docs/performance.md):
/// every request a new subject, tokens minted per
/// request (ES256), small bounds so the cache evicts, the oracle's window rolls over and
/// the zone's audit log wraps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_subjects_keep_the_cache_at_its_maximum_without_leaks() {
    const REQUESTS: u64 = 4_000;
    const MAX: u64 = 200;
    const ISOLATES: usize = 2;
    let args = ReplayArgs {
        requests: REQUESTS,
        fresh_subjects: true,
        isolates: ISOLATES,
        cache_max_entries: Some(MAX),
        oracle_window: 500,
        audit_capacity: Some(1_000),
        rss_every: Some(1_000),
        jitter_ms: 0,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.requests, REQUESTS);
    assert_eq!(s.subjects, REQUESTS, "{s:?}");
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.unexpected_successes, 0, "{s:?}");
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    // every exchange was a new user's, so nothing was ever served from the cache ...
    assert_eq!(s.cache_hits, 0, "{s:?}");
    let cache = s.cache.as_ref().expect("in-process cache stats");
    assert_eq!(cache.exchanges, s.exchanges, "{s:?}");
    assert!(s.exchanges > 2 * MAX * ISOLATES as u64, "{s:?}");
    // ... and the caches sit at their maximum, having evicted the rest.
    assert_eq!(s.cache_len, Some(MAX * ISOLATES as u64), "{s:?}");
    assert_eq!(
        cache.evictions,
        s.exchanges - MAX * ISOLATES as u64,
        "{s:?}"
    );
    // the zone's bounded audit log wrapped, so its count is not reported
    assert_eq!(s.zone_exchanges, None, "{s:?}");
    assert_eq!(s.rss_samples_mb.len(), 4, "{s:?}");
    assert!(s.rss_samples_mb.iter().all(|mb| *mb > 0.0), "{s:?}");
}

#[tokio::test]
async fn fresh_subjects_refuse_what_needs_tokens_up_front() {
    use emulator::replay::ReplayError;
    use emulator::replay::callers::SubjectAlg;
    use emulator::replay::faults::FaultKind;
    let rotate = ReplayArgs {
        fresh_subjects: true,
        fault: vec![FaultKind::RotateMidRun],
        ..ReplayArgs::default()
    };
    assert!(matches!(
        run(&rotate).await,
        Err(ReplayError::RotateNeedsUpFrontTokens)
    ));
    let remote_es256 = ReplayArgs {
        target: Some("http://127.0.0.1:9".into()),
        zone_url: Some("http://127.0.0.1:9".into()),
        subject_alg: Some(SubjectAlg::Es256),
        ..ReplayArgs::default()
    };
    assert!(matches!(
        run(&remote_es256).await,
        Err(ReplayError::Es256NeedsEmbeddedZones)
    ));
    assert_eq!(ReplayArgs::default().subject_alg(), SubjectAlg::Rs256);
    let fresh = ReplayArgs {
        fresh_subjects: true,
        ..ReplayArgs::default()
    };
    assert_eq!(fresh.subject_alg(), SubjectAlg::Es256);
}

/// Per-request minting does not blind the oracle: a naive cache shared by all users is
/// caught at once when every request is a new subject.
#[cfg(feature = "naive-cache-demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_subjects_catch_a_naive_cache() {
    let args = ReplayArgs {
        requests: 400,
        fresh_subjects: true,
        isolates: 1,
        naive_cache: Some(NaiveCache::ResourceOnly),
        no_progress: true,
        ..ReplayArgs::default()
    };
    let s = run(&args).await.unwrap().summary;
    assert!(s.leaks > 0, "{s:?}");
}

/// Sessions on (the default in-process): every caller opens its own session first, all
/// isolates share one store, and every request that names another identity's session
/// is refused with 404 and the body of a session that never existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_replay_with_sessions_has_no_leaks_and_refuses_every_cross_session_attempt() {
    let args = ReplayArgs {
        users: 40,
        requests: 1_500,
        concurrency: 64,
        isolates: 3,
        seed: 5,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.unexpected_successes, 0, "{s:?}");
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    let sessions = &s.sessions;
    assert_eq!(sessions.mode, "on", "{sessions:?}");
    assert_eq!(sessions.not_opened, 0, "{sessions:?}");
    assert!(sessions.opened > 40, "{sessions:?}");
    assert!(sessions.cross_session_attempts > 30, "{sessions:?}");
    // Refused, or (an `expiring` requester late in a slow run) its own token expired
    // before any session lookup.
    assert_eq!(
        sessions.cross_session_refused + sessions.cross_session_token_expired,
        sessions.cross_session_attempts,
        "{sessions:?}"
    );
    assert!(sessions.cross_session_refused > 30, "{sessions:?}");
    assert_eq!(sessions.cross_session_accepted, 0, "{sessions:?}");
    assert_eq!(sessions.cross_session_stateless, 0, "{sessions:?}");
    assert_eq!(
        sessions.requests_in_session + sessions.cross_session_attempts,
        s.requests,
        "{sessions:?}"
    );
    // Every owner ended its session, except the 2 `expiring` principals when their
    // 3-second tokens were gone by the end (DELETE is authenticated first: 401).
    assert!(sessions.deleted + 2 >= sessions.opened, "{sessions:?}");
    assert_eq!(sessions.deleted_refused, 16, "{sessions:?}");
}

/// Alice opens a session; bob's requests name it with his own token: refused, every
/// time — and, with `--sessions off`, the same trace runs statelessly (the attempts are
/// plain `whoami` calls then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_by_alice_and_used_with_bobs_token_is_refused() {
    use emulator::replay::SessionMode;
    use emulator::replay::trace::{Op, Principal, Trace, TraceRequest, ZoneRef};
    let principal = |id: u32, sub: &str| Principal {
        id,
        zone: ZoneRef::Primary,
        sub: Some(sub.to_owned()),
        client_id: None,
        lifetime_secs: None,
        revoke_at: None,
        tag: String::new(),
    };
    let trace = Trace {
        principals: vec![principal(0, "alice"), principal(1, "bob")],
        requests: (0..40)
            .map(|id| TraceRequest {
                id,
                principal: (id % 2) as u32,
                op: if id % 4 == 1 {
                    Op::CrossSession
                } else {
                    Op::Whoami
                },
            })
            .collect(),
    };
    let file = std::env::temp_dir().join(format!("emu-alice-bob-{}.jsonl", std::process::id()));
    trace.write_jsonl(&file).unwrap();
    let args = ReplayArgs {
        trace: Some(file.clone()),
        isolates: 2,
        concurrency: 4,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.sessions.opened, 2, "{:?}", s.sessions);
    // bob (principal 1) sent requests 1, 5, 9, ... with alice's session id
    assert_eq!(s.sessions.cross_session_attempts, 10, "{:?}", s.sessions);
    assert_eq!(s.sessions.cross_session_refused, 10, "{:?}", s.sessions);
    assert_eq!(s.errors_by_kind.get("cross_session_refused"), Some(&10));
    assert_eq!(s.ok, 30, "{s:?}");

    let stateless = ReplayArgs {
        sessions: SessionMode::Off,
        ..args
    };
    let outcome = run(&stateless).await.unwrap();
    std::fs::remove_file(&file).unwrap();
    let s = &outcome.summary;
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.sessions.mode, "off");
    assert_eq!(s.sessions.cross_session_attempts, 0);
    assert_eq!(s.sessions.cross_session_stateless, 10);
    assert_eq!(s.ok, 40, "{s:?}");
}

/// Mutation test of the oracle: sessions whose owner is not checked (a test-only knob
/// of the core) are caught — every cross-session attempt is accepted and reported as
/// a leak naming both identities.
#[cfg(feature = "naive-cache-demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_the_owner_check_are_caught_leaking() {
    let args = ReplayArgs {
        users: 40,
        requests: 1_500,
        concurrency: 64,
        isolates: 3,
        seed: 5,
        naive_sessions: true,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&args).await.unwrap();
    let s = &outcome.summary;
    assert!(s.naive_sessions);
    let sessions = &s.sessions;
    assert!(sessions.cross_session_accepted > 30, "{sessions:?}");
    assert_eq!(sessions.cross_session_refused, 0, "{sessions:?}");
    assert_eq!(
        sessions.cross_session_accepted + sessions.cross_session_token_expired,
        sessions.cross_session_attempts,
        "{sessions:?}"
    );
    assert_eq!(s.leaks, sessions.cross_session_accepted, "{s:?}");
    assert!(!outcome.leaks.is_empty());
    for leak in &outcome.leaks {
        assert_eq!(
            leak.op,
            emulator::replay::trace::Op::CrossSession,
            "{leak:?}"
        );
        assert!(
            leak.seen
                .as_ref()
                .is_some_and(|seen| *seen != leak.requester),
            "{leak:?}"
        );
    }
}

/// A target without sessions (`KEYCARD_SESSIONS=off`, as the wasm Worker is today):
/// `--sessions auto` replays it statelessly and says so; `--sessions on` refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_sessions_runs_stateless_and_on_requires_them() {
    use emulator::replay::{ReplayError, SessionMode};
    let zone_port = free_port();
    let secondary_port = free_port();
    let zone = format!("http://127.0.0.1:{zone_port}");
    let args = ServeArgs {
        port: Some(0),
        keycard: KeycardArgs {
            issuer: Some(zone.clone()),
            extra_issuers: Some(format!("http://127.0.0.1:{secondary_port}")),
            resource_url: Some(format!("{zone}/upstream/github")),
            client_id: Some("mcp-worker".into()),
            client_secret: Some("mcp-worker-secret".into()),
            leeway_secs: Some(1),
            ..KeycardArgs::default()
        },
        ..ServeArgs::default()
    };
    let server =
        emulator::serve::start_with_env(&args, [("KEYCARD_SESSIONS".to_owned(), "off".to_owned())])
            .await
            .unwrap();
    let replay = ReplayArgs {
        users: 20,
        requests: 300,
        concurrency: 16,
        target: Some(server.origin.clone()),
        zone_port,
        secondary_zone_port: secondary_port,
        leeway_secs: Some(1),
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&replay).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.leaks, 0, "{:?}", outcome.leaks);
    assert_eq!(s.errors, s.expected_errors, "{:?}", s.errors_by_kind);
    assert_eq!(s.sessions.mode, "not_offered", "{:?}", s.sessions);
    assert_eq!(s.sessions.cross_session_attempts, 0);
    assert!(s.sessions.cross_session_stateless > 0, "{:?}", s.sessions);
    let required = ReplayArgs {
        sessions: SessionMode::On,
        ..replay
    };
    assert!(matches!(
        run(&required).await,
        Err(ReplayError::Driver(
            emulator::replay::driver::DriverError::SessionsNotOffered
        ))
    ));
    server.shutdown().await;
}
