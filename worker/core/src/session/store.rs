//! The session port: [`SessionStore`], what a host provides so the legacy-era sessions
//! (`Mcp-Session-Id`) and server-to-client requests work across requests, and
//! [`MemorySessionStore`], the in-process implementation (the emulator's, and the
//! reference the Durable Object one is tested against).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::{BoxFuture, Clock, UnixMillis, with_timeout};

/// What the server remembers about one session. It never holds a token: the owner is a
/// digest of the verified identity that opened it, and every request of the session is
/// authenticated again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Hex SHA-256 of the issuer, subject and client that opened the session (see
    /// [`super::owner_of`]). A request of another identity never reaches the session.
    pub owner: String,
    /// The zone the session was opened in (`None`: the classic single zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The protocol revision negotiated at `initialize`.
    pub protocol_version: String,
    /// The `capabilities` the client declared at `initialize` (elicitation, sampling…).
    #[serde(default)]
    pub client_capabilities: Value,
    /// The level `logging/setLevel` set, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// The resource URIs the client subscribed to (`resources/subscribe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
    /// When it was opened (Unix ms).
    pub created_ms: UnixMillis,
    /// When it expires unless used again (Unix ms); each use moves it forward.
    pub expires_ms: UnixMillis,
}

/// Why the session store could not answer. Requests then get 503 (the session layer is
/// down; nothing is guessed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionStoreError {
    /// The store (a Durable Object, a database) did not answer or answered garbage.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}

/// Where sessions live. One implementation per host: the wasm Worker's is a Durable
/// Object per session (so whichever isolate receives a session's request reaches the same
/// state), the emulator's is [`MemorySessionStore`].
///
/// Implementations store [`SessionRecord`]s as given (the core decides expiry, ownership
/// and zone), and relay client responses to server requests: a response may arrive
/// before or after its waiter started waiting, in any isolate.
pub trait SessionStore: Send + Sync + 'static {
    /// Creates or replaces the session `id`. The store may forget it after
    /// `record.expires_ms` (a later [`SessionStore::put`] moves that forward).
    fn put<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>>;

    /// The session `id`, as last put (`None` when unknown or deleted; an expired record
    /// may still be returned — the core checks `expires_ms`).
    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionStoreError>>;

    /// Deletes the session `id` and everything waiting in it; whether it existed.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, SessionStoreError>>;

    /// Waits up to `timeout` for the client's response to the server's request
    /// `request_id` in session `id`: the JSON-RPC response object (`result` or `error`),
    /// or `None` on timeout. A response delivered before the wait started is returned at
    /// once (responses are kept, a bounded number per session, until taken).
    fn wait_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Value>, SessionStoreError>>;

    /// Hands the client's `response` to the server's request `request_id` in session
    /// `id` (to its waiter, or kept for it).
    fn deliver_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        response: Value,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>>;
}

/// The most responses kept per session for waiters that have not started waiting.
pub const MAX_KEPT_RESPONSES: usize = 32;

/// Sessions in this process's memory: correct for a host that is one process (the
/// emulator, tests); not for Workers, whose requests land in many isolates.
///
/// Bounded: at most `max_sessions`; when full, expired sessions are dropped first, then
/// the oldest.
pub struct MemorySessionStore {
    clock: Arc<dyn Clock>,
    max_sessions: usize,
    sessions: Mutex<HashMap<String, Slot>>,
}

#[derive(Default)]
struct Slot {
    record: Option<SessionRecord>,
    waiters: HashMap<String, oneshot::Sender<Value>>,
    kept: VecDeque<(String, Value)>,
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

impl MemorySessionStore {
    /// A store of at most `max_sessions` sessions, timing waits on `clock`.
    pub fn new(clock: Arc<dyn Clock>, max_sessions: usize) -> Self {
        Self {
            clock,
            max_sessions: max_sessions.max(1),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// How many sessions it holds (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.lock().values().filter(|s| s.record.is_some()).count()
    }

    /// Whether it holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make_room(&self, sessions: &mut HashMap<String, Slot>) {
        if sessions.len() < self.max_sessions {
            return;
        }
        let now = self.clock.now_ms();
        sessions.retain(|_, s| s.record.as_ref().is_some_and(|r| r.expires_ms > now));
        while sessions.len() >= self.max_sessions {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.record.as_ref().map_or(0, |r| r.created_ms))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
    }
}

/// Removes a waiter when its wait ends.
struct Unregister<'a> {
    store: &'a MemorySessionStore,
    id: &'a str,
    request_id: &'a str,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.store.lock().get_mut(self.id) {
            slot.waiters.remove(self.request_id);
        }
    }
}

impl SessionStore for MemorySessionStore {
    fn put<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>> {
        let mut sessions = self.lock();
        if !sessions.contains_key(id) {
            self.make_room(&mut sessions);
        }
        sessions.entry(id.to_owned()).or_default().record = Some(record.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionStoreError>> {
        let record = self.lock().get(id).and_then(|s| s.record.clone());
        Box::pin(std::future::ready(Ok(record)))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, SessionStoreError>> {
        // Dropping the slot drops its waiters' senders: they stop waiting.
        let existed = self.lock().remove(id).is_some_and(|s| s.record.is_some());
        Box::pin(std::future::ready(Ok(existed)))
    }

    fn wait_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Value>, SessionStoreError>> {
        let receiver = {
            let mut sessions = self.lock();
            let Some(slot) = sessions.get_mut(id).filter(|s| s.record.is_some()) else {
                return Box::pin(std::future::ready(Ok(None)));
            };
            if let Some(at) = slot.kept.iter().position(|(rid, _)| rid == request_id) {
                let (_, response) = slot.kept.remove(at).expect("position is in range");
                return Box::pin(std::future::ready(Ok(Some(response))));
            }
            let (sender, receiver) = oneshot::channel();
            slot.waiters.insert(request_id.to_owned(), sender);
            receiver
        };
        // However the wait ends — answer, timeout, or the caller dropping it, polled or
        // not (a cancelled call) — its waiter leaves the map.
        let unregister = Unregister {
            store: self,
            id,
            request_id,
        };
        Box::pin(async move {
            let _unregister = unregister;
            let outcome = with_timeout(&*self.clock, timeout, receiver).await;
            Ok(outcome.and_then(Result::ok))
        })
    }

    fn deliver_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        response: Value,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>> {
        let mut sessions = self.lock();
        if let Some(slot) = sessions.get_mut(id).filter(|s| s.record.is_some()) {
            match slot.waiters.remove(request_id) {
                Some(waiter) => {
                    let _ = waiter.send(response);
                }
                None => {
                    if slot.kept.len() >= MAX_KEPT_RESPONSES {
                        slot.kept.pop_front();
                    }
                    slot.kept.push_back((request_id.to_owned(), response));
                }
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, SharedManualClock};
    use serde_json::json;

    fn record(created: u64) -> SessionRecord {
        SessionRecord {
            owner: "o".into(),
            zone: None,
            protocol_version: "2025-11-25".into(),
            client_capabilities: json!({}),
            log_level: None,
            subscriptions: Vec::new(),
            created_ms: created,
            expires_ms: created + 1000,
        }
    }

    #[tokio::test]
    async fn a_response_reaches_its_waiter_whether_it_comes_before_or_after() {
        let clock = Arc::new(SharedManualClock(ManualClock::new(0)));
        let store = MemorySessionStore::new(clock, 10);
        store.put("s", &record(0)).await.unwrap();
        // Before the wait.
        store
            .deliver_response("s", "r1", json!({"result": 1}))
            .await
            .unwrap();
        let got = store
            .wait_response("s", "r1", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(got, Some(json!({"result": 1})));
        // After the wait started.
        let wait = store.wait_response("s", "r2", Duration::from_secs(60));
        let deliver = async {
            store
                .deliver_response("s", "r2", json!({"result": 2}))
                .await
                .unwrap();
        };
        let (got, ()) = futures::join!(wait, deliver);
        assert_eq!(got.unwrap(), Some(json!({"result": 2})));
        // A wait that is dropped (a cancelled call) leaves no waiter behind.
        drop(store.wait_response("s", "r9", Duration::from_secs(60)));
        {
            let wait = store.wait_response("s", "r8", Duration::from_secs(60));
            let mut wait = Box::pin(wait);
            assert!(futures::poll!(wait.as_mut()).is_pending());
            assert_eq!(store.lock().get("s").unwrap().waiters.len(), 1);
        }
        assert!(store.lock().get("s").unwrap().waiters.is_empty());
        // Another session's response never reaches this one.
        store.put("t", &record(0)).await.unwrap();
        store.deliver_response("t", "r3", json!(3)).await.unwrap();
        assert_eq!(store.lock().get("s").unwrap().kept.len(), 0);
    }

    #[tokio::test]
    async fn delete_forgets_and_bounds_hold() {
        let clock = Arc::new(SharedManualClock(ManualClock::new(0)));
        let store = MemorySessionStore::new(clock, 2);
        store.put("a", &record(1)).await.unwrap();
        store.put("b", &record(2)).await.unwrap();
        store.put("c", &record(3)).await.unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("a").await.unwrap(), None, "the oldest made room");
        assert!(store.delete("b").await.unwrap());
        assert!(!store.delete("b").await.unwrap());
        assert_eq!(store.get("b").await.unwrap(), None);
        for i in 0..(MAX_KEPT_RESPONSES + 5) {
            store
                .deliver_response("c", &format!("r{i}"), json!(i))
                .await
                .unwrap();
        }
        assert_eq!(
            store.lock().get("c").unwrap().kept.len(),
            MAX_KEPT_RESPONSES
        );
    }
}
