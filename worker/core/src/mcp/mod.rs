//! MCP over Streamable HTTP: stateless, JSON responses, both protocol eras.
//!
//! The gateway calls [`McpServer::precheck`] (transport rules that need no identity),
//! then verifies the bearer token, then [`McpServer::handle`]. One POST carries one
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
use crate::delegation::Delegated;
use crate::http::response;
use crate::tools::ToolRegistry;
use jsonrpc::Incoming;
use version::Era;

/// The MCP endpoint.
pub struct McpServer {
    config: Arc<Config>,
    tools: ToolRegistry,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// An MCP server exposing `tools`.
    pub fn new(config: Arc<Config>, tools: ToolRegistry) -> Self {
        Self { config, tools }
    }

    /// The tools this server exposes.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// Transport checks that need no identity (method, `Origin`, `Accept`, body size,
    /// content type; see [`transport`]). `Some(response)` ends the request there.
    pub fn precheck(&self, request: &http::Request<Bytes>) -> Option<http::Response<Bytes>> {
        transport::check(&self.config, request)
            .err()
            .map(|e| response::transport_error(&e))
    }

    /// Handles an authenticated `POST /mcp`. Runs [`McpServer::precheck`] again, so it is
    /// safe to call on its own.
    pub async fn handle(
        &self,
        request: &http::Request<Bytes>,
        identity: &Identity,
        delegated: &dyn Delegated,
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
            delegated,
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
