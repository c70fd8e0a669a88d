//! The one entry point both hosts call: [`Gateway::handle`].
//!
//! Routing:
//!
//! | path | method | what |
//! |---|---|---|
//! | any | `OPTIONS` | CORS preflight (204) |
//! | `/health` | `GET` | liveness, unauthenticated |
//! | `/.well-known/oauth-protected-resource[/mcp]` | `GET` | RFC 9728 metadata |
//! | `/.well-known/oauth-authorization-server` | `GET` | the issuer's RFC 8414 metadata, proxied |
//! | `/.well-known/jwks.json` | `GET` | the Worker's public key (web-identity mode) |
//! | `/mcp` | `POST` | MCP, after bearer verification |
//!
//! Every response carries the CORS headers.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};

use crate::config::{Config, ConfigError};
use crate::mcp::McpServer;
use crate::ports::Ports;
use crate::tools::ToolRegistry;

/// The Worker's isolate-wide state and request handler. Build one per isolate (the wasm
/// host keeps it in a static) and share it across every request that isolate serves.
pub struct Gateway {
    config: Arc<Config>,
    #[allow(dead_code)]
    ports: Ports,
    mcp: McpServer,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway for `config`, talking to the world through `ports`, exposing `tools`.
    ///
    /// Fails with a [`ConfigError`] a deployer can act on when the configuration is
    /// unusable (e.g. `KEYCARD_PRIVATE_KEY` is not a PEM RSA key).
    pub fn new(config: Config, ports: Ports, tools: ToolRegistry) -> Result<Self, ConfigError> {
        let config = Arc::new(config);
        Ok(Self {
            mcp: McpServer::new(config.clone(), tools),
            config,
            ports,
        })
    }

    /// The configuration this gateway runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one request. `request.uri()` must be absolute (scheme and authority): the
    /// request origin is this server's default resource identifier.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let mut response = self.route(request).await;
        crate::cors::apply_cors(response.headers_mut());
        response
    }

    async fn route(&self, request: Request<Bytes>) -> Response<Bytes> {
        let path = request.uri().path().to_owned();
        if request.method() == Method::OPTIONS {
            return crate::cors::preflight();
        }
        match path.as_str() {
            "/health" => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
            "/mcp" => self.mcp_route(request).await,
            _ => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "not_found", "error_description": format!("no route for {path}") }),
            ),
        }
    }

    async fn mcp_route(&self, request: Request<Bytes>) -> Response<Bytes> {
        if let Some(early) = self.mcp.precheck(&request) {
            return early;
        }
        let _ = header::AUTHORIZATION;
        json(
            StatusCode::NOT_IMPLEMENTED,
            &serde_json::json!({ "error": "not_implemented" }),
        )
    }
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
