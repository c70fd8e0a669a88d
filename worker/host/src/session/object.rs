//! [`McpSession`]: the Durable Object class holding one session.

// The `#[durable_object]` macro generates public, undocumented wasm-bindgen exports
// (the JS constructor, `fetch`, `alarm`) on the type; everything written here is
// documented.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{Either, select};
use keycard_core::session::{MAX_KEPT_RESPONSES, SessionRecord};
use serde_json::{Value, json};
use worker::{DurableObject, Env, Method, Request, Response, Result, State, durable_object};

use super::protocol;

/// The storage key of the record.
const RECORD: &str = "record";
/// The longest wait the object accepts, whatever the caller asks: a bound on how long a
/// fetch is held open (the core's default answer timeout is 10 minutes).
const MAX_WAIT: Duration = Duration::from_secs(30 * 60);

/// One MCP session, as a Durable Object (one object per session id:
/// `namespace.id_from_name(session_id)`; bind the class as `MCP_SESSIONS`, see
/// [`crate::session`]).
///
/// * The [`SessionRecord`] lives in the object's storage, so it survives eviction; a
///   storage alarm at the record's `expires_ms` (set again by every put) deletes it.
/// * Client responses that arrive before their call started waiting are kept in memory,
///   at most [`MAX_KEPT_RESPONSES`] (the oldest goes first), until taken.
/// * A call waiting for a client response is an open `/wait` fetch parked on a oneshot
///   channel, raced against a timer; a `/deliver` fetch completes it. Durable Objects
///   deliver other fetches while one awaits a timer or channel, and every fetch to this
///   object runs in its one I/O context, so one request may wake another here.
///
/// Users never call it: the runtime constructs it, [`super::DurableSessionStore`]
/// fetches it. It only has to be exported by the Worker, which linking this crate does.
#[durable_object(alarm)]
pub struct McpSession {
    state: State,
    waiters: RefCell<HashMap<String, Waiter>>,
    kept: RefCell<VecDeque<(String, Value)>>,
    next_waiter: Cell<u64>,
}

/// A call waiting for the response to request `rid` (the map's key).
struct Waiter {
    /// Which wait registered it: a later wait for the same id replaces it, and the
    /// earlier one's timeout must not remove the later one.
    seq: u64,
    sender: oneshot::Sender<Value>,
}

impl DurableObject for McpSession {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            waiters: RefCell::new(HashMap::new()),
            kept: RefCell::new(VecDeque::new()),
            next_waiter: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match (req.method(), url.path()) {
            (Method::Post, protocol::PUT) => {
                let body = req.text().await?;
                match serde_json::from_str::<SessionRecord>(&body) {
                    Ok(record) => self.put(&body, record.expires_ms).await,
                    Err(e) => Response::error(format!("not a session record: {e}"), 400),
                }
            }
            (Method::Get, protocol::GET) => match self.stored().await? {
                Some(text) => Ok(Response::ok(text)?.with_headers(json_headers())),
                None => Response::error("no such session", 404),
            },
            (Method::Post, protocol::DELETE) => {
                let existed = self.record().await?.is_some();
                self.clear().await?;
                Response::from_json(&json!({ "existed": existed }))
            }
            (Method::Get, protocol::WAIT) => {
                let (Some(rid), Some(timeout_ms)) = (
                    query("rid"),
                    query("timeout_ms").and_then(|t| t.parse::<u64>().ok()),
                ) else {
                    return Response::error("wait needs rid and timeout_ms", 400);
                };
                let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
                let response = self.wait(rid, timeout).await?;
                Response::from_json(&json!({ "response": response }))
            }
            (Method::Post, protocol::DELIVER) => {
                let Some(rid) = query("rid") else {
                    return Response::error("deliver needs rid", 400);
                };
                let body = req.text().await?;
                match serde_json::from_str::<Value>(&body) {
                    Ok(response) => {
                        self.deliver(rid, response).await?;
                        no_content()
                    }
                    Err(e) => Response::error(format!("not JSON: {e}"), 400),
                }
            }
            (_, path) => Response::error(format!("no such operation: {path}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The record's expiry may have moved after this alarm was set (a put sets a new
        // one, but be safe): delete only what is really expired.
        match self.record().await? {
            Some(record) if record.expires_ms > now_ms() => {
                self.set_alarm(record.expires_ms).await?;
            }
            _ => self.clear().await?,
        }
        Response::empty()
    }
}

impl McpSession {
    /// The stored record's JSON text, if any: kept as the store sent it, so a field this
    /// version of the class does not know survives (during a deploy, an object may run
    /// the previous version for a while).
    async fn stored(&self) -> Result<Option<String>> {
        self.state.storage().get(RECORD).await
    }

    /// The stored record, if any.
    async fn record(&self) -> Result<Option<SessionRecord>> {
        // A record this code cannot read is treated as absent (the session simply ends).
        Ok(self
            .stored()
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Stores the record `text` (already checked to be a record) and moves the cleanup
    /// alarm to its expiry.
    async fn put(&self, text: &str, expires_ms: u64) -> Result<Response> {
        self.state.storage().put(RECORD, text).await?;
        self.set_alarm(expires_ms).await?;
        no_content()
    }

    async fn set_alarm(&self, at_ms: u64) -> Result<()> {
        #[allow(clippy::cast_precision_loss)] // Unix ms are exact in an f64 until year 287396
        let date = js_sys::Date::new(&js_sys::Number::from(at_ms as f64));
        self.state
            .storage()
            .set_alarm(worker::durable::ScheduledTime::new(date))
            .await
    }

    /// Deletes the record, the alarm, the kept responses, and ends every wait (its
    /// channel closes: the wait answers `null`).
    async fn clear(&self) -> Result<()> {
        self.waiters.borrow_mut().clear();
        self.kept.borrow_mut().clear();
        let storage = self.state.storage();
        storage.delete_all().await?;
        storage.delete_alarm().await
    }

    /// The response to request `rid`: kept already, or delivered within `timeout`.
    async fn wait(&self, rid: String, timeout: Duration) -> Result<Option<Value>> {
        if self.record().await?.is_none() {
            return Ok(None);
        }
        // From here to the registration nothing awaits: a delivery cannot slip between
        // the look in `kept` and the registration.
        let taken = {
            let mut kept = self.kept.borrow_mut();
            kept.iter()
                .position(|(r, _)| *r == rid)
                .and_then(|at| kept.remove(at))
        };
        if let Some((_, response)) = taken {
            return Ok(Some(response));
        }
        let (sender, receiver) = oneshot::channel();
        let seq = self.next_waiter.get();
        self.next_waiter.set(seq.wrapping_add(1));
        {
            let mut waiters = self.waiters.borrow_mut();
            // Waits whose fetch was abandoned (the caller went away) leave closed channels.
            waiters.retain(|_, w| !w.sender.is_canceled());
            waiters.insert(rid.clone(), Waiter { seq, sender });
        }
        let timer = std::pin::pin!(worker::Delay::from(timeout));
        let outcome = match select(receiver, timer).await {
            Either::Left((Ok(response), _)) => Some(response),
            // Timed out, or the session was deleted (the sender was dropped).
            _ => None,
        };
        let mut waiters = self.waiters.borrow_mut();
        if waiters.get(&rid).is_some_and(|w| w.seq == seq) {
            waiters.remove(&rid);
        }
        Ok(outcome)
    }

    /// Hands `response` to the wait for `rid`, or keeps it for a wait still to come.
    /// A response for a session that does not exist is dropped.
    async fn deliver(&self, rid: String, response: Value) -> Result<()> {
        if self.record().await?.is_none() {
            return Ok(());
        }
        let waiter = self.waiters.borrow_mut().remove(&rid);
        let unclaimed = match waiter {
            // A waiter that timed out a moment ago hands the response back.
            Some(waiter) => waiter.sender.send(response).err(),
            None => Some(response),
        };
        if let Some(response) = unclaimed {
            let mut kept = self.kept.borrow_mut();
            kept.retain(|(r, _)| *r != rid);
            while kept.len() >= MAX_KEPT_RESPONSES {
                kept.pop_front();
            }
            kept.push_back((rid, response));
        }
        Ok(())
    }
}

fn json_headers() -> worker::Headers {
    let headers = worker::Headers::new();
    // Cannot fail: a valid name and value.
    let _ = headers.set("content-type", "application/json");
    headers
}

fn no_content() -> Result<Response> {
    Ok(Response::empty()?.with_status(204))
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}
