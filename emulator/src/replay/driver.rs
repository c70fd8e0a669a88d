//! The bounded-concurrency runner: sends the trace's requests (at most `concurrency` in
//! flight), judges every answer with the oracle, and tallies.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http::{HeaderValue, Request, header};
use keycard_core::ports::BoxFuture;

use super::callers::MintError;
use super::faults::{Action, FaultReport, Step, StepRunner};
use super::identity::{self, Who};
use super::oracle::{AuditSource, Expect, Leak, Observed, Oracle, Verdict};
use super::report::Tally;
use super::trace::{Op, Principal, TraceRequest, ZoneRef};
use crate::isolate::IsolatePool;

/// The MCP protocol version the replay speaks.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// One caller, ready to send: its identity and pre-built `Authorization` headers.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who it is.
    pub who: Who,
    /// Which zone issued its token.
    pub zone: ZoneRef,
    /// `Bearer <token>` (sensitive: never logged).
    pub auth: HeaderValue,
    /// `Bearer <token with a broken signature>`.
    pub bad_auth: HeaderValue,
    /// The token's `exp`.
    pub expires_at: u64,
    /// Revoke consent when the run reaches this request index.
    pub revoke_at: Option<u64>,
    /// `Bearer <token signed with the zone's next key>`, sent from a mid-run key
    /// rotation on (`--fault rotate-mid-run`).
    pub rotated_auth: Option<HeaderValue>,
}

/// Mints one principal's caller (its token and headers) on demand.
pub type MintFn<'a> = dyn Fn(&Principal) -> Result<Caller, MintError> + Send + Sync + 'a;

/// Where the driver gets each request's caller.
#[derive(Clone, Copy)]
pub enum Callers<'a> {
    /// Minted up front, indexed by principal.
    Ready(&'a [Caller]),
    /// Minted just before the principal's request is sent (`--fresh-subjects`): setup mints
    /// nothing, and at most `concurrency` requests' tokens exist at any time.
    Lazy {
        /// The population, indexed by principal.
        principals: &'a [Principal],
        /// Mints a principal's caller.
        mint: &'a MintFn<'a>,
    },
}

impl std::fmt::Debug for Callers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(callers) => f.debug_tuple("Ready").field(&callers.len()).finish(),
            Self::Lazy { principals, .. } => {
                f.debug_tuple("Lazy").field(&principals.len()).finish()
            }
        }
    }
}

impl<'a> Callers<'a> {
    /// The population size.
    pub fn len(&self) -> usize {
        match self {
            Self::Ready(callers) => callers.len(),
            Self::Lazy { principals, .. } => principals.len(),
        }
    }

    /// Whether the population is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The principal's zone, subject and scheduled consent revocation.
    fn revocation(&self, principal: usize) -> Option<(ZoneRef, Option<&'a str>, Option<u64>)> {
        match self {
            Self::Ready(callers) => callers
                .get(principal)
                .map(|c| (c.zone, c.who.sub.as_deref(), c.revoke_at)),
            Self::Lazy { principals, .. } => principals
                .get(principal)
                .map(|p| (p.zone, p.sub.as_deref(), p.revoke_at)),
        }
    }

    /// The error-answer scan over the population's subjects.
    fn foreign_scan(&self) -> ForeignScan {
        match self {
            Self::Ready(callers) => ForeignScan::new(callers),
            Self::Lazy { principals, .. } => {
                ForeignScan::from_subjects(principals.iter().filter_map(|p| p.sub.as_deref()))
            }
        }
    }

    /// The caller of `request` (minted now when lazy).
    fn caller(&self, request: &TraceRequest) -> Result<Cow<'a, Caller>, DriverError> {
        let unknown = || DriverError::UnknownPrincipal(request.id);
        match self {
            Self::Ready(callers) => callers
                .get(request.principal as usize)
                .map(Cow::Borrowed)
                .ok_or_else(unknown),
            Self::Lazy { principals, mint } => {
                let p = principals
                    .get(request.principal as usize)
                    .ok_or_else(unknown)?;
                mint(p).map(Cow::Owned).map_err(DriverError::Mint)
            }
        }
    }
}

/// Where requests go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Straight into the isolates' queues (no sockets); `origin` is the virtual server
    /// origin the requests carry.
    InProcess {
        /// The isolates.
        pool: Arc<IsolatePool>,
        /// The absolute `/mcp` URL requests are addressed to.
        url: http::Uri,
    },
    /// Over HTTP to any deployment.
    Http {
        /// reqwest client.
        client: reqwest::Client,
        /// The absolute `/mcp` URL.
        url: reqwest::Url,
    },
}

/// The zones' side of the run: audit lookups for the oracle and consent revocation.
pub trait ZoneControl: AuditSource {
    /// Revokes `sub`'s consent to the upstream at `zone`.
    fn revoke<'a>(&'a self, zone: ZoneRef, sub: &'a str) -> BoxFuture<'a, Result<(), String>>;
    /// Token exchanges the zones issued so far, if known.
    fn exchanges_issued(&self) -> Option<u64>;
}

/// Run parameters.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The server's `exp` leeway, for the expiry expectations.
    pub leeway_secs: u64,
    /// The upstream resource identifier (for the audit chain check).
    pub upstream_resource: String,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Sample the process's resident memory every this many requests.
    pub rss_every: Option<u64>,
    /// Bound the oracle's memory ([`Oracle::bounded`]).
    pub oracle_bound: Option<usize>,
}

/// A fault run's schedule and the zones that carry it out.
pub struct FaultHooks<'a> {
    /// Steps, ascending by request index.
    pub steps: Vec<Step>,
    /// Performs them.
    pub runner: &'a dyn StepRunner,
}

/// Populations up to this many distinct subjects get every error answer scanned for
/// other users' subjects (beyond it only for JWTs: the scan is O(errors × subjects)).
pub const FOREIGN_SCAN_MAX_SUBJECTS: usize = 5_000;

/// Scans error answers for data of another user: any JWT (`eyJ…`: a bearer or
/// upstream token) or another principal's subject / login.
#[derive(Debug, Default)]
pub struct ForeignScan {
    subjects: Vec<String>,
}

impl ForeignScan {
    /// Built from the callers' subjects (empty ones skipped; none beyond
    /// [`FOREIGN_SCAN_MAX_SUBJECTS`]).
    pub fn new(callers: &[Caller]) -> Self {
        Self::from_subjects(callers.iter().filter_map(|c| c.who.sub.as_deref()))
    }

    /// Built from these subjects (empty ones skipped; none beyond
    /// [`FOREIGN_SCAN_MAX_SUBJECTS`] distinct ones, without collecting more than that).
    pub fn from_subjects<'s>(subjects: impl Iterator<Item = &'s str>) -> Self {
        let mut distinct = std::collections::BTreeSet::new();
        for sub in subjects.filter(|s| !s.is_empty()) {
            distinct.insert(sub);
            if distinct.len() > FOREIGN_SCAN_MAX_SUBJECTS {
                return Self::default();
            }
        }
        Self {
            subjects: distinct.into_iter().map(str::to_owned).collect(),
        }
    }

    /// What of someone else's (or any token) `body` contains, if anything.
    pub fn find(&self, body: &[u8], own: Option<&str>) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        if text.contains("eyJ") {
            return Some("a JWT".into());
        }
        let stripped = match own.filter(|o| !o.is_empty()) {
            Some(own) => text.replace(own, ""),
            None => text.into_owned(),
        };
        self.subjects
            .iter()
            .filter(|s| Some(s.as_str()) != own)
            .find(|s| stripped.contains(s.as_str()))
            .map(|s| format!("subject {s:?}"))
    }
}

/// Per-run bookkeeping of a fault run.
#[derive(Debug, Default)]
struct FaultTrack {
    active_from: Option<u64>,
    cleared_at: Option<u64>,
    judged: u64,
    jti_first: std::collections::HashMap<String, u64>,
    failed: std::collections::HashMap<u32, u64>,
    report: FaultReport,
}

impl FaultTrack {
    fn observe(&mut self, request: &TraceRequest, verdict: &Verdict, body: &[u8]) {
        self.judged += 1;
        if self.active_from.is_some_and(|from| {
            request.id >= from && self.cleared_at.is_none_or(|c| request.id < c)
        }) {
            self.report.requests_under_fault += 1;
        }
        if let Some(cleared) = self.cleared_at
            && request.id >= cleared
            && matches!(
                verdict,
                Verdict::Error {
                    expected: false,
                    ..
                }
            )
        {
            self.report.stale_failures += 1;
        }
        match verdict {
            Verdict::Error {
                kind: "sts_unavailable",
                ..
            } => {
                self.failed.entry(request.principal).or_insert(self.judged);
            }
            Verdict::Ok { .. } if matches!(request.op, Op::GithubUser | Op::ProfileResource) => {
                let jti = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("result").and_then(identity::profile))
                    .and_then(|s| identity::upstream_identity(&s))
                    .map(|seen| seen.jti);
                let Some(jti) = jti else { return };
                let first = *self.jti_first.entry(jti).or_insert(self.judged);
                if let Some(failed) = self.failed.remove(&request.principal) {
                    if first < failed {
                        self.report.reused_after_failure += 1;
                    } else {
                        self.report.fresh_after_failure += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn body_for(op: Op) -> Bytes {
    let (name, method) = match op {
        Op::Whoami | Op::BadToken => ("whoami", "tools/call"),
        Op::GithubUser => ("github_user", "tools/call"),
        Op::ToolsList => ("", "tools/list"),
        Op::ProfileResource => (
            crate::harness::examples::PROFILE_RESOURCE_URI,
            "resources/read",
        ),
    };
    let value = if method == "resources/read" {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"uri": name}})
    } else if method == "tools/list" {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}})
    } else {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method,
            "params": {"name": name, "arguments": {}}})
    };
    Bytes::from(value.to_string())
}

struct Answer {
    status: u16,
    body: Bytes,
    error: Option<String>,
}

async fn send(transport: &Transport, auth: HeaderValue, body: Bytes, timeout: Duration) -> Answer {
    let failed = |e: String| Answer {
        status: 0,
        body: Bytes::new(),
        error: Some(e),
    };
    match transport {
        Transport::InProcess { pool, url } => {
            let request = Request::post(url.clone())
                .header(header::AUTHORIZATION, auth)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header("mcp-protocol-version", PROTOCOL_VERSION)
                .body(body);
            let request = match request {
                Ok(r) => r,
                Err(e) => return failed(e.to_string()),
            };
            match tokio::time::timeout(timeout, pool.dispatch(request)).await {
                Ok(Ok(response)) => Answer {
                    status: response.status().as_u16(),
                    body: response.into_body(),
                    error: None,
                },
                Ok(Err(e)) => failed(e.to_string()),
                Err(_) => failed("timed out".into()),
            }
        }
        Transport::Http { client, url } => {
            let sent = client
                .post(url.clone())
                .header(header::AUTHORIZATION, auth)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header("mcp-protocol-version", PROTOCOL_VERSION)
                .timeout(timeout)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(body) => Answer {
                            status,
                            body,
                            error: None,
                        },
                        Err(e) => failed(e.without_url().to_string()),
                    }
                }
                Err(e) => failed(e.without_url().to_string()),
            }
        }
    }
}

/// One line of `--per-request-out`.
#[derive(serde::Serialize)]
struct PerRequest<'a> {
    id: u64,
    principal: u32,
    op: &'static str,
    status: u16,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<&'a Who>,
}

/// Why the run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A trace request names a principal outside the population.
    #[error("request {0} names an unknown principal")]
    UnknownPrincipal(u64),
    /// The per-request output could not be written.
    #[error("per-request output: {0}")]
    Output(#[from] std::io::Error),
    /// A fault step could not be carried out.
    #[error("fault injection: {0}")]
    Fault(String),
    /// A principal's token could not be minted (lazy minting).
    #[error(transparent)]
    Mint(MintError),
    /// Consent revocation failed.
    #[error("revoking consent for principal {principal}: {reason}")]
    Revoke {
        /// The principal.
        principal: u32,
        /// Why.
        reason: String,
    },
}

/// Runs `requests` (of `total`, for the progress bar) through `transport`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the inputs are independent"
)]
pub async fn run(
    callers: Callers<'_>,
    requests: impl Iterator<Item = TraceRequest>,
    total: u64,
    transport: &Transport,
    zones: &dyn ZoneControl,
    config: &DriverConfig,
    mut per_request: Option<&mut dyn Write>,
    faults: Option<FaultHooks<'_>>,
) -> Result<(Tally, Duration, Vec<bool>), DriverError> {
    let scan = callers.foreign_scan();
    let mut track = faults.as_ref().map(|_| FaultTrack::default());
    let (mut steps, runner) = match faults {
        Some(h) => (h.steps.into_iter().peekable(), Some(h.runner)),
        None => (Vec::new().into_iter().peekable(), None),
    };
    let mut rotated = false;
    let bodies: Vec<Bytes> = Op::ALL.iter().map(|op| body_for(*op)).collect();
    let mut revocations: Vec<(u64, u32)> = (0..callers.len())
        .filter_map(|i| {
            callers
                .revocation(i)
                .and_then(|(_, _, at)| at)
                .map(|at| (at, i as u32))
        })
        .collect();
    revocations.sort_unstable();
    let mut revocations = revocations.into_iter().peekable();
    let mut revoked_at: Vec<Option<u64>> = vec![None; callers.len()];
    let mut used = vec![false; callers.len()];

    let progress = if config.progress && std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );

    let mut oracle = config
        .oracle_bound
        .map_or_else(Oracle::default, Oracle::bounded);
    let mut tally = Tally::default();
    let mut requests = requests.peekable();
    let mut inflight = FuturesUnordered::new();
    let started = Instant::now();
    let concurrency = config.concurrency.max(1);
    loop {
        while inflight.len() < concurrency {
            if let Some(runner) = runner
                && let Some(next_id) = requests.peek().map(|r| r.id)
                && steps.peek().is_some_and(|s| s.at <= next_id)
            {
                if steps.peek().is_some_and(|s| s.drain) && !inflight.is_empty() {
                    // Answer everything in flight first (judged below, then back here).
                    break;
                }
                let step = steps.next().ok_or(DriverError::UnknownPrincipal(next_id))?;
                runner
                    .perform(&step.action)
                    .await
                    .map_err(DriverError::Fault)?;
                if let Some(t) = track.as_mut() {
                    match step.action {
                        Action::SetFaults(_) => {
                            t.active_from.get_or_insert(next_id);
                        }
                        Action::Clear => t.cleared_at = Some(next_id),
                        Action::Rotate => rotated = true,
                        Action::Sleep(_) => {}
                    }
                }
                continue;
            }
            let Some(request) = requests.next() else {
                break;
            };
            while let Some(&(at, principal)) = revocations.peek() {
                if at > request.id {
                    break;
                }
                revocations.next();
                if let Some((zone, Some(sub), _)) = callers.revocation(principal as usize) {
                    zones
                        .revoke(zone, sub)
                        .await
                        .map_err(|reason| DriverError::Revoke { principal, reason })?;
                    revoked_at[principal as usize] = Some(unix_secs());
                }
            }
            let caller = callers.caller(&request)?;
            let auth = if request.op == Op::BadToken {
                caller.bad_auth.clone()
            } else if rotated && let Some(auth) = &caller.rotated_auth {
                auth.clone()
            } else {
                caller.auth.clone()
            };
            let body = bodies[Op::ALL.iter().position(|o| *o == request.op).unwrap_or(0)].clone();
            let revoked = revoked_at[request.principal as usize];
            used[request.principal as usize] = true;
            inflight.push(async move {
                let sent_at = unix_secs();
                let t0 = Instant::now();
                let answer = send(transport, auth, body, config.request_timeout).await;
                (request, caller, revoked, sent_at, t0.elapsed(), answer)
            });
        }
        let Some((request, caller, revoked, sent_at, elapsed, answer)) = inflight.next().await
        else {
            break;
        };
        let caller: &Caller = &caller;
        let expect = Expect {
            request_id: request.id,
            principal: request.principal,
            who: &caller.who,
            op: request.op,
            expires_at: caller.expires_at,
            leeway_secs: config.leeway_secs,
            revoked_at: revoked,
            revoked_by_answer: revoked_at[request.principal as usize].is_some(),
            upstream_resource: &config.upstream_resource,
        };
        let observed = Observed {
            status: answer.status,
            body: &answer.body,
            transport_error: answer.error.as_deref(),
            sent_at,
        };
        let mut verdict = oracle.judge(expect, observed, zones).await;
        if !matches!(verdict, Verdict::Ok { .. } | Verdict::Leak(_))
            && let Some(what) = scan.find(&answer.body, caller.who.sub.as_deref())
        {
            if let Some(t) = track.as_mut() {
                t.report.foreign_data += 1;
            }
            verdict = Verdict::Leak(Box::new(Leak {
                request_id: request.id,
                principal: request.principal,
                op: request.op,
                requester: caller.who.clone(),
                seen: None,
                jti: None,
                first_seen_by: None,
                reason: format!("an error answer contains {what}"),
            }));
        }
        if let Some(t) = track.as_mut() {
            t.observe(&request, &verdict, &answer.body);
        }
        if let Verdict::Leak(leak) = &verdict
            && tally.leaks < 5
        {
            tracing::error!(request = leak.request_id, requester = %leak.requester, seen = ?leak.seen, reason = %leak.reason, "LEAK");
        }
        tally.record(&verdict, elapsed.as_micros() as u64);
        if let Some(out) = per_request.as_deref_mut() {
            write_outcome(out, &request, answer.status, &verdict)?;
        }
        if let Some(every) = config.rss_every
            && every > 0
            && tally.requests % every == 0
        {
            tally
                .rss_samples_mb
                .push(crate::rss::rss_mb().unwrap_or(0.0));
        }
        if tally.requests % 256 == 0 {
            progress.set_position(tally.requests);
        }
    }
    let wall = started.elapsed();
    progress.finish_and_clear();
    tally.distinct_tokens = oracle.distinct_upstream_tokens() as u64;
    tally.fault = track.map(|t| t.report);
    Ok((tally, wall, used))
}

fn write_outcome(
    out: &mut dyn Write,
    request: &TraceRequest,
    status: u16,
    verdict: &Verdict,
) -> std::io::Result<()> {
    let (outcome, identity): (String, Option<&Who>) = match verdict {
        Verdict::Ok { seen, .. } => ("ok".into(), seen.as_ref()),
        Verdict::Error { kind, .. } => (format!("error:{kind}"), None),
        Verdict::UnexpectedSuccess { .. } => ("unexpected_success".into(), None),
        Verdict::Leak(l) => ("leak".into(), l.seen.as_ref()),
    };
    let line = PerRequest {
        id: request.id,
        principal: request.principal,
        op: request.op.name(),
        status,
        outcome: &outcome,
        identity,
    };
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_mcp_requests() {
        let v: serde_json::Value = serde_json::from_slice(&body_for(Op::GithubUser)).unwrap();
        assert_eq!(v["method"], "tools/call");
        assert_eq!(v["params"]["name"], "github_user");
        let v: serde_json::Value = serde_json::from_slice(&body_for(Op::ToolsList)).unwrap();
        assert_eq!(v["method"], "tools/list");
    }
}
