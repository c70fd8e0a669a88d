//! [`DurableSessionStore`]: the core's session port over the [`McpSession`] Durable
//! Objects.
//!
//! [`McpSession`]: super::McpSession

use std::time::Duration;

use keycard_core::ports::BoxFuture;
use keycard_core::session::{SessionRecord, SessionStore, SessionStoreError};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::send::{SendFuture, SendWrapper};
use worker::{ObjectNamespace, Request};

use super::protocol;

/// The longest part of an unexpected answer quoted in an error.
const QUOTE_MAX: usize = 200;

/// A [`SessionStore`] keeping each session in its own [`McpSession`](super::McpSession)
/// Durable Object, named by the session id, so every isolate of the Worker reaches the
/// same session.
///
/// Each call is one Durable Object request. Failures (the object cannot be reached, or
/// answers something unexpected) are [`SessionStoreError::Unavailable`] with a message
/// naming the binding and the problem (never the session id or anything secret); it
/// never panics.
pub struct DurableSessionStore {
    /// The JS namespace object. Workers isolates are single-threaded, so the wrapper's
    /// `Send`/`Sync` (which the core's store trait needs) is never exercised across
    /// threads.
    namespace: SendWrapper<ObjectNamespace>,
    binding: String,
}

impl std::fmt::Debug for DurableSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableSessionStore")
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl DurableSessionStore {
    /// A store over `namespace`, the Durable Object binding named `binding` (the name
    /// only appears in error messages).
    pub fn new(namespace: ObjectNamespace, binding: &str) -> Self {
        Self {
            namespace: SendWrapper::new(namespace),
            binding: binding.to_owned(),
        }
    }

    fn unavailable(&self, what: &str, detail: impl std::fmt::Display) -> SessionStoreError {
        SessionStoreError::Unavailable(format!(
            "Durable Object binding {}: {what}: {detail}",
            self.binding
        ))
    }

    /// One request to the session's object: its status and body.
    async fn call(
        &self,
        id: &str,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<(u16, String), SessionStoreError> {
        let stub = self
            .namespace
            .id_from_name(id)
            .and_then(|object| object.get_stub())
            .map_err(|e| self.unavailable("cannot address the session's object", e))?;
        // A plain `web_sys` request: `worker::RequestInit` would also convert `cf`
        // properties this request never has (measured: ~8 KB of wasm).
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(&body));
        }
        let request = web_sys::Request::new_with_str_and_init(
            &format!("{}{path_and_query}", protocol::ORIGIN),
            &init,
        )
        .map_err(|e| self.unavailable("cannot build the request", crate::js::error_message(&e)))?;
        let mut response = stub
            .fetch_with_request(Request::from(request))
            .await
            .map_err(|e| self.unavailable("the session's object did not answer", e))?;
        let status = response.status_code();
        let text = response
            .text()
            .await
            .map_err(|e| self.unavailable("cannot read the object's answer", e))?;
        Ok((status, text))
    }

    /// The error for an answer other than the expected one.
    fn unexpected(&self, op: &str, status: u16, body: &str) -> SessionStoreError {
        let mut quote: String = body.chars().take(QUOTE_MAX).collect();
        if quote.len() < body.len() {
            quote.push('…');
        }
        self.unavailable(
            &format!("{op} got an unexpected answer"),
            format_args!("{status} {quote}"),
        )
    }

    /// The JSON of a 200 answer to `op`.
    fn json_of(&self, op: &str, status: u16, body: &str) -> Result<Value, SessionStoreError> {
        if status != 200 {
            return Err(self.unexpected(op, status, body));
        }
        serde_json::from_str(body).map_err(|_| self.unexpected(op, status, body))
    }
}

/// `value` for a query string.
fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

impl SessionStore for DurableSessionStore {
    fn put<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>> {
        Box::pin(SendFuture::new(async move {
            let body = serde_json::to_string(record)
                .map_err(|e| self.unavailable("cannot encode the record", e))?;
            match self.call(id, "POST", protocol::PUT, Some(body)).await? {
                (204, _) => Ok(()),
                (status, body) => Err(self.unexpected("put", status, &body)),
            }
        }))
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionStoreError>> {
        Box::pin(SendFuture::new(async move {
            match self.call(id, "GET", protocol::GET, None).await? {
                (404, _) => Ok(None),
                (200, body) => serde_json::from_str::<SessionRecord>(&body)
                    .map(Some)
                    .map_err(|_| self.unexpected("get", 200, &body)),
                (status, body) => Err(self.unexpected("get", status, &body)),
            }
        }))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, SessionStoreError>> {
        Box::pin(SendFuture::new(async move {
            let (status, body) = self.call(id, "POST", protocol::DELETE, None).await?;
            self.json_of("delete", status, &body)?
                .get("existed")
                .and_then(Value::as_bool)
                .ok_or_else(|| self.unexpected("delete", status, &body))
        }))
    }

    fn wait_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Value>, SessionStoreError>> {
        Box::pin(SendFuture::new(async move {
            let path = format!(
                "{}?rid={}&timeout_ms={}",
                protocol::WAIT,
                encode(request_id),
                timeout.as_millis()
            );
            let (status, body) = self.call(id, "GET", &path, None).await?;
            let mut answer = self.json_of("wait", status, &body)?;
            match answer.get_mut("response").map(Value::take) {
                Some(Value::Null) => Ok(None),
                Some(response) => Ok(Some(response)),
                None => Err(self.unexpected("wait", status, &body)),
            }
        }))
    }

    fn deliver_response<'a>(
        &'a self,
        id: &'a str,
        request_id: &'a str,
        response: Value,
    ) -> BoxFuture<'a, Result<(), SessionStoreError>> {
        Box::pin(SendFuture::new(async move {
            let path = format!("{}?rid={}", protocol::DELIVER, encode(request_id));
            let body = response.to_string();
            match self.call(id, "POST", &path, Some(body)).await? {
                (204, _) => Ok(()),
                (status, body) => Err(self.unexpected("deliver", status, &body)),
            }
        }))
    }
}
