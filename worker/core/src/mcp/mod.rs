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
//! HTTP status of JSON-RPC errors: -32700, -32600, -32020 and -32022 are 400 in every
//! era; in the 2026-07-28 era -32601 is 404 and -32602 is 400, as its transport page
//! requires; in the legacy era those two travel with 200, like the reference SDKs.
//! -32603 is 500.

pub mod dispatch;
pub mod jsonrpc;
pub mod transport;
pub mod version;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use crate::config::Config;
use crate::delegated::Delegated;
use crate::identity::Identity;
use crate::tools::ToolRegistry;
use jsonrpc::{Incoming, RequestId, RpcError};
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
            .map(transport::TransportError::into_response)
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
                    Ok(_) => transport::accepted(),
                    Err(e) => error_response(None, &e, Era::Modern),
                };
            }
            Ok(Incoming::Response) => return transport::accepted(),
            Err((id, e)) => return error_response(id.as_ref(), &e, Era::Modern),
        };
        // Header-rule failures use the strict (2026-07-28) status mapping: 400/404.
        let version = match version::resolve(request.headers(), &method, params.as_ref(), true) {
            Ok(v) => v,
            Err(e) => return error_response(Some(&id), &e, Era::Modern),
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
            Ok(result) => transport::json_response(StatusCode::OK, &jsonrpc::success(&id, result)),
            Err(e) => error_response(Some(&id), &e, version.era()),
        }
    }
}

/// The HTTP status carrying a JSON-RPC error in `era`.
pub fn error_status(error: &RpcError, era: Era) -> StatusCode {
    match (error, era) {
        (RpcError::Internal(_), _) => StatusCode::INTERNAL_SERVER_ERROR,
        (RpcError::MethodNotFound(_), Era::Modern) => StatusCode::NOT_FOUND,
        (RpcError::MethodNotFound(_) | RpcError::InvalidParams(_), Era::Legacy) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn error_response(id: Option<&RequestId>, error: &RpcError, era: Era) -> http::Response<Bytes> {
    transport::json_response(error_status(error, era), &jsonrpc::failure(id, error))
}

#[cfg(test)]
mod tests;
