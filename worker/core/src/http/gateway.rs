//! The one entry point both hosts call: [`Gateway::handle`].
//!
//! Routing:
//!
//! | path | method | what |
//! |---|---|---|
//! | any | `OPTIONS` | CORS preflight (204; see [`crate::http::cors`]) |
//! | `/health` | `GET` | liveness, unauthenticated |
//! | `/.well-known/oauth-protected-resource[/mcp]` | `GET` | RFC 9728 metadata |
//! | `/.well-known/oauth-authorization-server` | `GET` | the issuer's RFC 8414 metadata, proxied |
//! | `/.well-known/jwks.json` | `GET` | the Worker's public key (web-identity mode) |
//! | `/mcp` | `POST` | MCP, after bearer verification |
//!
//! Before routing (all but `OPTIONS` and `/health`): a singleton header sent twice is
//! refused (400), and with `KEYCARD_PUBLIC_ORIGINS` set a request for another origin
//! gets 421 (see [`Gateway::handle`]).
//!
//! Every response carries the CORS headers.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};

use crate::auth::Authenticator;
use crate::config::{Config, ConfigError};
use crate::delegation::cache::CacheStats;
use crate::delegation::upstream::UpstreamAccess;
use crate::http::body::Body;
use crate::http::response;
use crate::mcp::Endpoint;
use crate::oauth::discovery::Discovery;
use crate::oauth::metadata::{AS_METADATA_PATH, PRM_MCP_PATH, PRM_PATH};
use crate::outbound::budget::Budget;
use crate::ports::Ports;
use crate::server::Server;

/// Where the Worker publishes its web-identity public key.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The Worker's isolate-wide state and request handler. Build one per isolate (the wasm
/// host keeps it in a static) and share it across every request that isolate serves.
pub struct Gateway {
    config: Arc<Config>,
    ports: Ports,
    mcp: Endpoint,
    /// RFC 8414 discovery of the issuers (shared by the keyring and the exchange client).
    discovery: Arc<Discovery>,
    /// Bearer verification (owns the JWKS keyring).
    auth: Authenticator,
    /// Delegated upstream access: STS credentials, token exchange and the isolate-safe
    /// token cache (the one isolate-wide per-user state).
    upstream: UpstreamAccess,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway for `config`, talking to the world through `ports`, serving `server`.
    ///
    /// Fails with a [`ConfigError`] a deployer can act on when the configuration is
    /// unusable (e.g. `KEYCARD_PRIVATE_KEY` is not a PEM RSA key, or a tool calls an
    /// upstream that is not configured).
    pub fn new(config: Config, ports: Ports, server: Server) -> Result<Self, ConfigError> {
        check_upstreams(&config, &server)?;
        let config = Arc::new(config);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let upstream = UpstreamAccess::new(config.clone(), ports.clone(), discovery.clone())?;
        Ok(Self {
            upstream,
            mcp: Endpoint::new(config.clone(), server),
            auth: Authenticator::new(config.clone(), ports.clone(), discovery.clone()),
            discovery,
            config,
            ports,
        })
    }

    /// Like [`Gateway::new`] with a deliberately chosen token-cache keying.
    /// Demonstration and mutation testing only (`emulator replay --naive-cache`).
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_cache_keying(
        config: Config,
        ports: Ports,
        server: Server,
        keying: crate::delegation::cache::CacheKeying,
    ) -> Result<Self, ConfigError> {
        check_upstreams(&config, &server)?;
        let config = Arc::new(config);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let upstream = UpstreamAccess::with_cache_keying(
            config.clone(),
            ports.clone(),
            discovery.clone(),
            keying,
        )?;
        Ok(Self {
            upstream,
            mcp: Endpoint::new(config.clone(), server),
            auth: Authenticator::new(config.clone(), ports.clone(), discovery.clone()),
            discovery,
            config,
            ports,
        })
    }

    /// The server it serves.
    pub fn server(&self) -> &Server {
        self.mcp.server()
    }

    /// The configuration this gateway runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The token cache's counters (entries, hits, misses, exchanges, evictions…).
    pub fn cache_stats(&self) -> CacheStats {
        self.upstream.cache_stats()
    }

    /// Delegated upstream access (credentials, exchange, token cache).
    pub fn upstream(&self) -> &UpstreamAccess {
        &self.upstream
    }

    /// Handles one request. `request.uri()` must be absolute (scheme and authority): the
    /// request origin is this server's default resource identifier. When the host cannot
    /// vouch for that origin (a native host takes it from the client's `Host`), pin the
    /// served origins with `KEYCARD_PUBLIC_ORIGINS`: requests for any other get 421.
    ///
    /// Before routing, the request headers are measured against
    /// `KEYCARD_MAX_HEADER_BYTES` (431 when over). Every outbound call made while serving
    /// the request shares one [`Budget`] of `KEYCARD_REQUEST_BUDGET_MS`, started here.
    ///
    /// A streamed answer (an MCP call sending notifications as SSE) is read to its end
    /// here; hosts that can stream use [`Gateway::handle_streaming`].
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (parts, body) = self.handle_streaming(request).await.into_parts();
        Response::from_parts(parts, body.collect().await)
    }

    /// Like [`Gateway::handle`], with the body as the host should send it: whole, or (an
    /// MCP call that notifies, see [`crate::mcp::notify`]) a stream of SSE events to
    /// forward as they come. Dropping the stream stops the call behind it.
    pub async fn handle_streaming(&self, request: Request<Bytes>) -> Response<Body<'_>> {
        let mut response = match self.check_header_size(request.headers()) {
            Some(too_large) => too_large.map(Body::Full),
            None => {
                let budget =
                    Budget::starting_now(&*self.ports.clock, self.config.limits.request_budget);
                self.route(request, budget).await
            }
        };
        crate::http::cors::apply_cors(response.headers_mut());
        response
    }

    /// 431 when the headers are larger than `max_header_bytes` (see [`header_bytes`]).
    fn check_header_size(&self, headers: &http::HeaderMap) -> Option<Response<Bytes>> {
        let limits = &self.config.limits;
        let size = header_bytes(headers, limits.max_token_bytes);
        if size <= limits.max_header_bytes {
            return None;
        }
        tracing::info!(
            size,
            limit = limits.max_header_bytes,
            "request headers too large"
        );
        Some(response::headers_too_large(limits.max_header_bytes))
    }

    async fn route(&self, request: Request<Bytes>, budget: Budget) -> Response<Body<'_>> {
        let path = request.uri().path().to_owned();
        if request.method() == Method::OPTIONS {
            return crate::http::cors::preflight(&path).map(Body::Full);
        }
        if path == "/health" {
            return response::ok_json(&serde_json::json!({ "status": "ok" })).map(Body::Full);
        }
        if path != "/mcp"
            && let Some(name) = crate::mcp::transport::duplicate_singleton(request.headers())
        {
            return response::duplicate_header(name).map(Body::Full);
        }
        if let Some(refused) = self.check_origin_pinned(&request) {
            return refused.map(Body::Full);
        }
        let response = match path.as_str() {
            "/mcp" => return self.mcp_route(request, budget).await,
            PRM_PATH | PRM_MCP_PATH | AS_METADATA_PATH if request.method() != Method::GET => {
                response::method_not_allowed("GET, OPTIONS")
            }
            PRM_PATH | PRM_MCP_PATH => match request_origin(&request) {
                Some(origin) => crate::oauth::metadata::protected_resource_response(
                    &self.config,
                    &self.resource_id(Some(&origin)),
                    &origin,
                    request.headers(),
                ),
                None => response::not_absolute(),
            },
            AS_METADATA_PATH => {
                let origin = request_origin(&request);
                crate::oauth::metadata::authorization_server_response(
                    &self.config,
                    &self.discovery,
                    &self.resource_id(origin.as_deref()),
                    origin.as_deref(),
                )
                .await
            }
            JWKS_PATH if request.method() != Method::GET => {
                response::method_not_allowed("GET, OPTIONS")
            }
            JWKS_PATH => self.jwks_response(),
            _ => response::not_found(&format!("no route for {path}")),
        };
        response.map(Body::Full)
    }

    async fn mcp_route(&self, request: Request<Bytes>, budget: Budget) -> Response<Body<'_>> {
        if let Some(early) = self.mcp.precheck(&request) {
            return early.map(Body::Full);
        }
        let Some(origin) = request_origin(&request) else {
            return response::not_absolute().map(Body::Full);
        };
        let resource_id = self.resource_id(Some(&origin));
        let identity = match self
            .auth
            .authenticate_within(request.headers(), &resource_id, budget)
            .await
        {
            Ok(identity) => identity,
            Err(err) => {
                return response::auth_error(
                    &err,
                    &crate::oauth::metadata::resource_metadata_url(&origin),
                    &self.config.required_scopes,
                )
                .map(Body::Full);
            }
        };
        let access = self
            .upstream
            .for_resource_id(resource_id)
            .with_budget(budget);
        self.mcp.handle(&request, identity, access).await
    }

    /// With `KEYCARD_PUBLIC_ORIGINS` set, every request (but `OPTIONS` and `/health`) must
    /// be for one of those origins: 421 otherwise (400 when the URI has no origin at all),
    /// before anything — resource id, metadata, audience — is derived from it. The
    /// request's origin comes from its URI: on Workers the routed URL, on a native host the
    /// client's `Host` header or absolute-form target, which a client chooses freely.
    fn check_origin_pinned(&self, request: &Request<Bytes>) -> Option<Response<Bytes>> {
        if self.config.public_origins.is_empty() {
            return None;
        }
        match request_origin(request) {
            Some(origin) if self.config.serves_origin(&origin) => None,
            Some(origin) => {
                tracing::info!(origin = %origin.chars().take(200).collect::<String>(), "request for an origin this server does not serve");
                Some(response::misdirected(&origin, &self.config.public_origins))
            }
            None => Some(response::not_absolute()),
        }
    }

    /// `GET /.well-known/jwks.json`: the web-identity public key Keycard verifies our
    /// `private_key_jwt` assertions with; 404 in client-secret mode.
    fn jwks_response(&self) -> Response<Bytes> {
        match self.upstream.public_jwks() {
            Some(jwks) => {
                let body = serde_json::to_value(&jwks).unwrap_or_default();
                let mut response = response::ok_json(&body);
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    http::HeaderValue::from_static("public, max-age=300"),
                );
                response
            }
            None => response::not_found(
                "this server authenticates to Keycard with a client secret and publishes no keys (set KEYCARD_PRIVATE_KEY for web identity)",
            ),
        }
    }

    /// This server's resource identifier for `request`: `KEYCARD_RESOURCE_ID` if set, else
    /// the request origin (as the seed guide registers the Worker's URL in Keycard), which
    /// [`Gateway::check_origin_pinned`] has already matched against
    /// `KEYCARD_PUBLIC_ORIGINS` when those are set.
    fn resource_id(&self, request_origin: Option<&str>) -> String {
        self.config
            .resource_id
            .clone()
            .or_else(|| request_origin.map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Every upstream a tool, resource or resource template declares must be configured,
/// and every resource template must parse.
fn check_upstreams(config: &Config, server: &Server) -> Result<(), ConfigError> {
    for template in server.resource_templates() {
        if let Err(reason) = template.parsed() {
            return Err(ConfigError::Invalid {
                name: "resource template",
                reason: reason.to_owned(),
            });
        }
    }
    let declared = server
        .tools()
        .iter()
        .map(|t| {
            (
                "tool",
                t.definition().name.as_str(),
                t.definition().upstreams.as_slice(),
            )
        })
        .chain(
            server
                .resources()
                .iter()
                .map(|r| ("resource", r.uri(), r.upstreams())),
        )
        .chain(
            server
                .resource_templates()
                .iter()
                .map(|t| ("resource template", t.uri_template(), t.upstreams())),
        );
    for (kind, what, upstreams) in declared {
        if let Some(missing) = upstreams.iter().find(|u| config.upstream(u).is_none()) {
            let (name, how) = if missing == crate::config::DEFAULT_UPSTREAM {
                ("KEYCARD_RESOURCE_URL", "set it to that API's base URL")
            } else {
                ("KEYCARD_UPSTREAMS", "add it there")
            };
            return Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "{kind} `{what}` calls the upstream {missing:?}, which is not configured ({how}; configured: {})",
                    config.upstream_names()
                ),
            });
        }
    }
    Ok(())
}

/// The size of `headers` as `KEYCARD_MAX_HEADER_BYTES` counts it: every name plus value,
/// with each `Authorization` value counted at most `"Bearer " + max_token_bytes` (a token
/// over its own limit is refused by the token check with a precise 401).
pub fn header_bytes(headers: &http::HeaderMap, max_token_bytes: usize) -> usize {
    const BEARER_PREFIX: usize = "Bearer ".len();
    headers
        .iter()
        .map(|(name, value)| {
            let value_len = if name == header::AUTHORIZATION {
                value
                    .len()
                    .min(max_token_bytes.saturating_add(BEARER_PREFIX))
            } else {
                value.len()
            };
            name.as_str().len().saturating_add(value_len)
        })
        .fold(0usize, usize::saturating_add)
}

/// The origin (`scheme://host[:port]`) of an absolute request URI.
fn request_origin(request: &Request<Bytes>) -> Option<String> {
    crate::http::resource::uri_origin(request.uri())
}

/// [`check_upstreams`], for the endpoint tests.
#[cfg(test)]
pub(crate) fn check_upstreams_for_tests(
    config: &Config,
    server: &Server,
) -> Result<(), ConfigError> {
    check_upstreams(config, server)
}
