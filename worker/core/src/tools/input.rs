//! Asking the client during a call: form elicitation ([`ToolContext::elicit`]) and
//! sampling ([`ToolContext::sample`]), in both protocol eras.
//!
//! * **2026-07-28** — stateless. The first time a handler asks, the call ends with an
//!   `input_required` result carrying the request (`inputRequests`); the client answers
//!   it and sends the *same call again* with `inputResponses`, and the handler runs again
//!   from the start: this time the question finds its answer. Questions are keyed by
//!   their order in the call (`input-1`, `input-2`, …), so a handler must ask the same
//!   questions in the same order on every run, and anything it does before a question
//!   happens once per round (keep side effects after the questions). A client retries
//!   with the latest round's answers only; the earlier ones travel in the result's
//!   `requestState`, which the client echoes (they are its own answers: nothing in it
//!   needs protecting from it). No server state is involved: whichever isolate receives
//!   the retry can answer it.
//! * **2025-06-18 / 2025-11-25** — with a session ([`crate::session`]): the request goes
//!   to the client on the SSE answer to its call; the client's response comes back in
//!   another POST of the same session, through the session store, to the call waiting
//!   for it in whichever isolate runs it. Without a session (sessions off, or a client
//!   that did not keep the session id), without `text/event-stream` in the call's
//!   `Accept`, or when the client did not declare the capability, the question fails
//!   with a [`ToolError`] saying which.
//!
//! [`ToolContext::elicit`]: super::ToolContext::elicit
//! [`ToolContext::sample`]: super::ToolContext::sample

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::ToolError;
use crate::mcp::notify::Notifier;
use crate::ports::Clock;
use crate::session::SessionStore;

/// The answer to a form elicitation.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicited<T> {
    /// The user submitted the form: its content.
    Accepted(T),
    /// The user explicitly declined.
    Declined,
    /// The user dismissed the request without choosing.
    Cancelled,
}

impl<T> Elicited<T> {
    /// The content, when accepted.
    pub fn accepted(self) -> Option<T> {
        match self {
            Self::Accepted(value) => Some(value),
            _ => None,
        }
    }

    /// The protocol's name for the action: `accept`, `decline` or `cancel`.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accept",
            Self::Declined => "decline",
            Self::Cancelled => "cancel",
        }
    }
}

/// A sampling request (`sampling/createMessage`): the conversation to complete and how.
///
/// ```
/// use keycard_core::tools::SamplingRequest;
/// let request = SamplingRequest::new(200)
///     .system("You are terse.")
///     .user("Summarise: the build is green.");
/// assert_eq!(request.to_params()["maxTokens"], 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct SamplingRequest {
    messages: Vec<Value>,
    max_tokens: u32,
    system_prompt: Option<String>,
    temperature: Option<f64>,
    model_hints: Vec<String>,
}

impl SamplingRequest {
    /// A request for at most `max_tokens` tokens, with no messages yet.
    pub fn new(max_tokens: u32) -> Self {
        Self {
            messages: Vec::new(),
            max_tokens,
            system_prompt: None,
            temperature: None,
            model_hints: Vec::new(),
        }
    }

    /// Adds a user message with `text`.
    pub fn user(mut self, text: impl Into<String>) -> Self {
        self.messages.push(message("user", text.into()));
        self
    }

    /// Adds an assistant message with `text` (earlier turns of the conversation).
    pub fn assistant(mut self, text: impl Into<String>) -> Self {
        self.messages.push(message("assistant", text.into()));
        self
    }

    /// The system prompt.
    pub fn system(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// The sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// A model name hint (the client chooses the model; hints are advisory).
    pub fn model_hint(mut self, name: impl Into<String>) -> Self {
        self.model_hints.push(name.into());
        self
    }

    /// The `sampling/createMessage` params.
    pub fn to_params(&self) -> Value {
        let mut params = Map::new();
        params.insert("messages".into(), Value::Array(self.messages.clone()));
        params.insert("maxTokens".into(), self.max_tokens.into());
        if let Some(system) = &self.system_prompt {
            params.insert("systemPrompt".into(), system.clone().into());
        }
        if let Some(t) = self.temperature {
            params.insert("temperature".into(), json!(t));
        }
        if !self.model_hints.is_empty() {
            let hints: Vec<Value> = self
                .model_hints
                .iter()
                .map(|n| json!({ "name": n }))
                .collect();
            params.insert("modelPreferences".into(), json!({ "hints": hints }));
        }
        Value::Object(params)
    }
}

fn message(role: &str, text: String) -> Value {
    json!({ "role": role, "content": { "type": "text", "text": text } })
}

/// What the client's model answered to a [`SamplingRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    /// `assistant`, normally.
    pub role: String,
    /// The content block(s), as sent (`{"type": "text", "text": …}` for text).
    pub content: Value,
    /// The model the client used.
    pub model: String,
    /// Why generation stopped (`endTurn`, `maxTokens`, …), when said.
    pub stop_reason: Option<String>,
}

impl Sampled {
    /// The text of the answer: its text block(s), joined.
    pub fn text(&self) -> String {
        let blocks = match &self.content {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        };
        blocks
            .into_iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("")
    }

    pub(crate) fn from_result(result: &Value) -> Result<Self, ToolError> {
        let text = |key: &str| result.get(key).and_then(Value::as_str).map(str::to_owned);
        let content = result
            .get("content")
            .cloned()
            .ok_or_else(|| ToolError::new("the client's sampling answer has no content"))?;
        Ok(Self {
            role: text("role").unwrap_or_else(|| "assistant".into()),
            content,
            model: text("model").unwrap_or_default(),
            stop_reason: text("stopReason"),
        })
    }
}

/// The kind of question, for capability checks and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// `elicitation/create`, form mode.
    Form,
    /// `sampling/createMessage`.
    Sampling,
}

impl Ask {
    fn method(self) -> &'static str {
        match self {
            Self::Form => "elicitation/create",
            Self::Sampling => "sampling/createMessage",
        }
    }

    /// Whether `capabilities` (the client's) allow it.
    pub(crate) fn allowed_by(self, capabilities: &Value) -> bool {
        match self {
            // `elicitation: {}` is form mode (2025-06-18); 2025-11-25 may name `form`.
            Self::Form => capabilities.get("elicitation").is_some_and(|e| {
                e.as_object()
                    .is_some_and(|m| m.is_empty() || m.contains_key("form"))
            }),
            Self::Sampling => capabilities.get("sampling").is_some_and(Value::is_object),
        }
    }

    fn capability(self) -> &'static str {
        match self {
            Self::Form => "elicitation (form mode)",
            Self::Sampling => "sampling",
        }
    }
}

/// Everything a call may send its client: notifications (`notifier`, when the call has
/// an SSE channel) and questions (`input`).
pub(crate) struct ToClient {
    pub(crate) notifier: Option<Notifier>,
    pub(crate) input: InputChannel,
}

impl ToClient {
    /// A call that can send nothing; `why` is what a question answers.
    pub(crate) fn nothing(why: &'static str) -> Self {
        Self {
            notifier: None,
            input: InputChannel::Unavailable(why),
        }
    }
}

/// How a call can ask its client for input.
pub(crate) enum InputChannel {
    /// It cannot: the reason, for the error a question gets.
    Unavailable(&'static str),
    /// 2026-07-28: the `input_required` round trip.
    Stateless(Stateless),
    /// Legacy revisions with a session.
    Session(SessionLink),
    /// A test context's scripted answers, in order (feature `testing`).
    #[cfg(any(test, feature = "testing"))]
    Scripted(std::sync::Mutex<std::collections::VecDeque<Value>>),
}

/// The 2026-07-28 round trip's state for one call.
pub(crate) struct Stateless {
    /// `params._meta["io.modelcontextprotocol/clientCapabilities"]`.
    capabilities: Value,
    /// Every answer known: those of earlier rounds (carried in `requestState`) and
    /// `params.inputResponses` (this round's).
    responses: Map<String, Value>,
    /// Questions asked this round without an answer yet.
    pending: Mutex<Map<String, Value>>,
    next: AtomicU32,
}

impl Stateless {
    /// The state for a call with these client capabilities, `inputResponses` and
    /// `requestState`. A client retries with the answers of the latest round only, so
    /// the answers of earlier rounds travel in `requestState` (which this server wrote:
    /// base64url of `{"answers": {…}}`; they are the client's own answers, so nothing in
    /// it needs protecting from the client). `Err` when `requestState` is not one.
    pub(crate) fn new(
        capabilities: Value,
        responses: Map<String, Value>,
        request_state: Option<&str>,
    ) -> Result<Self, String> {
        let mut all = match request_state {
            None => Map::new(),
            Some(state) => decode_state(state)
                .ok_or_else(|| "params.requestState is not one this server issued".to_owned())?,
        };
        all.extend(responses);
        Ok(Self {
            capabilities,
            responses: all,
            pending: Mutex::new(Map::new()),
            next: AtomicU32::new(0),
        })
    }
}

/// `requestState` carrying `answers`.
fn encode_state(answers: &Map<String, Value>) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(&json!({ "answers": answers })).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_state(state: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state)
        .ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(mut o) => match o.remove("answers")? {
            Value::Object(answers) => Some(answers),
            _ => None,
        },
        _ => None,
    }
}

/// A legacy call's way to its session.
pub(crate) struct SessionLink {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) session_id: String,
    /// The client's capabilities, as declared at `initialize`.
    pub(crate) capabilities: Value,
    /// The resources the session subscribed to.
    pub(crate) subscriptions: Vec<String>,
    /// Unique per call: server request ids are `{prefix}-{n}`.
    pub(crate) request_prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) next: AtomicU32,
    /// Times the waits (they extend the call's outbound budget).
    pub(crate) clock: Arc<dyn Clock>,
}

impl InputChannel {
    /// Asks `kind` with `params`: the client's `result` object.
    pub(crate) async fn ask(
        &self,
        notifier: Option<&Notifier>,
        kind: Ask,
        params: Value,
        waited_ms: &AtomicU64,
    ) -> Result<Value, ToolError> {
        match self {
            Self::Unavailable(reason) => Err(ToolError::new(format!(
                "cannot ask the client ({}): {reason}",
                kind.method()
            ))),
            Self::Stateless(state) => {
                if !kind.allowed_by(&state.capabilities) {
                    return Err(not_declared(kind));
                }
                let n = state.next.fetch_add(1, Ordering::Relaxed) + 1;
                let key = format!("input-{n}");
                if let Some(answer) = state.responses.get(&key) {
                    return Ok(answer.clone());
                }
                state
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, json!({ "method": kind.method(), "params": params }));
                Err(ToolError::InputRequired)
            }
            #[cfg(any(test, feature = "testing"))]
            Self::Scripted(answers) => {
                let _ = (notifier, waited_ms);
                answers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front()
                    .ok_or_else(|| {
                        ToolError::new(format!(
                            "the test context has no scripted answer left for {} ({params})",
                            kind.method()
                        ))
                    })
            }
            Self::Session(link) => {
                if !kind.allowed_by(&link.capabilities) {
                    return Err(not_declared(kind));
                }
                let Some(notifier) = notifier else {
                    return Err(ToolError::new(format!(
                        "cannot ask the client ({}): its request did not accept text/event-stream, the only way a request reaches it during a call",
                        kind.method()
                    )));
                };
                let n = link.next.fetch_add(1, Ordering::Relaxed) + 1;
                let request_id = format!("{}-{n}", link.request_prefix);
                if !notifier.request(&request_id, kind.method(), params) {
                    return Err(ToolError::new(format!(
                        "cannot ask the client ({}): the call's stream is closed",
                        kind.method()
                    )));
                }
                let started = link.clock.now_ms();
                let answer = link
                    .store
                    .wait_response(&link.session_id, &request_id, link.timeout)
                    .await
                    .map_err(ToolError::new)?;
                waited_ms.fetch_add(
                    link.clock.now_ms().saturating_sub(started),
                    Ordering::Relaxed,
                );
                let Some(answer) = answer else {
                    return Err(ToolError::new(format!(
                        "no answer to {}: the client did not answer within {} s, or its session ended",
                        kind.method(),
                        link.timeout.as_secs()
                    )));
                };
                if let Some(error) = answer.get("error") {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message");
                    return Err(ToolError::new(format!(
                        "the client refused {}: {}",
                        kind.method(),
                        message.chars().take(300).collect::<String>()
                    )));
                }
                Ok(answer.get("result").cloned().unwrap_or(Value::Null))
            }
        }
    }

    /// The `input_required` result of a 2026-07-28 round whose questions still wait for
    /// answers: `inputRequests`, and the answers so far as `requestState`. `None` when
    /// the call asked nothing unanswered.
    pub(crate) fn input_required(&self) -> Option<Value> {
        let Self::Stateless(state) = self else {
            return None;
        };
        let asked = std::mem::take(&mut *state.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if asked.is_empty() {
            return None;
        }
        let mut result = Map::new();
        result.insert("resultType".into(), "input_required".into());
        result.insert("inputRequests".into(), Value::Object(asked));
        if !state.responses.is_empty() {
            result.insert("requestState".into(), encode_state(&state.responses).into());
        }
        Some(Value::Object(result))
    }
}

fn not_declared(kind: Ask) -> ToolError {
    ToolError::new(format!(
        "cannot ask the client ({}): it did not declare the {} capability",
        kind.method(),
        kind.capability()
    ))
}

/// An elicitation answer (`ElicitResult`) as [`Elicited`] of its content.
pub(crate) fn elicited(result: &Value) -> Result<Elicited<Map<String, Value>>, ToolError> {
    match result.get("action").and_then(Value::as_str) {
        Some("accept") => Ok(Elicited::Accepted(
            result
                .get("content")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        )),
        Some("decline") => Ok(Elicited::Declined),
        Some("cancel") => Ok(Elicited::Cancelled),
        _ => Err(ToolError::new(
            "the client's elicitation answer has no valid action (accept, decline or cancel)",
        )),
    }
}
