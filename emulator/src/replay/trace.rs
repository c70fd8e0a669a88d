//! The trace model: who calls (principals) and what they call (requests), read from a
//! file in `fixtures/traces/` or generated from a seed.
//!
//! Two file formats are accepted:
//!
//! * JSON: `{"principals": [...], "requests": [...]}`;
//! * JSON Lines: one record per line, `{"principal": {...}}` or `{"request": {...}}`
//!   (blank lines and lines starting with `#` are skipped).

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Which embedded zone issues a principal's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneRef {
    /// The zone the server is configured with (`KEYCARD_ISSUER`).
    #[default]
    Primary,
    /// A second zone with its own keys, trusted through `KEYCARD_EXTRA_ISSUERS`.
    Secondary,
}

/// One caller: a token minted once and reused for all its requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Referenced by requests.
    pub id: u32,
    /// The issuing zone.
    #[serde(default)]
    pub zone: ZoneRef,
    /// `sub`; `None` mints a token without a subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// The MCP client the token was issued to; `None` = the zone's default client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Token lifetime in seconds; `None` = one hour. Short lifetimes expire mid-run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    /// Consent to the upstream is revoked when the replay reaches this request index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_at: Option<u64>,
    /// What this principal tests (free text: `normal`, `cross-issuer`, ...).
    #[serde(default)]
    pub tag: String,
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `tools/call whoami`.
    Whoami,
    /// `tools/call github_user` (token exchange + upstream call).
    GithubUser,
    /// `tools/list`.
    ToolsList,
    /// `tools/call whoami` with a token whose signature is broken (expects 401).
    BadToken,
    /// `resources/read` of a delegated resource
    /// ([`PROFILE_RESOURCE_URI`](crate::harness::examples::PROFILE_RESOURCE_URI): token
    /// exchange + upstream call, the upstream's profile as the contents), judged like
    /// `github_user`. Weight 0 unless `--mix` names it: only a server that serves that
    /// resource can answer it (the in-process replay's does; the demo Worker's does not).
    ProfileResource,
    /// `tools/call whoami` with the requester's own token but ANOTHER principal's
    /// `Mcp-Session-Id` (one with a different identity, chosen by the driver from the
    /// request id): the server must refuse it with 404 and the very body it gives for a
    /// session that never existed. Without sessions (`--sessions off`, a target that
    /// offers none) it is sent as a plain `whoami` and judged like one.
    CrossSession,
}

impl Op {
    /// Every op, in `--mix` order.
    pub const ALL: [Op; 6] = [
        Op::Whoami,
        Op::GithubUser,
        Op::ToolsList,
        Op::BadToken,
        Op::ProfileResource,
        Op::CrossSession,
    ];

    /// The `--mix` name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Whoami => "whoami",
            Op::GithubUser => "github_user",
            Op::ToolsList => "tools_list",
            Op::BadToken => "bad_token",
            Op::ProfileResource => "profile_resource",
            Op::CrossSession => "cross_session",
        }
    }
}

/// One request of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// Position in the trace (reported with leaks and in per-request output).
    pub id: u64,
    /// The caller.
    pub principal: u32,
    /// What it calls.
    pub op: Op,
}

/// A whole trace held in memory (file traces).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The callers.
    pub principals: Vec<Principal>,
    /// The requests, in order.
    pub requests: Vec<TraceRequest>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Principal(Principal),
    Request(TraceRequest),
}

/// Why a trace could not be read or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read or written.
    #[error("trace file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line or document is not valid trace JSON.
    #[error("trace file {path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line (1 for a JSON document).
        line: usize,
        /// The parser's message.
        reason: String,
    },
    /// A request names a principal that is not defined, or ids repeat.
    #[error("trace is inconsistent: {0}")]
    Inconsistent(String),
}

impl Trace {
    /// Reads a JSON or JSON Lines trace.
    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let shown = path.display().to_string();
        let io = |source| TraceError::Io {
            path: shown.clone(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let trace = match serde_json::from_str::<Trace>(&text) {
            Ok(trace) => trace,
            Err(doc_err) => {
                let mut trace = Trace::default();
                for (n, line) in text.as_bytes().lines().enumerate() {
                    let line = line.map_err(io)?;
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let record: Record =
                        serde_json::from_str(line).map_err(|e| TraceError::Parse {
                            path: shown.clone(),
                            line: n + 1,
                            reason: if n == 0 && line.starts_with("{\"principals\"") {
                                doc_err.to_string()
                            } else {
                                e.to_string()
                            },
                        })?;
                    match record {
                        Record::Principal(p) => trace.principals.push(p),
                        Record::Request(r) => trace.requests.push(r),
                    }
                }
                trace
            }
        };
        trace.validate()?;
        Ok(trace)
    }

    /// Writes the trace as JSON Lines.
    pub fn write_jsonl(&self, path: &Path) -> Result<(), TraceError> {
        use std::io::Write;
        let io = |source| TraceError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        for p in &self.principals {
            serde_json::to_writer(&mut out, &Record::Principal(p.clone()))
                .map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        for r in &self.requests {
            serde_json::to_writer(&mut out, &Record::Request(*r)).map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        out.flush().map_err(io)
    }

    /// Checks that principal ids are unique and dense enough to index, and that every
    /// request names a defined principal.
    pub fn validate(&self) -> Result<(), TraceError> {
        validate_principals(&self.principals)?;
        let n = self.principals.len() as u32;
        if let Some(r) = self.requests.iter().find(|r| r.principal >= n) {
            return Err(TraceError::Inconsistent(format!(
                "request {} names principal {} but only {n} are defined",
                r.id, r.principal
            )));
        }
        Ok(())
    }
}

/// Principal ids must be `0..n` in order (they index the token table).
pub fn validate_principals(principals: &[Principal]) -> Result<(), TraceError> {
    for (i, p) in principals.iter().enumerate() {
        if p.id as usize != i {
            return Err(TraceError::Inconsistent(format!(
                "principal ids must be 0, 1, 2, ... in order; position {i} has id {}",
                p.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trip_and_json_document() {
        let trace = Trace {
            principals: vec![Principal {
                id: 0,
                zone: ZoneRef::Secondary,
                sub: Some("a::b".into()),
                client_id: None,
                lifetime_secs: Some(3),
                revoke_at: None,
                tag: "weird-sub".into(),
            }],
            requests: vec![TraceRequest {
                id: 0,
                principal: 0,
                op: Op::GithubUser,
            }],
        };
        let dir = std::env::temp_dir().join(format!("emu-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jsonl = dir.join("t.jsonl");
        trace.write_jsonl(&jsonl).unwrap();
        assert_eq!(Trace::read(&jsonl).unwrap(), trace);
        let json = dir.join("t.json");
        std::fs::write(&json, serde_json::to_string(&trace).unwrap()).unwrap();
        assert_eq!(Trace::read(&json).unwrap(), trace);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_traces_are_specific_errors() {
        let dir = std::env::temp_dir().join(format!("emu-trace-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.jsonl");
        std::fs::write(&f, "{\"principal\":{\"id\":0}}\n{\"nonsense\":1}\n").unwrap();
        assert!(matches!(
            Trace::read(&f),
            Err(TraceError::Parse { line: 2, .. })
        ));
        std::fs::write(
            &f,
            "{\"principal\":{\"id\":0}}\n{\"request\":{\"id\":0,\"principal\":3,\"op\":\"whoami\"}}\n",
        )
        .unwrap();
        assert!(matches!(Trace::read(&f), Err(TraceError::Inconsistent(_))));
        assert!(matches!(
            Trace::read(&dir.join("missing")),
            Err(TraceError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
