//! MCP over Streamable HTTP: both protocol eras, stateless by default, with sessions when
//! the host provides a store.
//!
//! The gateway calls [`Endpoint::precheck`] (transport rules that need no identity),
//! then verifies the bearer token, then [`Endpoint::handle`]. One POST carries one
//! JSON-RPC message; the answer is one `application/json` body, or `202 Accepted` for
//! notifications and responses — or, for a call whose handler logs, reports progress or
//! asks the client something while the client accepts `text/event-stream`, an SSE stream
//! of those messages followed by the response ([`notify`]). `notifications/cancelled`
//! stops the caller's own call in this isolate ([`cancel`]). In the 2025-03-26 era only
//! (no `MCP-Protocol-Version` header, or that version), a POST may carry a JSON-RPC batch:
//! the answer is the array of the responses to its requests (`initialize` may not be
//! batched), or 202 when it holds only notifications and responses; later revisions
//! refuse batches with -32600.
//!
//! **Sessions** ([`crate::session`]): off unless the gateway was given a store
//! ([`crate::Gateway::with_sessions`]). Then a legacy `initialize` answers with an
//! `Mcp-Session-Id`; a request naming one must come from the identity that opened it
//! (404 otherwise); `DELETE` ends it; and calls of the session may ask the client for
//! input (elicitation, sampling), keep a log level and resource subscriptions. Requests
//! without the header are served statelessly as before. 2026-07-28 ignores the header
//! and asks for input with the stateless `input_required` round trip
//! ([`crate::tools::input`]).
//!
//! * [`transport`]: method, `Origin`, `Accept`, size and content-type checks.
//! * [`jsonrpc`]: message parsing and the JSON-RPC error codes.
//! * [`version`]: protocol versions, eras and the header rules of each.
//! * [`dispatch`]: the methods.
//! * [`pagination`]: list cursors.
//! * [`notify`]: logging and progress during a call, and the SSE answer.
//! * [`cancel`]: cancellation of in-flight calls.
//!
//! Statuses of transport refusals and JSON-RPC errors are decided in
//! [`crate::http::response`] ([`crate::http::response::rpc_status`]).

pub mod cancel;
pub mod dispatch;
pub mod elicitation;
pub mod jsonrpc;
pub mod notify;
pub mod pagination;
pub mod transport;
pub mod version;

use std::sync::Arc;

use bytes::Bytes;

use crate::auth::identity::Identity;
use crate::config::Config;
use crate::delegation::UpstreamAccess;
use crate::http::body::{Body, BodyStream};
use crate::http::response;
use crate::ports::{Clock, Crypto};
use crate::server::Server;
use crate::session::{self, SESSION_HEADER, SessionRecord, Sessions};
use crate::tools::{InputChannel, SessionLink, Stateless, ToClient};
use futures::StreamExt;
use jsonrpc::{Incoming, RequestId, RpcError};
use notify::{Event, Exchange, Notifier};
use serde_json::{Map, Value};
use version::{Era, ProtocolVersion};

/// The MCP endpoint: the protocol around a [`Server`].
pub struct Endpoint {
    config: Arc<Config>,
    server: Server,
    /// The calls in flight in this isolate, for `notifications/cancelled`.
    calls: cancel::Registry,
    /// Sessions, when on (see [`crate::session`]).
    sessions: Option<SessionLayer>,
    /// MUTATION TESTING ONLY (feature `naive-cache-demo`, set by
    /// [`crate::Gateway::with_sessions_ignoring_owner`]): skip the owner comparison in
    /// [`Endpoint::session_of`], so `emulator replay --naive-sessions` can show that the
    /// replay's oracle catches a session used with another identity's token. Absent from
    /// every production build.
    #[cfg(feature = "naive-cache-demo")]
    ignore_session_owner: bool,
}

/// What the endpoint needs to keep sessions.
pub(crate) struct SessionLayer {
    pub(crate) sessions: Sessions,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) crypto: Arc<dyn Crypto>,
    /// The zone this endpoint serves: a session belongs to one.
    pub(crate) zone: Option<String>,
}

/// The session a request belongs to, checked.
struct Active {
    id: String,
    record: SessionRecord,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The endpoint serving `server`.
    pub fn new(config: Arc<Config>, server: Server) -> Self {
        Self {
            config,
            server,
            calls: cancel::Registry::default(),
            sessions: None,
            #[cfg(feature = "naive-cache-demo")]
            ignore_session_owner: false,
        }
    }

    /// Whether a session's owner must be the requester: always, except with the
    /// mutation-testing knob above.
    fn checks_session_owner(&self) -> bool {
        #[cfg(feature = "naive-cache-demo")]
        if self.ignore_session_owner {
            return false;
        }
        true
    }

    /// Turns sessions on for this endpoint.
    pub(crate) fn set_sessions(&mut self, layer: SessionLayer) {
        self.sessions = Some(layer);
    }

    /// Mutation testing only: sets the `ignore_session_owner` field (see there).
    #[cfg(feature = "naive-cache-demo")]
    pub(crate) fn ignore_session_owner(&mut self) {
        self.ignore_session_owner = true;
    }

    /// Whether sessions are on.
    pub fn has_sessions(&self) -> bool {
        self.sessions.is_some()
    }

    /// The session named by the request's `Mcp-Session-Id`, checked against `identity`:
    /// `Ok(None)` without one (or without sessions, or in 2026-07-28, which ignores the
    /// header); `Err` is the whole answer (404 for a session that is unknown, expired,
    /// of another zone or of another identity — indistinguishably —, 503 when the store
    /// fails).
    async fn session_of(
        &self,
        headers: &http::HeaderMap,
        identity: &Identity,
    ) -> Result<Option<Active>, http::Response<Bytes>> {
        let Some(layer) = &self.sessions else {
            return Ok(None);
        };
        let Some(value) = headers.get(SESSION_HEADER) else {
            return Ok(None);
        };
        if matches!(version::header_version(headers), Ok(v) if v.era() == Era::Modern) {
            return Ok(None);
        }
        let Some(id) = value.to_str().ok().filter(|id| session::is_well_formed(id)) else {
            return Err(response::session_not_found());
        };
        let record = match layer.sessions.store.get(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(response::session_not_found()),
            Err(e) => return Err(response::session_store_unavailable(&e)),
        };
        let now = layer.clock.now_ms();
        if record.expires_ms <= now
            || record.zone != layer.zone
            || (self.checks_session_owner() && record.owner != session::owner_of(identity))
        {
            tracing::info!(
                "a request named a session that is expired, of another zone or of another identity"
            );
            return Err(response::session_not_found());
        }
        let mut record = record;
        let settings = &layer.sessions.settings;
        let fresh = now.saturating_add(millis(settings.idle_ttl));
        if fresh.saturating_sub(record.expires_ms) >= millis(settings.touch_every) {
            record.expires_ms = fresh;
            if let Err(e) = layer.sessions.store.put(id, &record).await {
                tracing::warn!(error = %e, "could not extend a session's expiry");
            }
        }
        Ok(Some(Active {
            id: id.to_owned(),
            record,
        }))
    }

    /// Opens a session for a successful `initialize` (its `params` and `result`): the
    /// new id, or `None` when sessions are off or the store failed (the client then
    /// runs statelessly; logged).
    async fn open_session(
        &self,
        identity: &Identity,
        params: &Map<String, Value>,
        result: &Value,
    ) -> Option<String> {
        let layer = self.sessions.as_ref()?;
        let mut random = [0u8; 16];
        if let Err(e) = layer.crypto.fill_random(&mut random) {
            tracing::warn!(error = %e, "no randomness for a session id; answering without a session");
            return None;
        }
        let id = session::hex(&random);
        let now = layer.clock.now_ms();
        let record = SessionRecord {
            owner: session::owner_of(identity),
            zone: layer.zone.clone(),
            protocol_version: result
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            client_capabilities: params.get("capabilities").cloned().unwrap_or(Value::Null),
            log_level: None,
            subscriptions: Vec::new(),
            created_ms: now,
            expires_ms: now.saturating_add(millis(layer.sessions.settings.idle_ttl)),
        };
        match layer.sessions.store.put(&id, &record).await {
            Ok(()) => Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "could not open a session; answering without one");
                None
            }
        }
    }

    /// `DELETE` of the session the request names, by `identity` (already
    /// authenticated): 204, or 404 as for any request naming a session that is not its
    /// own (see [`crate::session`]), or 400 without the
    /// header.
    pub async fn delete_session(
        &self,
        headers: &http::HeaderMap,
        identity: &Identity,
    ) -> http::Response<Bytes> {
        let Some(layer) = &self.sessions else {
            return response::transport_error(&transport::TransportError::MethodNotAllowed(
                "DELETE".into(),
            ));
        };
        if headers.get(SESSION_HEADER).is_none() {
            return response::rpc_error(
                None,
                &RpcError::InvalidRequest(
                    "DELETE needs the Mcp-Session-Id header of the session to end".into(),
                ),
                Era::Modern,
            );
        }
        match self.session_of(headers, identity).await {
            Ok(Some(active)) => match layer.sessions.store.delete(&active.id).await {
                Ok(_) => response::no_content(),
                Err(e) => response::session_store_unavailable(&e),
            },
            Ok(None) => response::session_not_found(),
            Err(refused) => refused,
        }
    }

    /// `resources/subscribe` and `resources/unsubscribe` (legacy revisions, sessions
    /// on): the URI is added to or removed from the session's subscriptions, `{}`.
    async fn subscription(
        &self,
        headers: &http::HeaderMap,
        id: &RequestId,
        method: &str,
        params: &Map<String, Value>,
        session: Option<Active>,
    ) -> http::Response<Bytes> {
        let version = match version::resolve(headers, method, Some(params), true) {
            Ok(v) => v,
            Err(e) => return response::rpc_error(Some(id), &e, Era::Modern),
        };
        let refuse = |e: RpcError| response::rpc_error(Some(id), &e, version.era());
        if version.era() == Era::Modern {
            return refuse(RpcError::MethodNotFound(format!(
                "{method} (removed in {}; this server offers subscriptions in sessions of the earlier revisions)",
                version.as_str()
            )));
        }
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return refuse(RpcError::InvalidParams(
                "params.uri must be a string".into(),
            ));
        };
        let (Some(mut active), Some(layer)) = (session, &self.sessions) else {
            return refuse(RpcError::InvalidRequest(format!(
                "{method} needs the session: send the Mcp-Session-Id that initialize returned"
            )));
        };
        let subs = &mut active.record.subscriptions;
        if method == "resources/subscribe" {
            if !subs.iter().any(|u| u == uri) {
                if subs.len() >= MAX_SUBSCRIPTIONS {
                    return refuse(RpcError::InvalidParams(format!(
                        "a session may subscribe to at most {MAX_SUBSCRIPTIONS} resources"
                    )));
                }
                subs.push(uri.to_owned());
            }
        } else {
            subs.retain(|u| u != uri);
        }
        if let Err(e) = layer.sessions.store.put(&active.id, &active.record).await {
            return response::session_store_unavailable(&e);
        }
        response::rpc_result(id, serde_json::json!({}))
    }

    /// How a call in `version` with `params` (in `session`, if any) can ask its client
    /// for input.
    fn input_channel(
        &self,
        version: ProtocolVersion,
        params: &Map<String, Value>,
        session: Option<&Active>,
    ) -> InputChannel {
        if version.era() == Era::Modern {
            let capabilities = params
                .get("_meta")
                .and_then(|m| m.get(version::META_CLIENT_CAPABILITIES))
                .cloned()
                .unwrap_or(Value::Null);
            let responses = params
                .get("inputResponses")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let state = params.get("requestState").and_then(Value::as_str);
            return match Stateless::new(capabilities, responses, state) {
                Ok(stateless) => InputChannel::Stateless(stateless),
                Err(_) => InputChannel::Unavailable(
                    "params.requestState is not one this server issued (retry the call without it)",
                ),
            };
        }
        let (Some(layer), Some(active)) = (&self.sessions, session) else {
            return InputChannel::Unavailable(if self.sessions.is_none() {
                "this server keeps no sessions (on Workers: the MCP_SESSIONS Durable Object binding), and in this protocol revision a request reaches the client during a call only within a session"
            } else {
                "the call was sent without the Mcp-Session-Id this server issued at initialize"
            });
        };
        let mut random = [0u8; 8];
        if layer.crypto.fill_random(&mut random).is_err() {
            return InputChannel::Unavailable("no randomness for a request id");
        }
        InputChannel::Session(SessionLink {
            store: layer.sessions.store.clone(),
            session_id: active.id.clone(),
            capabilities: active.record.client_capabilities.clone(),
            subscriptions: active.record.subscriptions.clone(),
            request_prefix: format!("srv-{}", session::hex(&random)),
            timeout: layer.sessions.settings.answer_timeout,
            next: std::sync::atomic::AtomicU32::new(0),
            clock: layer.clock.clone(),
        })
    }

    /// The server it serves.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Transport checks that need no identity (method, `Origin`, `Accept`, body size,
    /// content type; see [`transport`]). `Some(response)` ends the request there.
    pub fn precheck(&self, request: &http::Request<Bytes>) -> Option<http::Response<Bytes>> {
        transport::check(&self.config, request)
            .err()
            .map(|e| response::transport_error(&e))
    }

    /// [`Endpoint::precheck`] on the request head alone (see [`transport::check_head`]):
    /// what the gateway checks before authentication.
    pub fn precheck_head<B>(&self, request: &http::Request<B>) -> Option<http::Response<Bytes>> {
        transport::check_head(&self.config, request)
            .err()
            .map(|e| response::transport_error(&e))
    }

    /// Handles an authenticated `POST /mcp` by `identity`; tools delegate through
    /// `access` (bound to this request's budget). Runs [`Endpoint::precheck`] again, so it
    /// is safe to call on its own. The body is [`Body::Full`] except for a call that
    /// notifies (see [`notify`]): a `text/event-stream` [`Body::Stream`], borrowing `self`.
    pub async fn handle(
        &self,
        request: &http::Request<Bytes>,
        identity: Identity,
        access: UpstreamAccess,
    ) -> http::Response<Body<'_>> {
        if let Some(refused) = self.precheck(request) {
            return refused.map(Body::Full);
        }
        let headers = request.headers();
        // A session id is checked whatever the message (another identity's id is 404
        // even on a batch); the batch itself is served statelessly.
        let session = match self.session_of(headers, &identity).await {
            Ok(session) => session,
            Err(refused) => return refused.map(Body::Full),
        };
        let message = match jsonrpc::parse_json(request.body()) {
            Ok(Value::Array(items)) => {
                return self
                    .handle_batch(request, items, identity, access)
                    .await
                    .map(Body::Full);
            }
            Ok(value) => jsonrpc::classify(value),
            Err(e) => Err(e),
        };
        let (id, method, params) = match message {
            Ok(Incoming::Request { id, method, params }) if notify::may_notify(&method) => {
                (id, method, params)
            }
            Ok(Incoming::Response { id, message }) => {
                if let (Some(active), Some(layer), Some(rid)) =
                    (&session, &self.sessions, id.as_value().as_str())
                {
                    let delivered = layer
                        .sessions
                        .store
                        .deliver_response(&active.id, rid, Value::Object(message))
                        .await;
                    if let Err(e) = delivered {
                        return response::session_store_unavailable(&e).map(Body::Full);
                    }
                }
                return response::accepted().map(Body::Full);
            }
            Ok(Incoming::Request { id, method, params })
                if method == "initialize"
                    || (method == "logging/setLevel" && session.is_some())
                    || (SUBSCRIPTION_METHODS.contains(&method.as_str())
                        && self.sessions.is_some()
                        && self.server.has_resources()) =>
            {
                return self
                    .stateful(headers, id, method, params, session, identity, access)
                    .await
                    .map(Body::Full);
            }
            other => {
                let answer = self.answer(headers, other, identity, access).await;
                return Self::respond(answer).map(Body::Full);
            }
        };
        // A call that runs user code: cancellable, and it may notify.
        let version = match version::resolve(headers, &method, params.as_ref(), true) {
            Ok(v) => v,
            Err(e) => return response::rpc_error(Some(&id), &e, Era::Modern).map(Body::Full),
        };
        let params = params.unwrap_or_default();
        if let Err(e) = notify::check_log_level(version, &params) {
            return response::rpc_error(Some(&id), &e, version.era()).map(Body::Full);
        }
        tracing::debug!(method = %method, version = version.as_str(), "mcp request");
        let key = cancel::call_key(&identity, id.as_value());
        let session_level = session.as_ref().map(|s| {
            s.record
                .log_level
                .as_deref()
                .and_then(notify::LogLevel::parse)
        });
        let channel = transport::accepts_event_stream(headers)
            .then(|| Notifier::for_request(version, &params, session_level))
            .flatten();
        let input = self.input_channel(version, &params, session.as_ref());
        let Some((notifier, notes)) = channel else {
            // The hot path: no channel, nothing boxed; the call runs pinned right here.
            let to_client = ToClient {
                notifier: None,
                input,
            };
            let work = self.call(version, method, params, identity, access, to_client);
            let outcome = self.calls.run(key, std::pin::pin!(work)).await;
            return match outcome {
                Some(outcome) => Self::respond(Self::outcome(id, outcome, version)).map(Body::Full),
                None => response::accepted().map(Body::Full),
            };
        };
        let to_client = ToClient {
            notifier: Some(notifier),
            input,
        };
        let work = self.call(version, method, params, identity, access, to_client);
        // The call may outlive this function (streamed): one box, for its future.
        let mut exchange = Exchange::new(self.calls.run(key, Box::pin(work)), notes);
        match exchange.next().await {
            // Nothing was sent before the call ended: a plain JSON answer.
            Some(Event::Done(Some(outcome))) => {
                Self::respond(Self::outcome(id, outcome, version)).map(Body::Full)
            }
            Some(Event::Done(None)) | None => response::accepted().map(Body::Full),
            Some(Event::Note(first)) => {
                let events = futures::stream::once(async move { Event::Note(first) })
                    .chain(exchange)
                    .filter_map(move |event| {
                        let message = match event {
                            Event::Note(note) => Some(note),
                            Event::Done(Some(Ok(result))) => Some(jsonrpc::success(&id, result)),
                            Event::Done(Some(Err(e))) => Some(jsonrpc::failure(Some(&id), &e)),
                            // Cancelled: the stream ends without a response.
                            Event::Done(None) => None,
                        };
                        std::future::ready(message.as_ref().map(notify::sse_event))
                    });
                response::event_stream(BodyStream::new(events))
            }
        }
    }

    /// The work of one call (owning what it needs, so it may outlive the request).
    async fn call(
        &self,
        version: ProtocolVersion,
        method: String,
        params: Map<String, Value>,
        identity: Identity,
        access: UpstreamAccess,
        to_client: ToClient,
    ) -> Result<Value, RpcError> {
        dispatch::dispatch(self, version, &method, params, identity, access, to_client).await
    }

    /// `initialize` (which opens a session when they are on) and, in a session,
    /// `logging/setLevel` (whose level the session keeps) and `resources/subscribe` /
    /// `resources/unsubscribe` (whose URIs it keeps).
    #[allow(clippy::too_many_arguments)]
    async fn stateful(
        &self,
        headers: &http::HeaderMap,
        id: RequestId,
        method: String,
        params: Option<Map<String, Value>>,
        session: Option<Active>,
        identity: Identity,
        access: UpstreamAccess,
    ) -> http::Response<Bytes> {
        let kept = params.clone().unwrap_or_default();
        if SUBSCRIPTION_METHODS.contains(&method.as_str()) {
            return self
                .subscription(headers, &id, &method, &kept, session)
                .await;
        }
        let owner = identity.clone();
        let message = Ok(Incoming::Request {
            id,
            method: method.clone(),
            params,
        });
        let answer = self.answer(headers, message, identity, access).await;
        let Answer::Result(_, result) = &answer else {
            return Self::respond(answer);
        };
        if method == "initialize" {
            let opened = match version::header_version(headers) {
                Ok(v) if v.era() == Era::Modern => None,
                _ => self.open_session(&owner, &kept, result).await,
            };
            let mut response = Self::respond(answer);
            if let Some(sid) = opened
                && let Ok(value) = http::HeaderValue::from_str(&sid)
            {
                response.headers_mut().insert(SESSION_HEADER, value);
            }
            return response;
        }
        // logging/setLevel in a session: the level applies to the session's later calls.
        if let (Some(mut active), Some(layer)) = (session, &self.sessions) {
            active.record.log_level = kept.get("level").and_then(Value::as_str).map(str::to_owned);
            if let Err(e) = layer.sessions.store.put(&active.id, &active.record).await {
                return response::session_store_unavailable(&e);
            }
        }
        Self::respond(answer)
    }

    fn outcome(
        id: RequestId,
        outcome: Result<Value, RpcError>,
        version: ProtocolVersion,
    ) -> Answer {
        match outcome {
            Ok(result) => Answer::Result(id, result),
            Err(e) => Answer::Error(Some(id), e, version.era()),
        }
    }

    fn respond(answer: Answer) -> http::Response<Bytes> {
        match answer {
            Answer::Accepted => response::accepted(),
            Answer::Result(id, result) => response::rpc_result(&id, result),
            Answer::Error(id, e, era) => response::rpc_error(id.as_ref(), &e, era),
        }
    }

    /// A 2025-03-26 batch: each message answered in order; refused (as before) when the
    /// request's `MCP-Protocol-Version` names a later revision, where batches do not exist.
    async fn handle_batch(
        &self,
        request: &http::Request<Bytes>,
        items: Vec<Value>,
        identity: Identity,
        access: UpstreamAccess,
    ) -> http::Response<Bytes> {
        let headers = request.headers();
        match version::header_version(headers) {
            Ok(ProtocolVersion::V2025_03_26) => {}
            Ok(_) => return response::rpc_error(None, &jsonrpc::batch_refused(), Era::Modern),
            Err(e) => return response::rpc_error(None, &e, Era::Modern),
        }
        if items.is_empty() {
            let empty = RpcError::InvalidRequest("the batch is empty".into());
            return response::rpc_error(None, &empty, Era::Modern);
        }
        let mut responses = Vec::new();
        for item in items {
            let message = match jsonrpc::classify(item) {
                Ok(Incoming::Request { id, method, .. }) if method == "initialize" => Err((
                    Some(id),
                    RpcError::InvalidRequest(
                        "initialize must not be part of a JSON-RPC batch".into(),
                    ),
                )),
                other => other,
            };
            match self
                .answer(headers, message, identity.clone(), access.clone())
                .await
            {
                Answer::Accepted => {}
                Answer::Result(id, result) => responses.push(jsonrpc::success(&id, result)),
                Answer::Error(id, e, _) => responses.push(jsonrpc::failure(id.as_ref(), &e)),
            }
        }
        response::rpc_batch(responses)
    }

    /// The answer to one classified message.
    async fn answer(
        &self,
        headers: &http::HeaderMap,
        message: Result<Incoming, (Option<RequestId>, RpcError)>,
        identity: Identity,
        access: UpstreamAccess,
    ) -> Answer {
        let (id, method, params) = match message {
            Ok(Incoming::Request { id, method, params }) => (id, method, params),
            Ok(Incoming::Notification { method, params }) => {
                return match version::resolve(headers, &method, params.as_ref(), false) {
                    Ok(_) => {
                        if method == "notifications/cancelled" {
                            self.cancel(&identity, params.as_ref());
                        }
                        Answer::Accepted
                    }
                    Err(e) => Answer::Error(None, e, Era::Modern),
                };
            }
            Ok(Incoming::Response { .. }) => return Answer::Accepted,
            Err((id, e)) => return Answer::Error(id, e, Era::Modern),
        };
        // Header-rule failures use the strict (2026-07-28) status mapping: 400/404.
        let version = match version::resolve(headers, &method, params.as_ref(), true) {
            Ok(v) => v,
            Err(e) => return Answer::Error(Some(id), e, Era::Modern),
        };
        tracing::debug!(method = %method, version = version.as_str(), "mcp request");
        match dispatch::dispatch(
            self,
            version,
            &method,
            params.unwrap_or_default(),
            identity,
            access,
            ToClient::nothing(
                "only tools/call, resources/read and prompts/get may ask the client for input",
            ),
        )
        .await
        {
            Ok(result) => Answer::Result(id, result),
            Err(e) => Answer::Error(Some(id), e, version.era()),
        }
    }
}

impl Endpoint {
    /// `notifications/cancelled` from `identity`: stops its call `params.requestId` if it
    /// runs in this isolate; anything else (unknown id, malformed params) is ignored, as
    /// the specification asks.
    fn cancel(&self, identity: &Identity, params: Option<&Map<String, Value>>) {
        let Some(id) = params
            .and_then(|p| p.get("requestId"))
            .filter(|id| id.is_string() || id.is_number())
        else {
            return;
        };
        let stopped = self.calls.cancel(&cancel::call_key(identity, id));
        tracing::debug!(stopped, "notifications/cancelled");
    }
}

/// The subscription methods (legacy revisions, in a session).
const SUBSCRIPTION_METHODS: [&str; 2] = ["resources/subscribe", "resources/unsubscribe"];

/// The most resources one session may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// `duration` in whole milliseconds.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What one message gets.
enum Answer {
    /// Nothing (a notification or a client response).
    Accepted,
    /// A result.
    Result(RequestId, Value),
    /// An error, with the era whose status rules apply.
    Error(Option<RequestId>, RpcError, Era),
}

#[cfg(test)]
mod tests;
