//! MCP over Streamable HTTP: stateless, JSON responses, both protocol eras.
//!
//! The gateway calls [`Endpoint::precheck`] (transport rules that need no identity),
//! then verifies the bearer token, then [`Endpoint::handle`]. One POST carries one
//! JSON-RPC message; the answer is one `application/json` body (no SSE yet), or
//! `202 Accepted` for notifications and responses. In the 2025-03-26 era only (no
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
//!
//! Statuses of transport refusals and JSON-RPC errors are decided in
//! [`crate::http::response`] ([`crate::http::response::rpc_status`]).

pub mod dispatch;
pub mod jsonrpc;
pub mod pagination;
pub mod transport;
pub mod version;

use std::sync::Arc;

use bytes::Bytes;

use crate::auth::identity::Identity;
use crate::config::Config;
use crate::delegation::UpstreamAccess;
use crate::http::response;
use crate::server::Server;
use jsonrpc::{Incoming, RequestId, RpcError};
use serde_json::Value;
use version::{Era, ProtocolVersion};

/// The MCP endpoint: the protocol around a [`Server`].
pub struct Endpoint {
    config: Arc<Config>,
    server: Server,
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
        Self { config, server }
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

    /// Handles an authenticated `POST /mcp` by `identity`; tools delegate through
    /// `access` (bound to this request's budget). Runs [`Endpoint::precheck`] again, so it
    /// is safe to call on its own.
    pub async fn handle(
        &self,
        request: &http::Request<Bytes>,
        identity: Identity,
        access: UpstreamAccess,
    ) -> http::Response<Bytes> {
        if let Some(refused) = self.precheck(request) {
            return refused;
        }
        let message = match jsonrpc::parse_json(request.body()) {
            Ok(Value::Array(items)) => {
                return self.handle_batch(request, items, identity, access).await;
            }
            Ok(value) => jsonrpc::classify(value),
            Err(e) => Err(e),
        };
        match self
            .answer(request.headers(), message, identity, access)
            .await
        {
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
                    Ok(_) => Answer::Accepted,
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
        )
        .await
        {
            Ok(result) => Answer::Result(id, result),
            Err(e) => Answer::Error(Some(id), e, version.era()),
        }
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
