//! Tallies and the end-of-run report: a human summary (stderr) and one JSON line (the
//! last line of stdout).

use std::collections::BTreeMap;

use serde::Serialize;

use super::histogram::Histogram;
use super::oracle::{Leak, Verdict};

/// Leaks printed in full in the human summary.
const LEAKS_SHOWN: usize = 20;

/// Running totals, fed one verdict at a time.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latencies.
    pub latency: Histogram,
    /// Requests judged.
    pub requests: u64,
    /// Successes.
    pub ok: u64,
    /// `github_user` and `profile_resource` successes served with an upstream token seen
    /// before.
    pub cache_hits: u64,
    /// Non-successes by kind.
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Refusals that were due.
    pub expected_errors: u64,
    /// Successes where a refusal was due, by reason.
    pub unexpected_successes: BTreeMap<&'static str, u64>,
    /// Leaks seen (count).
    pub leaks: u64,
    /// The first leaks, in full.
    pub leak_samples: Vec<Leak>,
    /// Distinct upstream tokens received by requesters (exchanges seen from outside).
    pub distinct_tokens: u64,
    /// A fault run's findings.
    pub fault: Option<super::faults::FaultReport>,
    /// Resident memory samples (MiB), one per `rss_every` requests.
    pub rss_samples_mb: Vec<f64>,
    /// How the run used sessions.
    pub sessions: SessionReport,
}

/// How a run used sessions (`Mcp-Session-Id`) and how the cross-session attempts went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionReport {
    /// `on` (callers initialized and sent their requests in their sessions), `off`
    /// (`--sessions off`, or `--fresh-subjects`) or `not_offered` (every `initialize`
    /// was answered without `Mcp-Session-Id`: the callers ran stateless).
    pub mode: &'static str,
    /// Callers whose `initialize` opened a session.
    pub opened: u64,
    /// Callers that sent `initialize` but got no session (when others got one).
    pub not_opened: u64,
    /// Requests sent in the caller's own session.
    pub requests_in_session: u64,
    /// `cross_session` requests sent: one caller's token with another identity's session.
    pub cross_session_attempts: u64,
    /// … refused with 404 and the body of a session that never existed.
    pub cross_session_refused: u64,
    /// … accepted (each one is also counted as a leak).
    pub cross_session_accepted: u64,
    /// … refused with 401 because the requester's own token had expired (checked before
    /// any session lookup, so the session was never reached).
    pub cross_session_token_expired: u64,
    /// … answered otherwise (a 404 with another body than an unknown session's is a
    /// leak and counted here too).
    pub cross_session_other: u64,
    /// `cross_session` requests sent as a plain `whoami`: no session to borrow.
    pub cross_session_stateless: u64,
    /// Sessions ended with `DELETE` at the end of the run (204).
    pub deleted: u64,
    /// Requests in a deleted session refused with 404 afterwards (one per deleted
    /// session, sampled).
    pub deleted_refused: u64,
}

impl SessionReport {
    /// One human line.
    pub fn human(&self) -> String {
        match self.mode {
            "on" => format!(
                "  sessions: on — {} opened ({} without), {} requests in their own session; cross-session attempts {}, refused {} (404, the unknown-session body), ACCEPTED {}, requester's token expired first {}, other {}; {} deleted, {} refused after DELETE\n",
                self.opened,
                self.not_opened,
                self.requests_in_session,
                self.cross_session_attempts,
                self.cross_session_refused,
                self.cross_session_accepted,
                self.cross_session_token_expired,
                self.cross_session_other,
                self.deleted,
                self.deleted_refused,
            ),
            "not_offered" => format!(
                "  sessions: not offered by the target (initialize answered without Mcp-Session-Id): callers ran stateless; 0 cross-session attempts ({} cross_session requests sent as plain whoami)\n",
                self.cross_session_stateless
            ),
            _ => format!(
                "  sessions: off; 0 cross-session attempts ({} cross_session requests sent as plain whoami)\n",
                self.cross_session_stateless
            ),
        }
    }
}

impl Tally {
    /// Records one request's verdict and latency.
    pub fn record(&mut self, verdict: &Verdict, latency_us: u64) {
        self.requests += 1;
        self.latency.record(latency_us);
        match verdict {
            Verdict::Ok { reused_token, .. } => {
                self.ok += 1;
                if *reused_token == Some(true) {
                    self.cache_hits += 1;
                }
            }
            Verdict::Error { kind, expected } => {
                *self.errors_by_kind.entry(kind).or_default() += 1;
                if *expected {
                    self.expected_errors += 1;
                }
            }
            Verdict::UnexpectedSuccess { reason } => {
                *self.unexpected_successes.entry(reason).or_default() += 1;
            }
            Verdict::Leak(leak) => {
                self.leaks += 1;
                if self.leak_samples.len() < LEAKS_SHOWN {
                    self.leak_samples.push((**leak).clone());
                }
            }
        }
    }

    /// Total non-successes.
    pub fn errors(&self) -> u64 {
        self.errors_by_kind.values().sum()
    }
}

/// The machine-readable summary (the last stdout line).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Requests sent and judged.
    pub requests: u64,
    /// Distinct (issuer, subject) pairs among the principals that sent requests.
    pub subjects: u64,
    /// Distinct upstream tokens observed (token exchanges whose result reached a user).
    pub exchanges: u64,
    /// `github_user` and `profile_resource` successes served with an already-seen upstream
    /// token.
    pub cache_hits: u64,
    /// Token-exchange issuances recorded by the zones' audit logs (in-process zones only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_exchanges: Option<u64>,
    /// Successes.
    pub ok: u64,
    /// Non-successes (expected and unexpected).
    pub errors: u64,
    /// Non-successes by kind.
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Non-successes that were due (no sub, revoked consent, expired/broken token).
    pub expected_errors: u64,
    /// Successes where a refusal was due.
    pub unexpected_successes: u64,
    /// Answers that belonged to someone else.
    pub leaks: u64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Requests per second over the whole run.
    pub rps: f64,
    /// Wall time of the request phase.
    pub wall_s: f64,
    /// Wall time spent minting tokens before the run.
    pub setup_s: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// Isolates (in-process) or 0 (target mode).
    pub isolates: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// `in-process` or the target URL.
    pub mode: String,
    /// The naive cache swapped in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naive_cache: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Token-cache entries held at the end, summed over the isolates (in-process only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_len: Option<u64>,
    /// The isolates' token-cache counters, summed (in-process only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSummary>,
    /// A fault run's findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<super::faults::FaultReport>,
    /// Resident memory (MiB) sampled during the run (`--rss-every`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rss_samples_mb: Vec<f64>,
    /// How the run used sessions.
    pub sessions: SessionReport,
    /// Whether the in-process sessions skipped their owner check (`--naive-sessions`,
    /// demonstration only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub naive_sessions: bool,
}

/// The isolates' token-cache counters, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheSummary {
    /// Entries held.
    pub entries: u64,
    /// Exchanges started.
    pub exchanges: u64,
    /// Entries evicted by the size bound.
    pub evictions: u64,
    /// Entries dropped after the upstream answered 401.
    pub invalidations: u64,
}

impl Summary {
    /// One line for `--fault-suite`: the fault, errors by kind, leaks and the recovery
    /// checks.
    pub fn fault_line(&self, kind: &str) -> String {
        let kinds: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let f = self.faults.clone().unwrap_or_default();
        let c = self.cache.unwrap_or_default();
        format!(
            "fault={kind} requests={} ok={} errors={} [{}] leaks={} foreign_data={} stale_failures={} fresh_after_failure={} reused_after_failure={} under_fault={} cache_exchanges={} invalidations={} wall_s={:.2}",
            self.requests,
            self.ok,
            self.errors,
            kinds.join(" "),
            self.leaks,
            f.foreign_data,
            f.stale_failures,
            f.fresh_after_failure,
            f.reused_after_failure,
            f.requests_under_fault,
            c.exchanges,
            c.invalidations,
            self.wall_s
        )
    }
}

impl Summary {
    /// The human summary (several lines), leaks in full.
    pub fn human(&self, leaks: &[Leak]) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "replay ({}): {} requests, {} subjects, {} isolates, concurrency {}, seed {}{}\n",
            self.mode,
            self.requests,
            self.subjects,
            self.isolates,
            self.concurrency,
            self.seed,
            self.naive_cache
                .as_deref()
                .map(|n| format!(", NAIVE CACHE {n}"))
                .unwrap_or_default()
                + if self.naive_sessions {
                    ", NAIVE SESSIONS (owner not checked)"
                } else {
                    ""
                }
        ));
        out.push_str(&format!(
            "  ok {}  errors {} ({} expected)  unexpected successes {}\n",
            self.ok, self.errors, self.expected_errors, self.unexpected_successes
        ));
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            out.push_str(&format!("  errors by kind: {}\n", kinds.join(" ")));
        }
        out.push_str(&format!(
            "  exchanges {} (zone audit: {})  cache hits {}\n",
            self.exchanges,
            self.zone_exchanges
                .map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
            self.cache_hits
        ));
        out.push_str(&format!(
            "  latency p50 {:.2} ms  p99 {:.2} ms  throughput {:.0} req/s  wall {:.2} s (+{:.2} s setup)  peak RSS {:.0} MiB\n",
            self.p50_ms, self.p99_ms, self.rps, self.wall_s, self.setup_s, self.peak_rss_mb
        ));
        out.push_str(&self.sessions.human());
        if self.leaks == 0 {
            out.push_str("  leaks: 0 — every answer belonged to its requester\n");
        } else {
            out.push_str(&format!(
                "  LEAKS: {} answers belonged to someone else\n",
                self.leaks
            ));
            for l in leaks {
                out.push_str(&format!(
                    "    request {} ({}) by principal {} {} got {}{}{}: {}\n",
                    l.request_id,
                    l.op.name(),
                    l.principal,
                    l.requester,
                    l.seen
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), ToString::to_string),
                    l.jti
                        .as_deref()
                        .map(|j| format!(" via upstream token jti={j}"))
                        .unwrap_or_default(),
                    l.first_seen_by
                        .map(|(r, p)| format!(" (first received by request {r}, principal {p})"))
                        .unwrap_or_default(),
                    l.reason
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::identity::Who;
    use crate::replay::trace::Op;

    #[test]
    fn tally_counts_every_verdict_kind() {
        let mut t = Tally::default();
        t.record(
            &Verdict::Ok {
                seen: None,
                reused_token: Some(true),
            },
            1000,
        );
        t.record(
            &Verdict::Error {
                kind: "no_subject",
                expected: true,
            },
            2000,
        );
        t.record(
            &Verdict::UnexpectedSuccess {
                reason: "expired token accepted",
            },
            10,
        );
        let who = Who {
            issuer: "i".into(),
            sub: Some("a".into()),
            client_id: "c".into(),
        };
        t.record(
            &Verdict::Leak(Box::new(Leak {
                request_id: 3,
                principal: 4,
                op: Op::Whoami,
                requester: who.clone(),
                seen: Some(who),
                jti: None,
                first_seen_by: Some((1, 2)),
                reason: "x".into(),
            })),
            10,
        );
        assert_eq!(t.requests, 4);
        assert_eq!(
            (t.ok, t.cache_hits, t.errors(), t.expected_errors),
            (1, 1, 1, 1)
        );
        assert_eq!(t.leaks, 1);
        assert_eq!(t.leak_samples.len(), 1);
        let s = Summary {
            requests: 4,
            subjects: 1,
            exchanges: 1,
            cache_hits: 1,
            zone_exchanges: None,
            ok: 1,
            errors: 1,
            errors_by_kind: t.errors_by_kind.clone(),
            expected_errors: 1,
            unexpected_successes: 1,
            leaks: 1,
            p50_ms: 1.0,
            p99_ms: 2.0,
            rps: 4.0,
            wall_s: 1.0,
            setup_s: 0.0,
            peak_rss_mb: 1.0,
            isolates: 1,
            concurrency: 1,
            mode: "in-process".into(),
            naive_cache: None,
            seed: 7,
            cache_len: None,
            cache: None,
            faults: None,
            rss_samples_mb: Vec::new(),
            sessions: SessionReport {
                mode: "on",
                opened: 3,
                cross_session_attempts: 2,
                cross_session_refused: 2,
                ..SessionReport::default()
            },
            naive_sessions: false,
        };
        let human = s.human(&t.leak_samples);
        assert!(human.contains("LEAKS: 1"), "{human}");
        assert!(
            human.contains("first received by request 1, principal 2"),
            "{human}"
        );
        assert!(
            human.contains("cross-session attempts 2, refused 2"),
            "{human}"
        );
        let json = serde_json::to_value(&s).unwrap();
        for k in [
            "requests",
            "subjects",
            "exchanges",
            "cache_hits",
            "errors",
            "errors_by_kind",
            "leaks",
            "p50_ms",
            "p99_ms",
            "rps",
            "wall_s",
            "peak_rss_mb",
            "sessions",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }
}
