//! Fault runs (`emulator replay --fault <kind>`, `--fault-suite`): dependency failures
//! injected into the embedded zones through mock-keycard's fault API while the leak
//! oracle judges every answer.
//!
//! Each kind becomes a schedule of [`Step`]s at request indices: faults are set, the
//! run continues under them, then (after draining the requests in flight) they are
//! cleared and the rest of the run checks recovery: any unexpected error after the
//! clear is a *stale failure* (e.g. a failed exchange that was cached), and a user whose
//! exchange failed must later succeed with a token nobody had before its failure.

use std::time::Duration;

use keycard_core::ports::BoxFuture;
use mock_keycard::{Endpoint, FaultSpec, Faults, Zone};

use super::trace::ZoneRef;

/// The outbound timeout given to the isolates in an `sts-slow` run, milliseconds.
pub const SLOW_TIMEOUT_MS: u64 = 250;
/// The token endpoint's latency in an `sts-slow` run (well past [`SLOW_TIMEOUT_MS`]).
pub const SLOW_LATENCY_MS: u64 = 700;
/// The isolates' JWKS TTL in a `jwks-down` run.
pub const JWKS_TTL: Duration = Duration::from_millis(150);
/// The isolates' JWKS grace period in a `jwks-down` run.
pub const JWKS_GRACE: Duration = Duration::from_millis(600);
/// The isolates' unknown-`kid` refetch cooldown in `jwks-down` and `rotate-mid-run` runs
/// (the core's default is 30 s).
pub const JWKS_COOLDOWN: Duration = Duration::from_millis(100);

/// A dependency failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The STS (token endpoint) answers 500.
    #[value(name = "sts-500")]
    #[serde(rename = "sts-500")]
    Sts500,
    /// The STS answers 429 (with `Retry-After`).
    #[value(name = "sts-429")]
    #[serde(rename = "sts-429")]
    Sts429,
    /// The STS answers 200 with truncated JSON.
    StsMalformed,
    /// The STS answers after the core's outbound timeout.
    StsSlow,
    /// The STS drops the connection.
    StsDrop,
    /// The JWKS endpoint is down: grace keys keep working, then clean 401/503.
    JwksDown,
    /// The zone rotates its signing key half-way; new tokens carry the new `kid`.
    RotateMidRun,
    /// The upstream answers 401: the cache entry is dropped and the call retried once.
    #[value(name = "upstream-401")]
    #[serde(rename = "upstream-401")]
    Upstream401,
    /// The upstream answers 502.
    #[value(name = "upstream-5xx")]
    #[serde(rename = "upstream-5xx")]
    Upstream5xx,
}

impl FaultKind {
    /// Every kind, in suite order.
    pub const ALL: [Self; 9] = [
        Self::Sts500,
        Self::Sts429,
        Self::StsMalformed,
        Self::StsSlow,
        Self::StsDrop,
        Self::JwksDown,
        Self::RotateMidRun,
        Self::Upstream401,
        Self::Upstream5xx,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sts500 => "sts-500",
            Self::Sts429 => "sts-429",
            Self::StsMalformed => "sts-malformed",
            Self::StsSlow => "sts-slow",
            Self::StsDrop => "sts-drop",
            Self::JwksDown => "jwks-down",
            Self::RotateMidRun => "rotate-mid-run",
            Self::Upstream401 => "upstream-401",
            Self::Upstream5xx => "upstream-5xx",
        }
    }

    /// Whether the fault makes token exchanges fail.
    pub fn hits_exchanges(self) -> bool {
        matches!(
            self,
            Self::Sts500 | Self::Sts429 | Self::StsMalformed | Self::StsSlow | Self::StsDrop
        )
    }

    /// The fault spec on the token endpoint or the upstream, if this kind sets one.
    fn spec(self, probability: f64) -> Option<(Endpoint, FaultSpec)> {
        let p = Some(probability);
        let spec = |status: Option<u16>, malformed: bool, drop: bool| FaultSpec {
            status,
            malformed,
            drop,
            probability: p,
            ..FaultSpec::default()
        };
        Some(match self {
            Self::Sts500 => (Endpoint::Token, spec(Some(500), false, false)),
            Self::Sts429 => (Endpoint::Token, spec(Some(429), false, false)),
            Self::StsMalformed => (Endpoint::Token, spec(None, true, false)),
            Self::StsDrop => (Endpoint::Token, spec(None, false, true)),
            Self::StsSlow => (
                Endpoint::Token,
                FaultSpec {
                    latency_ms: SLOW_LATENCY_MS,
                    ..FaultSpec::default()
                },
            ),
            Self::JwksDown => (
                Endpoint::Jwks,
                FaultSpec {
                    status: Some(503),
                    ..FaultSpec::default()
                },
            ),
            Self::Upstream401 => (Endpoint::Upstream, spec(Some(401), false, false)),
            Self::Upstream5xx => (Endpoint::Upstream, spec(Some(502), false, false)),
            Self::RotateMidRun => return None,
        })
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the driver does before sending request `at`.
#[derive(Debug, Clone)]
pub struct Step {
    /// The request index it happens before.
    pub at: u64,
    /// Wait for every request in flight to be answered first.
    pub drain: bool,
    /// What happens.
    pub action: Action,
}

/// A scheduled action.
#[derive(Debug, Clone)]
pub enum Action {
    /// Replace the faults of both zones (the zones' latency jitter is kept).
    SetFaults(Vec<(Endpoint, FaultSpec)>),
    /// Back to latency jitter only; requests from here on must not fail because of the
    /// fault ("after clear").
    Clear,
    /// Rotate the primary zone's signing key; primary callers switch to their tokens
    /// signed with the next key.
    Rotate,
    /// Pause sending (lets time-based states, e.g. a JWKS grace period, run out).
    Sleep(Duration),
}

/// The schedule for `kinds` over `requests` requests: faults from the start (from a
/// quarter for `jwks-down`, whose keys must be fetched first), cleared at half (after
/// draining); `rotate-mid-run` rotates at half.
pub fn schedule(kinds: &[FaultKind], requests: u64, probability: f64) -> Vec<Step> {
    let mut specs: Vec<(Endpoint, FaultSpec)> = kinds
        .iter()
        .filter(|k| **k != FaultKind::JwksDown)
        .filter_map(|k| k.spec(probability))
        .collect();
    specs.dedup_by_key(|(e, _)| *e);
    let half = requests / 2;
    let quarter = requests / 4;
    let mut steps = Vec::new();
    if !specs.is_empty() {
        steps.push(Step {
            at: 0,
            drain: false,
            action: Action::SetFaults(specs.clone()),
        });
    }
    if kinds.contains(&FaultKind::JwksDown) {
        if let Some(jwks) = FaultKind::JwksDown.spec(probability) {
            let mut with_jwks = specs.clone();
            with_jwks.push(jwks);
            steps.push(Step {
                at: quarter,
                drain: true,
                action: Action::SetFaults(with_jwks),
            });
        }
        // Past TTL + grace: the keys are gone and the JWKS cannot be fetched.
        steps.push(Step {
            at: quarter + (half - quarter) / 2,
            drain: true,
            action: Action::Sleep(JWKS_TTL + JWKS_GRACE + Duration::from_millis(200)),
        });
    }
    if kinds.contains(&FaultKind::RotateMidRun) {
        // The core refetches the JWKS for an unknown `kid` at most once per cooldown
        // (counted from its last fetch): rotate, then let the cooldown run out.
        steps.push(Step {
            at: half,
            drain: false,
            action: Action::Rotate,
        });
        steps.push(Step {
            at: half,
            drain: false,
            action: Action::Sleep(JWKS_COOLDOWN + Duration::from_millis(50)),
        });
    }
    if !steps.is_empty() {
        steps.push(Step {
            at: half,
            drain: true,
            action: Action::Clear,
        });
        if kinds.contains(&FaultKind::JwksDown) {
            // Let the core's refetch cooldown after the last failed fetch run out.
            steps.push(Step {
                at: half,
                drain: false,
                action: Action::Sleep(JWKS_COOLDOWN + Duration::from_millis(100)),
            });
        }
    }
    steps.sort_by_key(|s| s.at);
    steps
}

/// The zones' side of the schedule.
pub trait StepRunner: Send + Sync {
    /// Performs `action`.
    fn perform<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Result<(), String>>;
}

/// [`StepRunner`] over in-process zone handles.
#[derive(Debug, Clone)]
pub struct ZoneFaults {
    /// The zones (primary first) with the jitter faults they started with.
    pub zones: Vec<(ZoneRef, Zone, Faults)>,
}

impl StepRunner for ZoneFaults {
    fn perform<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match action {
                Action::SetFaults(specs) => {
                    for (_, zone, base) in &self.zones {
                        let mut faults = base.clone();
                        for (endpoint, spec) in specs {
                            let mut spec = spec.clone();
                            // keep the zone's seeded jitter on the endpoint
                            if let Some(b) = base.get(*endpoint) {
                                spec.jitter_ms = spec.jitter_ms.max(b.jitter_ms);
                            }
                            faults = faults.with(*endpoint, spec);
                        }
                        zone.set_faults(faults).map_err(|e| e.to_string())?;
                    }
                    tracing::info!(?specs, "faults set");
                }
                Action::Clear => {
                    for (_, zone, base) in &self.zones {
                        zone.set_faults(base.clone()).map_err(|e| e.to_string())?;
                    }
                    tracing::info!("faults cleared");
                }
                Action::Rotate => {
                    if let Some((_, zone, _)) =
                        self.zones.iter().find(|(r, _, _)| *r == ZoneRef::Primary)
                    {
                        let rotation = zone.rotate_key();
                        tracing::info!(new_kid = %rotation.new_kid, "rotated mid-run");
                    }
                }
                Action::Sleep(d) => tokio::time::sleep(*d).await,
            }
            Ok(())
        })
    }
}

/// What a fault run found besides the usual tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FaultReport {
    /// The kinds injected.
    pub kinds: Vec<FaultKind>,
    /// Requests sent while a fault was active.
    pub requests_under_fault: u64,
    /// Unexpected errors on requests sent after the faults were cleared (must be 0: a
    /// failure that outlives its fault was cached somewhere).
    pub stale_failures: u64,
    /// Users whose exchange failed and who later succeeded with a token first seen
    /// after their failure (a fresh exchange).
    pub fresh_after_failure: u64,
    /// Users whose exchange failed and who later succeeded with a token already seen
    /// before their failure (must be 0 with one isolate or sticky routing).
    pub reused_after_failure: u64,
    /// Error answers that named another user or carried a JWT (counted as leaks too).
    pub foreign_data: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_set_then_clear_after_draining() {
        let steps = schedule(&[FaultKind::Sts500], 1000, 0.5);
        assert_eq!(steps.len(), 2);
        assert!(matches!(&steps[0].action, Action::SetFaults(s) if s[0].1.status == Some(500)));
        assert!(matches!(steps[1].action, Action::Clear) && steps[1].drain && steps[1].at == 500);
        let steps = schedule(&[FaultKind::JwksDown], 1000, 0.5);
        assert_eq!(steps[0].at, 250);
        assert!(steps.iter().any(|s| matches!(s.action, Action::Sleep(_))));
        let steps = schedule(&[FaultKind::RotateMidRun], 1000, 0.5);
        assert!(matches!(steps[0].action, Action::Rotate));
        assert!(matches!(
            steps.last().map(|s| &s.action),
            Some(Action::Clear)
        ));
        assert!(schedule(&[], 10, 1.0).is_empty());
    }

    #[test]
    fn names_round_trip() {
        use clap::ValueEnum as _;
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::from_str(k.name(), false), Ok(k));
        }
    }
}
