//! Ground truth for leak oracles that know nothing about the tools under test.
//!
//! * **Canaries.** Every answer of the demo upstreams carries `"canary": "kc-canary-<hex>"`,
//!   a value unique to the user (issuer + subject) the presented token was issued to and
//!   derived from a random per-zone salt, so it cannot be guessed and appears nowhere
//!   else. A tool answer for user A that contains user B's canary carries B's upstream
//!   data, whatever the tool's output format.
//! * **The upstream log.** When switched on ([`Zone::record_upstream_calls`]), the demo
//!   upstream records the identity chain of every token it accepts, with the request's
//!   correlation header ([`CORRELATION_HEADER`]) if the caller's host set one, so an
//!   oracle can check that a call made while serving user A presented A's token.

use std::collections::VecDeque;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::upstream::{DemoUpstream, UpstreamIdentity};
use crate::zone::{Zone, lock};

/// Every canary starts with this.
pub const CANARY_PREFIX: &str = "kc-canary-";

/// Hex digits after [`CANARY_PREFIX`].
pub const CANARY_HEX_LEN: usize = 24;

/// Request header a host may set on upstream calls to say which of its requests made
/// them (the emulator sets it to its request tag); recorded verbatim in the upstream log.
pub const CORRELATION_HEADER: &str = "x-keycard-mock-correlation";

/// One accepted upstream call, as the demo upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamCall {
    /// Arrival order at this zone's upstream (from 1).
    pub seq: u64,
    /// Which demo upstream answered (`github`, `calendar`).
    pub upstream: DemoUpstream,
    /// HTTP method.
    pub method: String,
    /// Path under the upstream base, e.g. `/user`.
    pub path: String,
    /// The [`CORRELATION_HEADER`] value, if any.
    pub correlation: Option<String>,
    /// The token's identity chain.
    pub identity: UpstreamIdentity,
    /// The canary the answer carried.
    pub canary: String,
}

/// The bounded upstream log (off until a capacity is set).
#[derive(Debug, Default)]
pub(crate) struct UpstreamLog {
    capacity: usize,
    next_seq: u64,
    dropped: u64,
    calls: VecDeque<UpstreamCall>,
}

/// Extracts every canary in `text` (in order, repeats included).
pub fn find_canaries(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices(CANARY_PREFIX).filter_map(|(at, _)| {
        let end = at + CANARY_PREFIX.len() + CANARY_HEX_LEN;
        let candidate = text.get(at..end)?;
        candidate[CANARY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then_some(candidate)
    })
}

impl Zone {
    /// The canary of the user `sub` at issuer `iss`, as this zone's upstream answers it.
    pub fn canary_for(&self, iss: &str, sub: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.inner.canary_salt);
        hasher.update(iss.as_bytes());
        hasher.update([0u8]);
        hasher.update(sub.as_bytes());
        let digest = hasher.finalize();
        let mut out = String::with_capacity(CANARY_PREFIX.len() + CANARY_HEX_LEN);
        out.push_str(CANARY_PREFIX);
        for byte in &digest[..CANARY_HEX_LEN / 2] {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// Starts recording accepted upstream calls, keeping at most `capacity` not yet taken
    /// (older ones are dropped and counted); `0` stops recording.
    pub fn record_upstream_calls(&self, capacity: usize) {
        let mut log = lock(&self.inner.upstream_log);
        log.capacity = capacity;
        while log.calls.len() > capacity {
            log.calls.pop_front();
            log.dropped += 1;
        }
    }

    /// Removes and returns the recorded upstream calls, oldest first.
    pub fn take_upstream_calls(&self) -> Vec<UpstreamCall> {
        lock(&self.inner.upstream_log).calls.drain(..).collect()
    }

    /// Whether upstream calls are being recorded (the leak harness's mode, in which the
    /// upstream also writes each user's canary into their profile's string fields).
    pub fn is_recording_upstream_calls(&self) -> bool {
        lock(&self.inner.upstream_log).capacity > 0
    }

    /// Recorded calls dropped because the log was full.
    pub fn upstream_calls_dropped(&self) -> u64 {
        lock(&self.inner.upstream_log).dropped
    }

    pub(crate) fn log_upstream_call(
        &self,
        upstream: DemoUpstream,
        method: &str,
        path: &str,
        correlation: Option<&str>,
        identity: &UpstreamIdentity,
        canary: &str,
    ) {
        let mut log = lock(&self.inner.upstream_log);
        if log.capacity == 0 {
            return;
        }
        log.next_seq += 1;
        let call = UpstreamCall {
            seq: log.next_seq,
            upstream,
            method: method.to_owned(),
            path: path.to_owned(),
            correlation: correlation.map(str::to_owned),
            identity: identity.clone(),
            canary: canary.to_owned(),
        };
        if log.calls.len() >= log.capacity {
            log.calls.pop_front();
            log.dropped += 1;
        }
        log.calls.push_back(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_found_and_partial_ones_ignored() {
        let a = format!("{CANARY_PREFIX}{}", "0a".repeat(12));
        let text = format!(r#"{{"x":"{a}","y":"kc-canary-zz","z":"{a}tail"}}"#);
        let found: Vec<&str> = find_canaries(&text).collect();
        assert_eq!(found, [a.as_str(), a.as_str()]);
    }
}
