//! The bounded-concurrency runner: sends the trace's requests (at most `concurrency` in
//! flight), judges every answer with the oracle, and tallies.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http::{HeaderValue, Request, header};
use keycard_core::ports::BoxFuture;

use super::identity::Who;
use super::oracle::{AuditSource, Expect, Observed, Oracle, Verdict};
use super::report::Tally;
use super::trace::{Op, TraceRequest, ZoneRef};
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
    };
    let value = if method == "tools/list" {
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
pub async fn run(
    callers: &[Caller],
    requests: impl Iterator<Item = TraceRequest>,
    total: u64,
    transport: &Transport,
    zones: &dyn ZoneControl,
    config: &DriverConfig,
    mut per_request: Option<&mut dyn Write>,
) -> Result<(Tally, Duration, Vec<bool>), DriverError> {
    let bodies: Vec<Bytes> = Op::ALL.iter().map(|op| body_for(*op)).collect();
    let mut revocations: Vec<(u64, u32)> = callers
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.revoke_at.map(|at| (at, i as u32)))
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

    let mut oracle = Oracle::default();
    let mut tally = Tally::default();
    let mut requests = requests.peekable();
    let mut inflight = FuturesUnordered::new();
    let started = Instant::now();
    let concurrency = config.concurrency.max(1);
    loop {
        while inflight.len() < concurrency {
            let Some(request) = requests.next() else {
                break;
            };
            while let Some(&(at, principal)) = revocations.peek() {
                if at > request.id {
                    break;
                }
                revocations.next();
                if let Some(caller) = callers.get(principal as usize)
                    && let Some(sub) = caller.who.sub.as_deref()
                {
                    zones
                        .revoke(caller.zone, sub)
                        .await
                        .map_err(|reason| DriverError::Revoke { principal, reason })?;
                    revoked_at[principal as usize] = Some(unix_secs());
                }
            }
            let caller = callers
                .get(request.principal as usize)
                .ok_or(DriverError::UnknownPrincipal(request.id))?;
            let auth = if request.op == Op::BadToken {
                caller.bad_auth.clone()
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
                (request, revoked, sent_at, t0.elapsed(), answer)
            });
        }
        let Some((request, revoked, sent_at, elapsed, answer)) = inflight.next().await else {
            break;
        };
        let caller = &callers[request.principal as usize];
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
        let verdict = oracle.judge(expect, observed, zones).await;
        if let Verdict::Leak(leak) = &verdict
            && tally.leaks < 5
        {
            tracing::error!(request = leak.request_id, requester = %leak.requester, seen = ?leak.seen, reason = %leak.reason, "LEAK");
        }
        tally.record(&verdict, elapsed.as_micros() as u64);
        if let Some(out) = per_request.as_deref_mut() {
            write_outcome(out, &request, answer.status, &verdict)?;
        }
        if tally.requests % 256 == 0 {
            progress.set_position(tally.requests);
        }
    }
    let wall = started.elapsed();
    progress.finish_and_clear();
    tally.distinct_tokens = oracle.distinct_upstream_tokens() as u64;
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
