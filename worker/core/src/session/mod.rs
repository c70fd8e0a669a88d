//! Sessions (`Mcp-Session-Id`) for the legacy protocol revisions (2025-03-26 …
//! 2025-11-25), and what they make possible: server-to-client requests (form
//! elicitation, sampling) during a call, a log level that persists, and the client's
//! declared capabilities (URL-mode elicitation) remembered from `initialize`.
//!
//! Sessions are off unless the host gives the gateway a [`SessionStore`]
//! ([`crate::Gateway::with_sessions`]); the 2026-07-28 revision never uses them (it
//! ignores `Mcp-Session-Id` and asks for input with the stateless `input_required`
//! round trip instead, see [`crate::tools::ToolContext::elicit`]).
//!
//! | request | with sessions on |
//! |---|---|
//! | `initialize` (legacy) | a new session: the answer carries `Mcp-Session-Id` |
//! | any POST with `Mcp-Session-Id` | authenticated as always; then the session must exist, be unexpired, belong to this zone and to this very identity — else 404 (the same answer for "never existed", "expired", "deleted" and "someone else's": no oracle) |
//! | a POST without `Mcp-Session-Id` | served statelessly, as before |
//! | `DELETE` with `Mcp-Session-Id` | authenticated, then the session is deleted (204); 404 as above |
//! | a JSON-RPC response (the client's answer to `elicitation/create`, `sampling/createMessage`) | handed to the call waiting for it, wherever it runs (202) |
//!
//! **What a session holds.** A [`SessionRecord`]: the owner — a SHA-256 digest of the
//! issuer, subject and client of the token that opened it —, the zone, the negotiated
//! revision, the client's capabilities and log level, and its expiry. Never a bearer or
//! upstream token: every request of a session is authenticated on its own, and delegated
//! tokens stay in the isolate's token cache, keyed by the full identity.
//!
//! **Expiry.** A session expires after [`SessionSettings::idle_ttl`] without a request
//! (each request moves the expiry forward, written back at most once per
//! [`SessionSettings::touch_every`]), and is deleted by `DELETE`.

mod store;

pub use store::{
    MAX_KEPT_RESPONSES, MemorySessionStore, SessionRecord, SessionStore, SessionStoreError,
};

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::auth::identity::Identity;

/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// How sessions behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// How long an unused session lives (default 1 hour).
    pub idle_ttl: Duration,
    /// A request pushes the expiry forward in the store only when the stored one is
    /// older than this (default 5 minutes): one store write per session per interval,
    /// not per request.
    pub touch_every: Duration,
    /// How long a call waits for the client's answer to an elicitation or sampling
    /// request (default 10 minutes: a person may be answering).
    pub answer_timeout: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_ttl: Duration::from_secs(3600),
            touch_every: Duration::from_secs(300),
            answer_timeout: Duration::from_secs(600),
        }
    }
}

/// A gateway's session store and settings.
#[derive(Clone)]
pub(crate) struct Sessions {
    pub(crate) store: std::sync::Arc<dyn SessionStore>,
    pub(crate) settings: SessionSettings,
}

/// The owner digest of `identity` (hex SHA-256 over issuer, subject and client, each
/// length-prefixed): what a [`SessionRecord`] keeps instead of anything secret.
pub fn owner_of(identity: &Identity) -> String {
    let mut hash = Sha256::new();
    identity.hash_principal(&mut hash);
    hex(&hash.finalize())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Whether `id` has the shape of a session id this server issues (32 lower-case hex
/// digits): anything else is unknown without asking the store.
pub fn is_well_formed(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
