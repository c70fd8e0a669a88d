//! Running the corpus against a deployed MCP server over HTTP (`mock-keycard corpus`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::case::Case;
use super::check::{Answer, check};
use super::expr::Placeholders;
use super::{CorpusError, authorization, build_token};
use crate::zone::{Zone, now};

/// The `MCP-Protocol-Version` the corpus requests carry.
pub const MCP_PROTOCOL_VERSION: &str = "2025-11-25";

/// The JSON-RPC `tools/call` body of `case`.
pub fn request_body(case: &Case) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": { "name": case.tool(), "arguments": {} },
    })
    .to_string()
}

/// A TCP listener that counts every connection made to it: the `{attacker}` URL of the
/// corpus (`jku`, `x5u`, …). Nothing may ever connect.
#[derive(Debug)]
pub struct Honeypot {
    url: String,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Honeypot {
    /// Listens on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer_404(stream));
            }
        });
        Ok(Self { url, hits, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Honeypot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Best effort: reads the request head (up to 64 KiB), answers 404 and closes, so a
/// client that does connect does not hang.
async fn answer_404(stream: tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
    let mut out: &[u8] =
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    while !out.is_empty() {
        if stream.writable().await.is_err() {
            return;
        }
        match stream.try_write(out) {
            Ok(n) => out = out.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// The verdict on one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Every mismatch (empty: passed).
    pub problems: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The verdicts of a run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// One per case, in corpus order.
    pub results: Vec<CaseResult>,
    /// Connections to the honeypot during the run (must be 0).
    pub honeypot_hits: usize,
}

impl RunReport {
    /// Whether every case passed and nothing contacted the honeypot.
    pub fn passed(&self) -> bool {
        self.honeypot_hits == 0 && self.results.iter().all(CaseResult::passed)
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }
}

/// Runs `cases` against the MCP server at `target` (its base URL; requests go to
/// `<target>/mcp`), whose tokens this `zone` issues and whose resource identifier is
/// `resource`. One request per case, sequentially.
pub async fn run_remote(
    zone: &Zone,
    target: &str,
    resource: &str,
    cases: &[Case],
) -> Result<RunReport, CorpusError> {
    let honeypot = Honeypot::start().await.map_err(|e| CorpusError::Read {
        path: "honeypot listener".into(),
        source: e,
    })?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CorpusError::Recipe(format!("cannot build the HTTP client: {e}")))?;
    let url = format!("{}/mcp", target.trim_end_matches('/'));
    let mut report = RunReport::default();
    for case in cases {
        let result = match run_one(zone, &client, &url, resource, honeypot.url(), case).await {
            Ok(result) => result,
            Err(problem) => CaseResult {
                name: case.name.clone(),
                file: case.file.clone(),
                problems: vec![problem],
            },
        };
        report.results.push(result);
    }
    report.honeypot_hits = honeypot.hits();
    Ok(report)
}

async fn run_one(
    zone: &Zone,
    client: &reqwest::Client,
    url: &str,
    resource: &str,
    attacker: &str,
    case: &Case,
) -> Result<CaseResult, String> {
    let vars =
        Placeholders::for_zone(zone, resource, attacker, now()).map_err(|e| e.to_string())?;
    let token = build_token(case, zone, &vars).map_err(|e| format!("cannot build: {e}"))?;
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MCP_PROTOCOL_VERSION)
        .body(request_body(case));
    if let Some(value) = authorization(case, &token) {
        request = request.header("authorization", value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?;
    let answer = Answer {
        status,
        www_authenticate: www_authenticate.as_deref(),
        body: &body,
    };
    Ok(CaseResult {
        name: case.name.clone(),
        file: case.file.clone(),
        problems: check(case, &vars, &token, &answer),
    })
}
