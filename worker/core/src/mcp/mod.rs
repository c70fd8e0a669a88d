//! MCP over Streamable HTTP: stateless, JSON responses, both protocol eras.
//!
//! The gateway calls [`Endpoint::precheck`] (transport rules that need no identity),
//! then verifies the bearer token, then [`Endpoint::handle`]. One POST carries one
//! JSON-RPC message; the answer is one `application/json` body, or `202 Accepted` for
//! notifications and responses — or, for a call whose handler logs or reports progress
//! while the client accepts `text/event-stream`, an SSE stream of those notifications
//! followed by the response ([`notify`]). `notifications/cancelled` stops the caller's
//! own call in this isolate ([`cancel`]). In the 2025-03-26 era only (no
//! `MCP-Protocol-Version` header, or that version), a POST may carry a JSON-RPC batch:
//! the answer is the array of the responses to its requests (`initialize` may not be
//! batched), or 202 when it holds only notifications and responses; later revisions
//! refuse batches with -32600.
//! No session is created; an `Mcp-Session-Id` header is ignored.
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
use crate::server::Server;
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
        }
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
        let headers = request.headers();
        let (id, method, params) = match message {
            Ok(Incoming::Request { id, method, params }) if notify::may_notify(&method) => {
                (id, method, params)
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
        let channel = transport::accepts_event_stream(headers)
            .then(|| Notifier::for_request(version, &params))
            .flatten();
        let Some((notifier, notes)) = channel else {
            // The hot path: no channel, nothing boxed; the call runs pinned right here.
            let work = self.call(version, method, params, identity, access, None);
            let outcome = self.calls.run(key, std::pin::pin!(work)).await;
            return match outcome {
                Some(outcome) => Self::respond(Self::outcome(id, outcome, version)).map(Body::Full),
                None => response::accepted().map(Body::Full),
            };
        };
        let work = self.call(version, method, params, identity, access, Some(notifier));
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
        notifier: Option<Notifier>,
    ) -> Result<Value, RpcError> {
        dispatch::dispatch(self, version, &method, params, identity, access, notifier).await
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
            Ok(Incoming::Response) => return Answer::Accepted,
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
            None,
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
