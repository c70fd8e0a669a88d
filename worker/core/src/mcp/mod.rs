//! MCP over Streamable HTTP: stateless, JSON responses, both protocol eras.
//!
//! The gateway calls [`Endpoint::precheck`] (transport rules that need no identity),
//! then verifies the bearer token, then [`Endpoint::handle`]. One POST carries one
//! JSON-RPC message; the answer is one `application/json` body (no SSE: a tools-only
//! server never needs to stream), or `202 Accepted` for notifications and responses.
//! No session is created; an `Mcp-Session-Id` header is ignored.
//!
//! * [`transport`]: method, `Origin`, `Accept`, size and content-type checks.
//! * [`jsonrpc`]: message parsing and the JSON-RPC error codes.
//! * [`version`]: protocol versions, eras and the header rules of each.
//! * [`dispatch`]: the methods.
//!
//! Statuses of transport refusals and JSON-RPC errors are decided in
//! [`crate::http::response`] ([`crate::http::response::rpc_status`]).

pub mod dispatch;
pub mod jsonrpc;
pub mod transport;
pub mod version;

use std::sync::Arc;

use bytes::Bytes;

use crate::auth::identity::Identity;
use crate::config::Config;
use crate::delegation::UpstreamAccess;
use crate::http::response;
use crate::server::Server;
use jsonrpc::Incoming;
use version::Era;

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
        let (id, method, params) = match jsonrpc::parse(request.body()) {
            Ok(Incoming::Request { id, method, params }) => (id, method, params),
            Ok(Incoming::Notification { method, params }) => {
                return match version::resolve(request.headers(), &method, params.as_ref(), false) {
                    Ok(_) => response::accepted(),
                    Err(e) => response::rpc_error(None, &e, Era::Modern),
                };
            }
            Ok(Incoming::Response) => return response::accepted(),
            Err((id, e)) => return response::rpc_error(id.as_ref(), &e, Era::Modern),
        };
        // Header-rule failures use the strict (2026-07-28) status mapping: 400/404.
        let version = match version::resolve(request.headers(), &method, params.as_ref(), true) {
            Ok(v) => v,
            Err(e) => return response::rpc_error(Some(&id), &e, Era::Modern),
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
            Ok(result) => response::rpc_result(&id, result),
            Err(e) => response::rpc_error(Some(&id), &e, version.era()),
        }
    }
}

#[cfg(test)]
mod tests;
