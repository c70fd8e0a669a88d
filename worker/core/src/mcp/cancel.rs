//! `notifications/cancelled`: stopping a caller's own in-flight call.
//!
//! Every `tools/call`, `resources/read` and `prompts/get` in flight in this isolate
//! (outside a 2025-03-26 batch, whose items are not cancellable) is registered under a key derived (SHA-256) from the verified caller — issuer, subject
//! and client — and the JSON-RPC request id. A `notifications/cancelled` from a caller
//! stops that caller's calls with the named id: the handler's future is dropped at its
//! next await, and no JSON-RPC response is sent (an SSE answer ends without one; a JSON
//! answer is `202 Accepted` with no body). Another caller naming the same id derives
//! another key and stops nothing. A caller running two calls with the same id at once
//! (two client sessions; the server is stateless and cannot tell them apart) cancels
//! both.
//!
//! **Another isolate.** The registry is per isolate (per [`super::Endpoint`]). When the
//! cancellation lands in an isolate that is not running the call — Workers route each
//! request independently — it matches nothing and is ignored, as the specification
//! allows for unknown ids: the call runs to completion and its response is sent; the
//! client, having cancelled, discards it. In the 2026-07-28 revision closing the SSE
//! response stream is the cancellation signal: the host drops the response body, and
//! with it the call, wherever it runs.
//!
//! Registration allocates nothing once the registry has grown to the isolate's
//! concurrency: the slot lives in the map, the key is a fixed-size digest.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use futures::Future;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::identity::Identity;

/// A caller's request: SHA-256 over the caller and the request id.
pub(crate) type CallKey = [u8; 32];

/// The key of `identity`'s request `id`.
pub(crate) fn call_key(identity: &Identity, id: &Value) -> CallKey {
    let mut hash = Sha256::new();
    identity.hash_principal(&mut hash);
    match id {
        Value::String(s) => {
            hash.update(b"s");
            hash.update(s.as_bytes());
        }
        other => {
            // Numbers: their JSON text (1 and 1.0 differ, as they do on the wire).
            hash.update(b"n");
            hash.update(other.to_string().as_bytes());
        }
    }
    hash.finalize().into()
}

#[derive(Default)]
struct Slot {
    cancelled: bool,
    waker: Option<Waker>,
}

/// The calls in flight in one isolate.
#[derive(Default)]
pub(crate) struct Registry {
    calls: Mutex<HashMap<(CallKey, u64), Slot>>,
    serial: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// Cancels every call registered under `key`; returns how many.
    pub(crate) fn cancel(&self, key: &CallKey) -> usize {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for ((k, _), slot) in calls.iter_mut() {
            if k == key && !slot.cancelled {
                slot.cancelled = true;
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
                n += 1;
            }
        }
        n
    }

    /// How many calls are registered (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// `work` (pinned: `pin!` on the stack or a box), registered under `key` until it
    /// ends or is dropped; it yields `None` when cancelled.
    pub(crate) fn run<F: Future + Unpin>(&self, key: CallKey, work: F) -> Cancellable<'_, F> {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((key, serial), Slot::default());
        Cancellable {
            registry: self,
            key: (key, serial),
            work,
        }
    }
}

/// A registered call (see [`Registry::run`]).
pub(crate) struct Cancellable<'r, F> {
    registry: &'r Registry,
    key: (CallKey, u64),
    work: F,
}

impl<F: Future + Unpin> Future for Cancellable<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        {
            let mut calls = this
                .registry
                .calls
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match calls.get_mut(&this.key) {
                Some(slot) if slot.cancelled => return Poll::Ready(None),
                Some(slot) => match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                },
                None => {}
            }
        }
        Pin::new(&mut this.work).poll(cx).map(Some)
    }
}

impl<F> Drop for Cancellable<'_, F> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.registry.calls.lock() {
            calls.remove(&self.key);
        }
    }
}
