//! MCP over Streamable HTTP (JSON responses, stateless), both protocol eras.
//!
//! OWNER: MCP helper (H2). Interface fixed; implementation pending.

use bytes::Bytes;

use crate::config::Config;
use crate::delegated::Delegated;
use crate::identity::Identity;
use crate::tools::ToolRegistry;
use std::sync::Arc;

/// The MCP endpoint.
pub struct McpServer {
    #[allow(dead_code)]
    config: Arc<Config>,
    #[allow(dead_code)]
    tools: ToolRegistry,
}

impl McpServer {
    /// An MCP server exposing `tools`.
    pub fn new(config: Arc<Config>, tools: ToolRegistry) -> Self {
        Self { config, tools }
    }

    /// Transport checks that need no identity (method, `Origin`, `Accept`, body size).
    /// `Some(response)` ends the request there.
    pub fn precheck(&self, _request: &http::Request<Bytes>) -> Option<http::Response<Bytes>> {
        None
    }

    /// Handles an authenticated `POST /mcp`.
    pub async fn handle(
        &self,
        _request: &http::Request<Bytes>,
        _identity: &Identity,
        _delegated: &dyn Delegated,
    ) -> http::Response<Bytes> {
        http::Response::builder()
            .status(501)
            .body(Bytes::new())
            .unwrap_or_default()
    }
}
