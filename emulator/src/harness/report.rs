//! What a leak test found: counts per outcome and per tool, and every leak (the first
//! ones in full).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::replay::identity::Who;

/// How one request ended (leaks are judged separately: any outcome can carry one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// HTTP 200 with a JSON-RPC `result` that is not an error.
    Ok,
    /// A `result` with `isError: true` (e.g. a refused delegation for a token without
    /// `sub`, which the population includes on purpose).
    ToolError,
    /// A JSON-RPC `error` (e.g. unknown tool, invalid params).
    ProtocolError,
    /// Any HTTP status but 200.
    Http(u16),
    /// An answer that is neither JSON nor an SSE stream of JSON.
    Unparseable,
    /// No answer: the isolate failed or the request timed out.
    Transport,
}

/// Counts for one tool (or for all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requests sent.
    pub requests: u64,
    /// [`Outcome::Ok`].
    pub ok: u64,
    /// [`Outcome::ToolError`].
    pub tool_errors: u64,
    /// [`Outcome::ProtocolError`].
    pub protocol_errors: u64,
    /// [`Outcome::Http`], by status.
    pub http_errors: BTreeMap<u16, u64>,
    /// [`Outcome::Unparseable`].
    pub unparseable: u64,
    /// [`Outcome::Transport`].
    pub transport_errors: u64,
    /// Answers that carried the caller's own upstream canary (the tool returned upstream
    /// data: evidence the canary oracle had something to judge).
    pub own_canary: u64,
    /// Leaks found in this tool's answers or upstream calls.
    pub leaks: u64,
}

impl Tally {
    /// Sent, and never [`Outcome::Ok`]: nothing about it was tested.
    pub fn never_succeeded(&self) -> bool {
        self.requests > 0 && self.ok == 0
    }

    pub(crate) fn count(&mut self, outcome: Outcome) {
        self.requests += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::ToolError => self.tool_errors += 1,
            Outcome::ProtocolError => self.protocol_errors += 1,
            Outcome::Http(status) => *self.http_errors.entry(status).or_default() += 1,
            Outcome::Unparseable => self.unparseable += 1,
            Outcome::Transport => self.transport_errors += 1,
        }
    }
}

/// What crossed between users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LeakKind {
    /// The answer to the caller contains another user's upstream canary: the tool returned
    /// data the upstream served to someone else.
    ForeignCanary {
        /// The canary found.
        canary: String,
        /// Whose it is (`None`: no user of this run, e.g. a value kept from an earlier run).
        owner: Option<Who>,
    },
    /// While serving the caller's request, the tool called the upstream with a token
    /// Keycard issued for another identity chain (user, issuer or client).
    ForeignUpstreamToken {
        /// The identity chain of the token the upstream received.
        seen: Who,
        /// `METHOD /path` of the upstream call.
        call: String,
    },
    /// Multi-zone runs: the token an upstream received is not, per the audit log of the
    /// caller's zone, a token exchange issued for the caller's user and client and for
    /// the upstream that received it.
    WrongIssuance {
        /// The upstream token's `jti`, if it had one.
        jti: Option<String>,
        /// What did not match.
        reason: String,
    },
    /// Multi-zone runs: a token of one zone was accepted on another zone's path.
    CrossZoneAccepted {
        /// The path it was sent to.
        path: String,
        /// The status it got (anything but 401).
        status: u16,
    },
}

/// One leak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// The request's index in the run (its tag).
    pub request: u64,
    /// The tool called (its name), or the resource read (`resources/read <uri>`).
    pub tool: String,
    /// Who made the request.
    pub caller: Who,
    /// What leaked.
    #[serde(flatten)]
    pub kind: LeakKind,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            LeakKind::ForeignCanary { canary, owner } => {
                let owner = owner
                    .as_ref()
                    .map_or_else(|| "no user of this run".to_owned(), ToString::to_string);
                write!(
                    f,
                    "request {} ({}) by {}: the answer contains {canary}, the upstream data of {owner}",
                    self.request, self.tool, self.caller
                )
            }
            LeakKind::ForeignUpstreamToken { seen, call } => write!(
                f,
                "request {} ({}) by {}: the upstream received {call} with a token issued for {seen}",
                self.request, self.tool, self.caller
            ),
            LeakKind::WrongIssuance { jti, reason } => write!(
                f,
                "request {} ({}) by {}: upstream token {}: {reason}",
                self.request,
                self.tool,
                self.caller,
                jti.as_deref().unwrap_or("(no jti)")
            ),
            LeakKind::CrossZoneAccepted { path, status } => write!(
                f,
                "request {} by {}: its zone's token got {status} on {path}, another zone's path (401 expected)",
                self.request, self.caller
            ),
        }
    }
}

/// The result of [`super::LeakTest::run`].
#[derive(Debug, Clone, Serialize)]
#[must_use]
pub struct LeakReport {
    /// Requests sent.
    pub requests: u64,
    /// Principals (distinct identity chains: issuer, subject, client) that sent requests.
    pub users: u64,
    /// Distinct (issuer, subject) pairs among them.
    pub subjects: u64,
    /// Isolates the requests were spread over.
    pub isolates: usize,
    /// All requests.
    pub total: Tally,
    /// Per tool, by name, and per resource read, by `resources/read <uri>`.
    pub per_tool: BTreeMap<String, Tally>,
    /// Leaks found (all of them counted, see [`Self::leaks`] for the first ones).
    pub leak_count: u64,
    /// The first leaks, in full.
    pub leaks: Vec<Leak>,
    /// Upstream calls the mock upstream accepted.
    pub upstream_calls: u64,
    /// Of those, calls attributed to a request of this run (and so checked against its
    /// caller).
    pub upstream_attributed: u64,
    /// Multi-zone runs: upstream calls whose token the caller's zone's audit log shows
    /// issued for the caller's user, client and that upstream.
    pub upstream_audited: u64,
    /// Multi-zone runs: requests sent with a zone's token to another zone's path.
    pub cross_zone_probes: u64,
    /// Of those, refused with 401.
    pub cross_zone_refused: u64,
    /// Upstream calls the log dropped (more in flight than its capacity).
    pub upstream_dropped: u64,
    /// Token exchanges the mock zones issued.
    pub exchanges: u64,
    /// Time spent sending and judging requests.
    pub wall: Duration,
    /// Time spent before that (zones, tokens, isolates).
    pub setup: Duration,
}

impl LeakReport {
    /// No leak, and every call of the run (each tool, each resource read) succeeded at
    /// least once: a call that only ever failed was never run far enough to leak, so the
    /// run proves nothing about it.
    pub fn is_clean(&self) -> bool {
        self.leak_count == 0 && self.total.ok > 0 && self.untested().is_empty()
    }

    /// The calls (keys of [`Self::per_tool`]) that were sent and never succeeded: a tool
    /// that always answered an error (say, its upstream path is not one the mock
    /// upstream serves in the shape the tool expects, or an upstream it calls was not
    /// declared with `.upstream(..)`), a resource that could not be read.
    pub fn untested(&self) -> Vec<&str> {
        self.per_tool
            .iter()
            .filter(|(_, t)| t.never_succeeded())
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Panics, printing the report and the first leaks, unless [`Self::is_clean`].
    #[track_caller]
    pub fn assert_no_leaks(&self) {
        if self.leak_count > 0 {
            panic!("{} leak(s) between users:\n{self}", self.leak_count);
        }
        if self.total.ok == 0 {
            panic!("no tool call succeeded, so the leak test proves nothing:\n{self}");
        }
        let untested = self.untested();
        if !untested.is_empty() {
            panic!(
                "never succeeded, so the leak test proves nothing about them: {} \
                 (their errors are below; a tool must succeed for some users to be tested):\n{self}",
                untested.join(", ")
            );
        }
    }

    /// Panics unless leaks were found (for mutation checks: a deliberately leaky tool
    /// must be caught).
    #[track_caller]
    pub fn assert_leaks(&self) {
        if self.leak_count == 0 {
            panic!("expected leaks, found none:\n{self}");
        }
    }
}

fn errors(t: &Tally) -> String {
    let mut parts = Vec::new();
    if t.tool_errors > 0 {
        parts.push(format!("{} tool errors", t.tool_errors));
    }
    if t.protocol_errors > 0 {
        parts.push(format!("{} protocol errors", t.protocol_errors));
    }
    for (status, n) in &t.http_errors {
        parts.push(format!("{n} HTTP {status}"));
    }
    if t.unparseable > 0 {
        parts.push(format!("{} unparseable", t.unparseable));
    }
    if t.transport_errors > 0 {
        parts.push(format!("{} transport errors", t.transport_errors));
    }
    if parts.is_empty() {
        "no errors".to_owned()
    } else {
        parts.join(", ")
    }
}

impl std::fmt::Display for LeakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "leak test: {} requests, {} users ({} subjects), {} isolates, {:.2}s (+{:.2}s setup)",
            self.requests,
            self.users,
            self.subjects,
            self.isolates,
            self.wall.as_secs_f64(),
            self.setup.as_secs_f64()
        )?;
        writeln!(
            f,
            "  {} ok, {}; {} leaks",
            self.total.ok,
            errors(&self.total),
            self.leak_count
        )?;
        writeln!(
            f,
            "  upstream: {} calls ({} attributed, {} dropped), {} token exchanges",
            self.upstream_calls, self.upstream_attributed, self.upstream_dropped, self.exchanges
        )?;
        for (tool, t) in &self.per_tool {
            writeln!(
                f,
                "  {tool}: {} requests, {} ok ({} with the caller's canary), {}; {} leaks{}",
                t.requests,
                t.ok,
                t.own_canary,
                errors(t),
                t.leaks,
                if t.never_succeeded() {
                    " (NEVER SUCCEEDED: not tested)"
                } else {
                    ""
                }
            )?;
        }
        for leak in &self.leaks {
            writeln!(f, "  LEAK {leak}")?;
        }
        if self.leak_count > self.leaks.len() as u64 {
            writeln!(
                f,
                "  … and {} more",
                self.leak_count - self.leaks.len() as u64
            )?;
        }
        Ok(())
    }
}
