//! The bounded-concurrency runner: sends the trace's requests (at most `concurrency` in
//! flight), judges every answer with the oracle, and tallies.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http::{HeaderValue, Method, Request, header};
use keycard_core::ports::BoxFuture;

use super::callers::MintError;
use super::faults::{Action, FaultReport, Step, StepRunner};
use super::identity::{self, Who};
use super::oracle::{AuditSource, Expect, Leak, Observed, Oracle, Verdict};
use super::report::{SessionReport, Tally};
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

    /// The identity of principal `i`'s caller (tokens minted up front only).
    fn who(&self, i: usize) -> Option<Who> {
        match self {
            Self::Ready(callers) => callers.get(i).map(|c| c.who.clone()),
            Self::Lazy { .. } => None,
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
    /// Whether callers open sessions first.
    pub sessions: SessionUse,
}

/// Whether the callers use sessions (`--sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionUse {
    /// Stateless: no `initialize`, no `Mcp-Session-Id`.
    #[default]
    Off,
    /// Every caller sends `initialize` first and, when the server answers with an
    /// `Mcp-Session-Id`, sends all its requests in that session; a server that offers
    /// none is replayed statelessly (reported as `not_offered`).
    Offer,
    /// As `Offer`, but a server that offers no session is a set-up error.
    Require,
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
        Op::Whoami | Op::BadToken | Op::CrossSession => ("whoami", "tools/call"),
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
    /// The `Mcp-Session-Id` the answer carries.
    session: Option<String>,
}

/// One HTTP request of the replay.
struct Outgoing<'a> {
    method: Method,
    auth: HeaderValue,
    /// `Mcp-Session-Id` to send.
    session: Option<&'a str>,
    /// Send `MCP-Protocol-Version` (every request but `initialize`, which negotiates it).
    version_header: bool,
    body: Bytes,
}

impl Outgoing<'_> {
    /// A POST of `body` by `auth`, in `session` if any.
    fn post(auth: HeaderValue, session: Option<&str>, body: Bytes) -> Outgoing<'_> {
        Outgoing {
            method: Method::POST,
            auth,
            session,
            version_header: true,
            body,
        }
    }
}

async fn send(transport: &Transport, out: Outgoing<'_>, timeout: Duration) -> Answer {
    let failed = |e: String| Answer {
        status: 0,
        body: Bytes::new(),
        error: Some(e),
        session: None,
    };
    let session_of = |headers: &http::HeaderMap| {
        headers
            .get(keycard_core::session::SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match transport {
        Transport::InProcess { pool, url } => {
            let mut request = Request::builder()
                .method(out.method)
                .uri(url.clone())
                .header(header::AUTHORIZATION, out.auth)
                .header(header::ACCEPT, "application/json, text/event-stream");
            if !out.body.is_empty() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            if out.version_header {
                request = request.header("mcp-protocol-version", PROTOCOL_VERSION);
            }
            if let Some(id) = out.session {
                request = request.header(keycard_core::session::SESSION_HEADER, id);
            }
            let request = match request.body(out.body) {
                Ok(r) => r,
                Err(e) => return failed(e.to_string()),
            };
            match tokio::time::timeout(timeout, pool.dispatch(request)).await {
                Ok(Ok(response)) => Answer {
                    status: response.status().as_u16(),
                    session: session_of(response.headers()),
                    body: response.into_body(),
                    error: None,
                },
                Ok(Err(e)) => failed(e.to_string()),
                Err(_) => failed("timed out".into()),
            }
        }
        Transport::Http { client, url } => {
            let mut request = client
                .request(out.method, url.clone())
                .header(header::AUTHORIZATION, out.auth)
                .header(header::ACCEPT, "application/json, text/event-stream")
                .timeout(timeout);
            if !out.body.is_empty() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            if out.version_header {
                request = request.header("mcp-protocol-version", PROTOCOL_VERSION);
            }
            if let Some(id) = out.session {
                request = request.header(keycard_core::session::SESSION_HEADER, id);
            }
            match request.body(out.body).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let session = session_of(response.headers());
                    match response.bytes().await {
                        Ok(body) => Answer {
                            status,
                            body,
                            error: None,
                            session,
                        },
                        Err(e) => failed(e.without_url().to_string()),
                    }
                }
                Err(e) => failed(e.without_url().to_string()),
            }
        }
    }
}

/// `initialize` (2025-11-25, no capabilities) as the replay's client.
fn initialize_body() -> Bytes {
    Bytes::from(
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "emulator-replay", "version": env!("CARGO_PKG_VERSION")},
        }})
        .to_string(),
    )
}

/// Opens `auth`'s session: `initialize`, then (when the answer names a session)
/// `notifications/initialized` in it. The session id, if the server offered one.
async fn open_session(
    transport: &Transport,
    auth: HeaderValue,
    timeout: Duration,
) -> Option<String> {
    let answer = send(
        transport,
        Outgoing {
            method: Method::POST,
            auth: auth.clone(),
            session: None,
            version_header: false,
            body: initialize_body(),
        },
        timeout,
    )
    .await;
    if answer.status != 200 {
        return None;
    }
    let id = answer.session?;
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let ack = send(
        transport,
        Outgoing::post(auth, Some(&id), initialized),
        timeout,
    )
    .await;
    (200..300).contains(&ack.status).then_some(id)
}

/// A well-formed session id (32 lower-case hex digits) that is none of `issued`: the
/// probe for the server's answer to a session that never existed.
fn never_issued(issued: &[Option<String>]) -> String {
    let mut n: u128 = 0x5e55_10e0_0000_0000_0000_0000_0000_0000;
    loop {
        let id = format!("{n:032x}");
        if !issued.iter().flatten().any(|s| *s == id) {
            return id;
        }
        n += 1;
    }
}

/// The principal whose session `attacker`'s `cross_session` request `request_id` names:
/// one with a session and a different identity, starting at a place that moves with the
/// request id (deterministic for a trace).
fn victim_of(
    sessions: &[Option<String>],
    who: impl Fn(usize) -> Option<Who>,
    attacker: usize,
    request_id: u64,
) -> Option<usize> {
    let n = sessions.len();
    if n < 2 {
        return None;
    }
    let own = who(attacker)?;
    let start = (attacker + 1 + (request_id % n as u64) as usize) % n;
    (0..n)
        .map(|k| (start + k) % n)
        .find(|&j| j != attacker && sessions[j].is_some() && who(j).is_some_and(|w| w != own))
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
    /// `--sessions on` and no `initialize` was answered with an `Mcp-Session-Id`.
    #[error(
        "--sessions on: the server answered every initialize without an Mcp-Session-Id (use --sessions auto to replay it statelessly)"
    )]
    SessionsNotOffered,
    /// A session id the server never issued was not refused with 404.
    #[error("a request naming a session id the server never issued was answered {0}, not 404")]
    UnknownSessionAccepted(u16),
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
    let whoami = bodies[Op::ALL.iter().position(|o| *o == Op::Whoami).unwrap_or(0)].clone();
    let (mut sessions, unknown_session, mut report) =
        open_sessions(callers, transport, config, &whoami).await?;

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
            let principal = request.principal as usize;
            // The op judged, the session sent and (cross-session) whose it is.
            let (judged, session, victim) = if request.op == Op::CrossSession {
                match victim_of(&sessions, |i| callers.who(i), principal, request.id) {
                    Some(v) => (Op::CrossSession, sessions[v].clone(), callers.who(v)),
                    None => {
                        report.cross_session_stateless += 1;
                        (Op::Whoami, None, None)
                    }
                }
            } else {
                (request.op, sessions.get(principal).cloned().flatten(), None)
            };
            if judged != Op::CrossSession && session.is_some() {
                report.requests_in_session += 1;
            }
            inflight.push(async move {
                let sent_at = unix_secs();
                let t0 = Instant::now();
                let out = Outgoing::post(auth, session.as_deref(), body);
                let answer = send(transport, out, config.request_timeout).await;
                (
                    request,
                    caller,
                    revoked,
                    sent_at,
                    t0.elapsed(),
                    answer,
                    judged,
                    victim,
                )
            });
        }
        let Some((request, caller, revoked, sent_at, elapsed, answer, judged, victim)) =
            inflight.next().await
        else {
            break;
        };
        let caller: &Caller = &caller;
        let expect = Expect {
            request_id: request.id,
            principal: request.principal,
            who: &caller.who,
            op: judged,
            expires_at: caller.expires_at,
            leeway_secs: config.leeway_secs,
            revoked_at: revoked,
            revoked_by_answer: revoked_at[request.principal as usize].is_some(),
            upstream_resource: &config.upstream_resource,
            victim: victim.as_ref(),
            unknown_session: unknown_session.as_deref(),
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
        if judged == Op::CrossSession {
            report.cross_session_attempts += 1;
            match &verdict {
                Verdict::Error {
                    kind: "cross_session_refused",
                    ..
                } => report.cross_session_refused += 1,
                Verdict::Leak(_) if (200..300).contains(&answer.status) => {
                    report.cross_session_accepted += 1;
                }
                Verdict::Error {
                    kind: "expired_token",
                    ..
                } => report.cross_session_token_expired += 1,
                _ => report.cross_session_other += 1,
            }
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
    if report.mode == "on" {
        end_sessions(
            callers,
            &mut sessions,
            rotated,
            transport,
            config,
            &whoami,
            &mut report,
        )
        .await;
    }
    tally.sessions = report;
    tally.distinct_tokens = oracle.distinct_upstream_tokens() as u64;
    tally.fault = track.map(|t| t.report);
    Ok((tally, wall, used))
}

/// Sessions checked for a 404 after their `DELETE`.
const DELETE_CHECKS: usize = 16;

/// Opens every caller's session when the run uses them (tokens minted up front only):
/// the session ids by principal, the server's answer to a session id it never issued
/// (the body every refusal of someone else's session must equal), and the report so far.
async fn open_sessions(
    callers: Callers<'_>,
    transport: &Transport,
    config: &DriverConfig,
    whoami: &Bytes,
) -> Result<(Vec<Option<String>>, Option<Bytes>, SessionReport), DriverError> {
    let mut report = SessionReport {
        mode: "off",
        ..SessionReport::default()
    };
    let none = || vec![None; callers.len()];
    let Callers::Ready(ready) = callers else {
        return Ok((none(), None, report));
    };
    if config.sessions == SessionUse::Off || ready.is_empty() {
        return Ok((none(), None, report));
    }
    let sessions: Vec<Option<String>> = futures::stream::iter(ready)
        .map(|c| open_session(transport, c.auth.clone(), config.request_timeout))
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    report.opened = sessions.iter().flatten().count() as u64;
    report.not_opened = sessions.len() as u64 - report.opened;
    let Some(first) = sessions.iter().position(Option::is_some) else {
        if config.sessions == SessionUse::Require {
            return Err(DriverError::SessionsNotOffered);
        }
        report.mode = "not_offered";
        report.not_opened = 0;
        return Ok((sessions, None, report));
    };
    report.mode = "on";
    let unknown = never_issued(&sessions);
    let probe = send(
        transport,
        Outgoing::post(ready[first].auth.clone(), Some(&unknown), whoami.clone()),
        config.request_timeout,
    )
    .await;
    if probe.status != 404 {
        return Err(DriverError::UnknownSessionAccepted(probe.status));
    }
    Ok((sessions, Some(probe.body), report))
}

/// Ends every open session with `DELETE` (by its owner) and checks, for a few, that a
/// request in the deleted session is then refused with 404.
async fn end_sessions(
    callers: Callers<'_>,
    sessions: &mut [Option<String>],
    rotated: bool,
    transport: &Transport,
    config: &DriverConfig,
    whoami: &Bytes,
    report: &mut SessionReport,
) {
    let Callers::Ready(ready) = callers else {
        return;
    };
    let auth = |c: &Caller| match (&c.rotated_auth, rotated) {
        (Some(a), true) => a.clone(),
        _ => c.auth.clone(),
    };
    let timeout = config.request_timeout;
    let deleted: Vec<Option<(usize, String)>> =
        futures::stream::iter(sessions.iter_mut().enumerate())
            .map(|(i, slot)| {
                let id = slot.take();
                let auth = ready.get(i).map(auth);
                async move {
                    let (id, auth) = (id?, auth?);
                    let out = Outgoing {
                        method: Method::DELETE,
                        auth,
                        session: Some(&id),
                        version_header: true,
                        body: Bytes::new(),
                    };
                    let answer = send(transport, out, timeout).await;
                    (answer.status == 204).then_some((i, id))
                }
            })
            .buffered(config.concurrency.max(1))
            .collect()
            .await;
    let deleted: Vec<(usize, String)> = deleted.into_iter().flatten().collect();
    report.deleted = deleted.len() as u64;
    for (i, id) in deleted.iter().take(DELETE_CHECKS) {
        let out = Outgoing::post(auth(&ready[*i]), Some(id), whoami.clone());
        if send(transport, out, timeout).await.status == 404 {
            report.deleted_refused += 1;
        }
    }
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
    fn a_victim_has_a_session_and_another_identity() {
        let who = |sub: &str| Who {
            issuer: "i".into(),
            sub: Some(sub.into()),
            client_id: "c".into(),
        };
        let whos = [who("a"), who("a"), who("b"), who("c")];
        let sessions = [
            Some("s0".to_owned()),
            Some("s1".into()),
            None,
            Some("s3".into()),
        ];
        for id in 0..20 {
            let v = victim_of(&sessions, |i| whos.get(i).cloned(), 0, id).unwrap();
            assert_eq!(
                v, 3,
                "the same identity (1) and no session (2) are never victims"
            );
        }
        assert_eq!(
            victim_of(&sessions[..2], |i| whos.get(i).cloned(), 0, 1),
            None
        );
        let issued = [Some(never_issued(&[]))];
        let other = never_issued(&issued);
        assert!(keycard_core::session::is_well_formed(&other));
        assert_ne!(Some(other), issued[0]);
    }

    #[test]
    fn bodies_are_mcp_requests() {
        let v: serde_json::Value = serde_json::from_slice(&body_for(Op::GithubUser)).unwrap();
        assert_eq!(v["method"], "tools/call");
        assert_eq!(v["params"]["name"], "github_user");
        let v: serde_json::Value = serde_json::from_slice(&body_for(Op::ToolsList)).unwrap();
        assert_eq!(v["method"], "tools/list");
    }
}
