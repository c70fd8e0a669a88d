//! Notifications during a call: `notifications/message` (logging) and
//! `notifications/progress`, streamed on the response to the POST that made the call.
//!
//! A call may notify only when all of these hold:
//!
//! * the method runs user code: `tools/call`, `resources/read`, `prompts/get`;
//! * the POST's `Accept` includes `text/event-stream` (otherwise there is no channel:
//!   the answer is JSON and [`crate::tools::ToolContext::log`] and
//!   [`crate::tools::ToolContext::progress`] do nothing);
//! * it is not part of a 2025-03-26 batch;
//! * for progress: the request carries `params._meta.progressToken`;
//! * for logging: 2026-07-28 — the request's `_meta` carries
//!   `io.modelcontextprotocol/logLevel` (no level, no `notifications/message`, as that
//!   revision requires; an unknown level is -32602); legacy revisions — the same `_meta`
//!   field when present, else the level `logging/setLevel` set in the call's MCP session
//!   (`Mcp-Session-Id`, when the host keeps sessions), else [`DEFAULT_LEGACY_LEVEL`].
//!   Without a session `logging/setLevel` is accepted but changes nothing: no state
//!   carries the level from one stateless POST to the next.
//!
//! The answer is JSON until the handler emits its first notification; only then does the
//! response become `text/event-stream` (each notification one `message` event, sent as
//! it happens, the JSON-RPC response the last). A call that never notifies is answered
//! exactly as before. At most [`MAX_NOTIFICATIONS`] notifications are sent per call; the
//! rest are dropped (and logged once). Progress values that do not increase are dropped,
//! as the specification requires them to increase.

use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Future, Stream, StreamExt};
use serde_json::{Map, Value, json};

use super::jsonrpc::RpcError;
use super::version::{Era, ProtocolVersion};

/// The `_meta` key carrying a request's log level (2026-07-28; honored in every era).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// The level legacy-era calls log at when their request names none.
pub const DEFAULT_LEGACY_LEVEL: LogLevel = LogLevel::Info;
/// The most notifications one call sends.
pub const MAX_NOTIFICATIONS: u32 = 1000;

/// A log message's severity (RFC 5424), least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    /// Every level, least severe first.
    pub const ALL: [LogLevel; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    /// The protocol's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }

    /// The level named `name`, if it is one.
    ///
    /// ```
    /// use keycard_core::tools::LogLevel;
    /// assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
    /// assert!(LogLevel::Error > LogLevel::Warning);
    /// assert_eq!(LogLevel::parse("verbose"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// The methods whose handlers may notify.
pub(crate) fn may_notify(method: &str) -> bool {
    matches!(method, "tools/call" | "resources/read" | "prompts/get")
}

/// The request's log level: `Ok(None)` when the call must not log.
fn log_level(
    version: ProtocolVersion,
    meta: Option<&Map<String, Value>>,
) -> Result<Option<LogLevel>, RpcError> {
    match meta.and_then(|m| m.get(META_LOG_LEVEL)) {
        Some(value) => value
            .as_str()
            .and_then(LogLevel::parse)
            .map(Some)
            .ok_or_else(|| {
                RpcError::InvalidParams(format!(
                    "params._meta[\"{META_LOG_LEVEL}\"] must be one of {}",
                    LogLevel::ALL.map(LogLevel::as_str).join(", ")
                ))
            }),
        None if version.era() == Era::Legacy => Ok(Some(DEFAULT_LEGACY_LEVEL)),
        None => Ok(None),
    }
}

/// Checks the request's `_meta` log level (an unknown level is -32602 in every case).
pub(crate) fn check_log_level(
    version: ProtocolVersion,
    params: &Map<String, Value>,
) -> Result<(), RpcError> {
    log_level(version, meta(params)).map(|_| ())
}

fn meta(params: &Map<String, Value>) -> Option<&Map<String, Value>> {
    params.get("_meta").and_then(Value::as_object)
}

/// Where a call's notifications go: the sending half of its channel, the request's
/// progress token and log level.
pub(crate) struct Notifier {
    sink: mpsc::UnboundedSender<Value>,
    progress_token: Option<Value>,
    level: Option<LogLevel>,
    sent: AtomicU32,
    last_progress: Mutex<Option<f64>>,
}

impl Notifier {
    /// A notifier for a request with `params`, and the receiving half; `None` when the
    /// request can produce no notification (no progress token, no log level).
    ///
    /// With a session (`session_level`: `Some(level set by logging/setLevel, if any)`) a
    /// channel always exists, since the call may send requests (elicitation, sampling);
    /// the session's level applies when the request names none.
    pub(crate) fn for_request(
        version: ProtocolVersion,
        params: &Map<String, Value>,
        session_level: Option<Option<LogLevel>>,
    ) -> Option<(Self, mpsc::UnboundedReceiver<Value>)> {
        let meta = meta(params);
        let progress_token = meta
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
            .cloned();
        let named = meta.is_some_and(|m| m.contains_key(META_LOG_LEVEL));
        let level = match session_level {
            Some(Some(level)) if !named => Some(level),
            _ => log_level(version, meta).ok().flatten(),
        };
        if progress_token.is_none() && level.is_none() && session_level.is_none() {
            return None;
        }
        let (sink, notes) = mpsc::unbounded();
        let notifier = Self {
            sink,
            progress_token,
            level,
            sent: AtomicU32::new(0),
            last_progress: Mutex::new(None),
        };
        Some((notifier, notes))
    }

    /// Sends the notification `method` (one the caller has decided the client wants).
    pub(crate) fn notify(&self, method: &str, params: Value) -> bool {
        self.send(method, params)
    }

    fn send(&self, method: &str, params: Value) -> bool {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        if n >= MAX_NOTIFICATIONS {
            if n == MAX_NOTIFICATIONS {
                tracing::warn!(
                    limit = MAX_NOTIFICATIONS,
                    "a call sent too many notifications; the rest are dropped"
                );
            }
            return false;
        }
        self.sink
            .unbounded_send(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
            .is_ok()
    }

    /// Sends the server request `method` with `id` to the client (elicitation, sampling).
    pub(crate) fn request(&self, id: &str, method: &str, params: Value) -> bool {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        if n >= MAX_NOTIFICATIONS {
            return false;
        }
        self.sink
            .unbounded_send(
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
            )
            .is_ok()
    }

    pub(crate) fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) -> bool {
        match self.level {
            Some(min) if level >= min => {
                let mut params = Map::new();
                params.insert("level".into(), level.as_str().into());
                if let Some(logger) = logger {
                    params.insert("logger".into(), logger.into());
                }
                params.insert("data".into(), data);
                self.send("notifications/message", Value::Object(params))
            }
            _ => false,
        }
    }

    pub(crate) fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> bool {
        let Some(token) = &self.progress_token else {
            return false;
        };
        if !progress.is_finite() {
            return false;
        }
        {
            let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|l| progress <= l) {
                return false;
            }
            *last = Some(progress);
        }
        let mut params = Map::new();
        params.insert("progressToken".into(), token.clone());
        params.insert("progress".into(), number(progress));
        if let Some(total) = total.filter(|t| t.is_finite()) {
            params.insert("total".into(), number(total));
        }
        if let Some(message) = message {
            params.insert("message".into(), message.into());
        }
        self.send("notifications/progress", Value::Object(params))
    }
}

/// `progress` as JSON: an integer when it is one (`50`, not `50.0`).
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// What a call's exchange yields: its notifications, then its outcome.
pub(crate) enum Event<T> {
    /// A notification, as a JSON-RPC message.
    Note(Value),
    /// The call's outcome; nothing follows.
    Done(T),
}

/// Drives a call and its notification channel together: notifications first, as they
/// come, then (after the ones still queued) the outcome.
pub(crate) struct Exchange<F: Future> {
    work: Option<F>,
    notes: mpsc::UnboundedReceiver<Value>,
    outcome: Option<F::Output>,
}

impl<F: Future + Unpin> Exchange<F> {
    /// `work` (pinned, e.g. boxed) and the receiving half of its notifier.
    pub(crate) fn new(work: F, notes: mpsc::UnboundedReceiver<Value>) -> Self {
        Self {
            work: Some(work),
            notes,
            outcome: None,
        }
    }
}

impl<F> Stream for Exchange<F>
where
    F: Future + Unpin,
    F::Output: Unpin,
{
    type Item = Event<F::Output>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(work) = this.work.as_mut() {
            if let Poll::Ready(Some(note)) = this.notes.poll_next_unpin(cx) {
                return Poll::Ready(Some(Event::Note(note)));
            }
            match Pin::new(work).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => {
                    // Dropping the work drops its context, and with it the sender.
                    this.work = None;
                    this.outcome = Some(outcome);
                }
            }
        }
        if let Ok(note) = this.notes.try_recv() {
            return Poll::Ready(Some(Event::Note(note)));
        }
        Poll::Ready(this.outcome.take().map(Event::Done))
    }
}

/// One SSE `message` event carrying `message`.
pub(crate) fn sse_event(message: &Value) -> Bytes {
    // Compact JSON has no raw newline, so one `data:` line holds it.
    let json = serde_json::to_string(message).unwrap_or_default();
    let mut event = String::with_capacity(json.len() + 24);
    event.push_str("event: message\ndata: ");
    event.push_str(&json);
    event.push_str("\n\n");
    Bytes::from(event)
}
