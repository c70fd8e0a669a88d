//! The one entry point both hosts call: [`Gateway::handle`].
//!
//! Routing (single zone, the classic configuration):
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
//! With named zones (`KEYCARD_ZONES`, see [`crate::config::Zones`]) each zone `z` has
//! `/z/mcp`, `/.well-known/oauth-protected-resource/z/mcp` (RFC 9728 path-inserted form)
//! and `/.well-known/oauth-authorization-server/z` (RFC 8414 path-inserted form); the
//! root metadata paths and `/mcp` are 404 (they would not say which zone), and
//! `/.well-known/jwks.json` serves every web-identity zone's public key. Each zone has its
//! own keyring, discovery, credentials and token cache: a request is served entirely by
//! the state of the zone its path names, so a token of zone A is checked against zone A's
//! issuers and audience only when it is sent to `/A/mcp`.
//!
//! Before routing (all but `OPTIONS` and `/health`): a singleton header sent twice is
//! refused (400), and with `KEYCARD_PUBLIC_ORIGINS` set a request for another origin
//! gets 421 (see [`Gateway::handle`]).
//!
//! Every response carries the CORS headers.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};

use crate::auth::{Authenticator, Prechecked};
use crate::config::{Config, ConfigError, Zones};
use crate::delegation::cache::CacheStats;
use crate::delegation::upstream::UpstreamAccess;
use crate::http::body::Body;
use crate::http::response;
use crate::mcp::Endpoint;
use crate::oauth::discovery::Discovery;
use crate::oauth::metadata::{AS_METADATA_PATH, PRM_MCP_PATH, PRM_PATH};
use crate::outbound::budget::Budget;
use crate::ports::{BoxFuture, Ports};
use crate::server::Server;

/// Where the Worker publishes its web-identity public key.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The Worker's isolate-wide state and request handler. Build one per isolate (the wasm
/// host keeps it in a static) and share it across every request that isolate serves.
pub struct Gateway {
    /// One state set per zone; the classic configuration has exactly one, unnamed.
    zones: Box<[ZoneState]>,
    /// Whether the zones are named (served at `/{zone}/mcp`).
    named: bool,
    ports: Ports,
    /// Sessions (`Mcp-Session-Id`), when the host provides a store.
    sessions: Option<crate::session::Sessions>,
}

/// Everything one zone owns. Nothing in here is shared with another zone.
struct ZoneState {
    config: Arc<Config>,
    mcp: Endpoint,
    /// RFC 8414 discovery of the issuers (shared by the keyring and the exchange client).
    discovery: Arc<Discovery>,
    /// Bearer verification (owns the JWKS keyring).
    auth: Authenticator,
    /// Delegated upstream access: STS credentials, token exchange and the isolate-safe
    /// token cache (the one isolate-wide per-user state).
    upstream: UpstreamAccess,
}

impl ZoneState {
    fn new(
        config: Config,
        ports: &Ports,
        server: Server,
        make_upstream: &dyn Fn(Arc<Config>, Arc<Discovery>) -> Result<UpstreamAccess, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let (server, left_out) = server.offered_where(|u| config.upstream(u).is_some());
        for (tool, upstream) in &left_out {
            match &config.zone {
                Some(zone) => tracing::info!(
                    zone = %zone,
                    tool = %tool,
                    upstream = %upstream,
                    "tool not offered: its upstream is not configured"
                ),
                None => tracing::info!(
                    tool = %tool,
                    upstream = %upstream,
                    "tool not offered: its upstream is not configured"
                ),
            }
        }
        check_upstreams(&config, &server)?;
        check_schemas(&server)?;
        let config = Arc::new(config);
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        let upstream = make_upstream(config.clone(), discovery.clone())?;
        Ok(Self {
            upstream,
            mcp: Endpoint::new(config.clone(), server),
            auth: Authenticator::new(config.clone(), ports.clone(), discovery.clone()),
            discovery,
            config,
        })
    }

    fn name(&self) -> Option<&str> {
        self.config.zone.as_deref()
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Gateway");
        if self.named {
            let zones: Vec<_> = self.zones.iter().filter_map(ZoneState::name).collect();
            d.field("zones", &zones);
        } else {
            d.field("issuer", &self.zones[0].config.issuer);
        }
        d.finish_non_exhaustive()
    }
}

/// What a path routes to.
enum Route<'a> {
    Mcp(&'a ZoneState),
    Prm(&'a ZoneState),
    AsMetadata(&'a ZoneState),
    Jwks,
    /// A metadata path that exists only per zone (multi-zone root documents).
    NeedsZone,
    NotFound,
}

impl Gateway {
    /// A gateway for `zones` (a [`Config`] for the classic single zone, or [`Zones`]),
    /// talking to the world through `ports`, serving `server` in every zone.
    ///
    /// Fails with a [`ConfigError`] a deployer can act on when the configuration is
    /// unusable (e.g. `KEYCARD_PRIVATE_KEY` is not a PEM RSA key, or a tool calls an
    /// upstream that is not configured in some zone).
    pub fn new(zones: impl Into<Zones>, ports: Ports, server: Server) -> Result<Self, ConfigError> {
        Self::build(zones.into(), ports, server, &|config, ports, discovery| {
            UpstreamAccess::new(config, ports, discovery)
        })
    }

    /// Like [`Gateway::new`] with a deliberately chosen token-cache keying.
    /// Demonstration and mutation testing only (`emulator replay --naive-cache`).
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_cache_keying(
        zones: impl Into<Zones>,
        ports: Ports,
        server: Server,
        keying: crate::delegation::cache::CacheKeying,
    ) -> Result<Self, ConfigError> {
        Self::build(zones.into(), ports, server, &|config, ports, discovery| {
            UpstreamAccess::with_cache_keying(config, ports, discovery, keying)
        })
    }

    /// Like [`Gateway::with_cache_keying`], with ONE token cache shared by every zone
    /// (instead of one per zone): with the real keying (issuer and audience in the key)
    /// the zones still never meet; a naive keying shows what separation by construction
    /// prevents. Mutation testing only.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn with_shared_cache(
        zones: impl Into<Zones>,
        ports: Ports,
        server: Server,
        keying: crate::delegation::cache::CacheKeying,
    ) -> Result<Self, ConfigError> {
        let zones = zones.into();
        let first = zones.iter().next().cloned().ok_or(ConfigError::Invalid {
            name: "KEYCARD_ZONES",
            reason: "names no zone".into(),
        })?;
        let shared = Arc::new(
            crate::delegation::cache::TokenCache::with_keying(
                &first.cache,
                ports.clock.clone(),
                keying,
            )
            .with_inflight(first.inflight, first.limits.outbound_timeout),
        );
        Self::build(zones, ports, server, &|config, ports, discovery| {
            UpstreamAccess::with_shared_cache(config, ports, discovery, shared.clone())
        })
    }

    fn build(
        zones: Zones,
        ports: Ports,
        server: Server,
        make_upstream: &dyn Fn(
            Arc<Config>,
            Ports,
            Arc<Discovery>,
        ) -> Result<UpstreamAccess, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let configs = zones.into_vec();
        let named = configs.iter().any(|c| c.zone.is_some());
        if named && configs.iter().any(|c| c.zone.is_none()) || !named && configs.len() != 1 {
            return Err(ConfigError::Invalid {
                name: "KEYCARD_ZONES",
                reason: "either one unnamed zone or only named zones".into(),
            });
        }
        let states = configs
            .into_iter()
            .map(|config| {
                ZoneState::new(config, &ports, server.clone(), &|config, discovery| {
                    make_upstream(config, ports.clone(), discovery)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            zones: states.into_boxed_slice(),
            named,
            ports,
            sessions: None,
        })
    }

    /// Turns sessions on (see [`crate::session`]): `initialize` in the legacy revisions
    /// opens one in `store`, which lets tools ask the client for input and sampling
    /// during a call ([`crate::tools::ToolContext::elicit`]). Without it the server is
    /// stateless (2026-07-28 calls ask for input statelessly in both cases).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use keycard_core::session::{MemorySessionStore, SessionSettings};
    /// # fn demo(gateway: keycard_core::Gateway, clock: Arc<dyn keycard_core::ports::Clock>) {
    /// let gateway = gateway.with_sessions(
    ///     Arc::new(MemorySessionStore::new(clock, 10_000)),
    ///     SessionSettings::default(),
    /// );
    /// assert!(gateway.has_sessions());
    /// # }
    /// ```
    #[must_use]
    pub fn with_sessions(
        mut self,
        store: Arc<dyn crate::session::SessionStore>,
        settings: crate::session::SessionSettings,
    ) -> Self {
        let sessions = crate::session::Sessions { store, settings };
        for zone in self.zones.iter_mut() {
            zone.mcp.set_sessions(crate::mcp::SessionLayer {
                sessions: sessions.clone(),
                clock: self.ports.clock.clone(),
                crypto: self.ports.crypto.clone(),
                zone: zone.config.zone.clone(),
            });
        }
        self.sessions = Some(sessions);
        self
    }

    /// Like [`Gateway::with_sessions`], but a session is served to ANY identity that
    /// names it: the owner check is skipped. Mutation testing only (`emulator replay
    /// --naive-sessions`, which must then report leaks); never in production.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    #[must_use]
    pub fn with_sessions_ignoring_owner(
        self,
        store: Arc<dyn crate::session::SessionStore>,
        settings: crate::session::SessionSettings,
    ) -> Self {
        let mut gateway = self.with_sessions(store, settings);
        for zone in gateway.zones.iter_mut() {
            zone.mcp.ignore_session_owner();
        }
        gateway
    }

    /// Whether sessions are on ([`Gateway::with_sessions`]).
    pub fn has_sessions(&self) -> bool {
        self.sessions.is_some()
    }

    /// The server it serves, as offered in the first zone (without the
    /// [`Server::tool_if_configured`] tools that zone lacks an upstream for).
    pub fn server(&self) -> &Server {
        self.zones[0].mcp.server()
    }

    /// The configuration this gateway runs with: the first zone's (the deployment-wide
    /// settings — limits, caches, origins — are the same in every zone).
    pub fn config(&self) -> &Config {
        &self.zones[0].config
    }

    /// Every zone's configuration.
    pub fn zone_configs(&self) -> impl Iterator<Item = &Config> {
        self.zones.iter().map(|z| &*z.config)
    }

    /// The token caches' counters (entries, hits, misses, exchanges, evictions…), summed
    /// over the zones.
    pub fn cache_stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for zone in self.zones.iter() {
            let s = zone.upstream.cache_stats();
            total.entries += s.entries;
            total.hits += s.hits;
            total.misses += s.misses;
            total.exchanges += s.exchanges;
            total.joined += s.joined;
            total.uncacheable += s.uncacheable;
            total.evictions += s.evictions;
            total.invalidations += s.invalidations;
        }
        total
    }

    /// Delegated upstream access (credentials, exchange, token cache) of the first zone.
    pub fn upstream(&self) -> &UpstreamAccess {
        &self.zones[0].upstream
    }

    /// Delegated upstream access of the zone called `zone`.
    pub fn zone_upstream(&self, zone: &str) -> Option<&UpstreamAccess> {
        self.zones
            .iter()
            .find(|z| z.name() == Some(zone))
            .map(|z| &z.upstream)
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
                    Budget::starting_now(&*self.ports.clock, self.config().limits.request_budget);
                self.route(request, budget).await
            }
        };
        crate::http::cors::apply_cors(response.headers_mut());
        response
    }

    /// [`Gateway::handle_streaming`] as one boxed future. Its `poll` is a single function that the
    /// compiler cannot inline into the host's own futures, so the code a host runs for a
    /// request is exactly the code [`crate::warm_up::warm_up`] runs at startup (which is
    /// what lets V8 compile it before the first request). Hosts that warm up call this;
    /// one allocation per request is its whole cost.
    pub fn handle_boxed(&self, request: Request<Bytes>) -> BoxFuture<'_, Response<Body<'_>>> {
        Box::pin(self.handle_streaming(request))
    }

    /// 431 when the headers are larger than `max_header_bytes` (see [`header_bytes`]).
    fn check_header_size(&self, headers: &http::HeaderMap) -> Option<Response<Bytes>> {
        let limits = &self.config().limits;
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

    /// The zone named by the path segment `name`.
    fn named_zone(&self, name: &str) -> Option<&ZoneState> {
        if !self.named {
            return None;
        }
        self.zones.iter().find(|z| z.name() == Some(name))
    }

    /// What `path` routes to. The classic `/mcp` is decided by one comparison, without
    /// allocating.
    fn classify(&self, path: &str) -> Route<'_> {
        if !self.named {
            let zone = &self.zones[0];
            return match path {
                "/mcp" => Route::Mcp(zone),
                PRM_PATH | PRM_MCP_PATH => Route::Prm(zone),
                AS_METADATA_PATH => Route::AsMetadata(zone),
                JWKS_PATH => Route::Jwks,
                _ => Route::NotFound,
            };
        }
        match path {
            JWKS_PATH => return Route::Jwks,
            PRM_PATH | PRM_MCP_PATH | AS_METADATA_PATH | "/mcp" => return Route::NeedsZone,
            _ => {}
        }
        if let Some(name) = path
            .strip_prefix(PRM_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix("/mcp"))
        {
            return self.named_zone(name).map_or(Route::NotFound, Route::Prm);
        }
        if let Some(name) = path
            .strip_prefix(AS_METADATA_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            return self
                .named_zone(name)
                .map_or(Route::NotFound, Route::AsMetadata);
        }
        if let Some(name) = path
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix("/mcp"))
        {
            return self.named_zone(name).map_or(Route::NotFound, Route::Mcp);
        }
        Route::NotFound
    }

    async fn route(&self, request: Request<Bytes>, budget: Budget) -> Response<Body<'_>> {
        let path = request.uri().path();
        let route = self.classify(path);
        if request.method() == Method::OPTIONS {
            return crate::http::cors::preflight(matches!(route, Route::Mcp(_))).map(Body::Full);
        }
        if path == "/health" {
            return response::ok_json(&serde_json::json!({ "status": "ok" })).map(Body::Full);
        }
        if !matches!(route, Route::Mcp(_))
            && let Some(name) = crate::mcp::transport::duplicate_singleton(request.headers())
        {
            return response::duplicate_header(name).map(Body::Full);
        }
        if let Some(refused) = self.check_origin_pinned(&request) {
            return refused.map(Body::Full);
        }
        let response = match route {
            Route::Mcp(zone) => return self.mcp_route(zone, request, budget).await,
            Route::Prm(_) | Route::AsMetadata(_) | Route::Jwks
                if request.method() != Method::GET =>
            {
                response::method_not_allowed("GET, OPTIONS")
            }
            Route::Prm(zone) => match request_origin(&request) {
                Some(origin) => {
                    let mut metadata = crate::oauth::metadata::protected_resource_response(
                        &zone.config,
                        &zone.resource_id(Some(&origin)),
                        &zone.as_base(&origin),
                        request.headers(),
                    );
                    // Configuration, origin and `MCP-Protocol-Version` alone decide it.
                    metadata.extensions_mut().insert(super::Reusable);
                    metadata
                }
                None => response::not_absolute(),
            },
            Route::AsMetadata(zone) => {
                let origin = request_origin(&request);
                crate::oauth::metadata::authorization_server_response(
                    &zone.config,
                    &zone.discovery,
                    &zone.resource_id(origin.as_deref()),
                    origin.as_deref().map(|o| zone.as_base(o)).as_deref(),
                )
                .await
            }
            Route::Jwks => self.jwks_response(),
            Route::NeedsZone => response::not_found(&format!(
                "this server serves several zones: use /{{zone}}/mcp and its metadata at {PRM_PATH}/{{zone}}/mcp (zones: {})",
                self.zone_configs()
                    .filter_map(|c| c.zone.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Route::NotFound => response::not_found(&format!("no route for {path}")),
        };
        response.map(Body::Full)
    }

    async fn mcp_route<'a>(
        &'a self,
        zone: &'a ZoneState,
        mut request: Request<Bytes>,
        budget: Budget,
    ) -> Response<Body<'a>> {
        if request.method() == Method::DELETE && zone.mcp.has_sessions() {
            return self
                .delete_session(zone, &request, budget)
                .await
                .map(Body::Full);
        }
        let (origin, resource_id, pre) = match self.mcp_head(zone, &mut request) {
            Ok(admitted) => admitted,
            Err(refused) => return refused.map(Body::Full),
        };
        let identity = match zone.auth.finish_within(pre, budget).await {
            Ok(identity) => identity,
            Err(err) => {
                return response::auth_error(
                    &err,
                    &crate::oauth::metadata::zone_resource_metadata_url(&origin, zone.name()),
                    &zone.config.required_scopes,
                )
                .map(Body::Full);
            }
        };
        let access = zone
            .upstream
            .for_resource_id(resource_id)
            .with_budget(budget);
        // The body's own size is checked here, after authentication (see `mcp_head`).
        zone.mcp.handle(&request, identity, access).await
    }

    /// `DELETE /mcp` with sessions on: the same origin and bearer checks as a POST, then
    /// the session is ended (see [`crate::session`]).
    async fn delete_session(
        &self,
        zone: &ZoneState,
        request: &Request<Bytes>,
        budget: Budget,
    ) -> Response<Bytes> {
        if let Err(e) = crate::mcp::transport::check_origin(&zone.config, request) {
            return response::transport_error(&e);
        }
        let Some(origin) = request_origin(request) else {
            return response::not_absolute();
        };
        let resource_id = zone.resource_id(Some(&origin));
        let refused = |err: &crate::auth::AuthError| {
            response::auth_error(
                err,
                &crate::oauth::metadata::zone_resource_metadata_url(&origin, zone.name()),
                &zone.config.required_scopes,
            )
        };
        let pre = match zone.auth.precheck(request.headers(), &resource_id) {
            Ok(pre) => pre,
            Err(err) => return refused(&err),
        };
        match zone.auth.finish_within(pre, budget).await {
            Ok(identity) => zone.mcp.delete_session(request.headers(), &identity).await,
            Err(err) => refused(&err),
        }
    }

    /// Everything `POST /mcp` decides from the request head, in order: the transport
    /// checks that need no body (see [`crate::mcp::transport::check_head`]), the origin and
    /// resource id, and the synchronous half of authentication (every claim; the
    /// signature comes later). A [`Prechecked`] a host's [`Gateway::answer_from_head`] left
    /// in the request's extensions for this very header and resource is used instead of
    /// checking again. `Err` is the whole answer.
    // The `Err` is the whole answer, built once and returned as it is; boxing it would
    // only add an allocation to every refusal.
    #[allow(clippy::result_large_err)]
    fn mcp_head<B>(
        &self,
        zone: &ZoneState,
        request: &mut Request<B>,
    ) -> Result<(String, String, Prechecked), Response<Bytes>> {
        if let Some(refused) = zone.mcp.precheck_head(request) {
            return Err(refused);
        }
        let Some(origin) = request_origin(request) else {
            return Err(response::not_absolute());
        };
        let resource_id = zone.resource_id(Some(&origin));
        let early = request
            .extensions_mut()
            .remove::<Prechecked>()
            .filter(|pre| pre.is_for(request.headers(), &resource_id));
        let pre = match early {
            Some(pre) => pre,
            None => zone
                .auth
                .precheck(request.headers(), &resource_id)
                .map_err(|err| {
                    response::auth_error(
                        &err,
                        &crate::oauth::metadata::zone_resource_metadata_url(&origin, zone.name()),
                        &zone.config.required_scopes,
                    )
                })?,
        };
        Ok((origin, resource_id, pre))
    }

    /// The answer to a request that can be answered from its head alone, before its
    /// body is read: `Some` only when [`Gateway::handle`] gives this very response to this
    /// request whatever its body (today: a `POST` to an MCP path refused by the transport
    /// checks or by its bearer token: missing, malformed, expired, for another resource…).
    /// `None`: read the body, then call [`Gateway::handle`] (or
    /// [`Gateway::handle_boxed`]) with this same request and its body; the token checks
    /// done here are then not repeated.
    ///
    /// Hosts that read bodies lazily call it first, so a refused request's body is never
    /// copied or parsed (the wasm host leaves a refused token's body unread and answers
    /// its 401 without an await; see [`crate::http::response::strip_to_challenge`]).
    pub fn answer_from_head(&self, head: &mut Request<()>) -> Option<Response<Bytes>> {
        if head.method() != Method::POST {
            return None;
        }
        let answer = match self.check_header_size(head.headers()) {
            Some(too_large) => too_large,
            None => {
                let Route::Mcp(zone) = self.classify(head.uri().path()) else {
                    return None;
                };
                if let Some(refused) = self.check_origin_pinned(head) {
                    refused
                } else {
                    match self.mcp_head(zone, head) {
                        Ok((_, _, pre)) => {
                            head.extensions_mut().insert(pre);
                            return None;
                        }
                        Err(refused) => refused,
                    }
                }
            }
        };
        let mut answer = answer;
        crate::http::cors::apply_cors(answer.headers_mut());
        Some(answer)
    }

    /// With `KEYCARD_PUBLIC_ORIGINS` set, every request (but `OPTIONS` and `/health`) must
    /// be for one of those origins: 421 otherwise (400 when the URI has no origin at all),
    /// before anything — resource id, metadata, audience — is derived from it. The
    /// request's origin comes from its URI: on Workers the routed URL, on a native host the
    /// client's `Host` header or absolute-form target, which a client chooses freely.
    fn check_origin_pinned<B>(&self, request: &Request<B>) -> Option<Response<Bytes>> {
        let config = self.config();
        if config.public_origins.is_empty() {
            return None;
        }
        match request_origin(request) {
            Some(origin) if config.serves_origin(&origin) => None,
            Some(origin) => {
                tracing::info!(origin = %origin.chars().take(200).collect::<String>(), "request for an origin this server does not serve");
                Some(response::misdirected(&origin, &config.public_origins))
            }
            None => Some(response::not_absolute()),
        }
    }

    /// `GET /.well-known/jwks.json`: the web-identity public keys Keycard verifies our
    /// `private_key_jwt` assertions with (every web-identity zone's); 404 when every zone
    /// uses a client secret.
    fn jwks_response(&self) -> Response<Bytes> {
        let mut keys: Vec<serde_json::Value> = Vec::new();
        for zone in self.zones.iter() {
            if let Some(jwks) = zone.upstream.public_jwks()
                && let Ok(serde_json::Value::Object(mut doc)) = serde_json::to_value(&jwks)
                && let Some(serde_json::Value::Array(zone_keys)) = doc.remove("keys")
            {
                for key in zone_keys {
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
        if keys.is_empty() {
            return response::not_found(
                "this server authenticates to Keycard with a client secret and publishes no keys (set KEYCARD_PRIVATE_KEY for web identity)",
            );
        }
        let mut response = response::ok_json(&serde_json::json!({ "keys": keys }));
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=300"),
        );
        response
    }
}

impl ZoneState {
    /// This zone's resource identifier for a request at `request_origin`: its
    /// `resource_id` if set, else the request origin (as the seed guide registers the
    /// Worker's URL in Keycard) for the classic zone, `origin/{zone}/mcp` for a named
    /// one. [`Gateway::check_origin_pinned`] has already matched the origin against
    /// `KEYCARD_PUBLIC_ORIGINS` when those are set.
    fn resource_id(&self, request_origin: Option<&str>) -> String {
        if let Some(id) = &self.config.resource_id {
            return id.clone();
        }
        match (request_origin, self.name()) {
            (Some(origin), None) => origin.to_owned(),
            (Some(origin), Some(zone)) => format!("{origin}/{zone}/mcp"),
            (None, _) => String::new(),
        }
    }

    /// The base URL this zone's proxied authorization-server metadata is served under
    /// (the 2025-03-26 compatibility rewrite): the origin, plus `/{zone}` for a named zone
    /// (its document then lives at the RFC 8414 path-inserted
    /// `/.well-known/oauth-authorization-server/{zone}`).
    fn as_base<'a>(&self, origin: &'a str) -> std::borrow::Cow<'a, str> {
        match self.name() {
            None => std::borrow::Cow::Borrowed(origin),
            Some(zone) => std::borrow::Cow::Owned(format!("{origin}/{zone}")),
        }
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
            let (name, how) = match (missing == crate::config::DEFAULT_UPSTREAM, &config.zone) {
                (true, None) => ("KEYCARD_RESOURCE_URL", "set it to that API's base URL"),
                (false, None) => ("KEYCARD_UPSTREAMS", "add it there"),
                // Named zones: the zone's own setting (`KEYCARD_ZONES["z"].…`).
                (true, Some(_)) => ("KEYCARD_ZONES", "set the zone's resource_url"),
                (false, Some(_)) => ("KEYCARD_ZONES", "add it to the zone's upstreams"),
            };
            let zone = config
                .zone
                .as_deref()
                .map(|z| format!("in zone {z:?}, "))
                .unwrap_or_default();
            return Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "{zone}{kind} `{what}` calls the upstream {missing:?}, which is not configured ({how}; configured: {})",
                    config.upstream_names()
                ),
            });
        }
    }
    Ok(())
}

/// Every tool's input schema, and its output schema if it has one, must describe a JSON
/// object, as MCP requires (`tools/list` with anything else is refused by strict clients,
/// and such a tool's arguments could never arrive: they are always an object). Derived
/// schemas are generated here, once, instead of on the first `tools/list`.
fn check_schemas(server: &Server) -> Result<(), ConfigError> {
    for tool in server.tools().iter() {
        let def = tool.definition();
        let schemas = [
            (
                "input",
                Some(def.input_schema()),
                "make the arguments type a struct (or `NoArgs`)",
            ),
            (
                "output",
                def.output_schema(),
                "return `Json<T>` with `T` a struct, or wrap a list in one",
            ),
        ];
        for (which, schema, fix) in schemas {
            let Some(schema) = schema else { continue };
            let kind = schema.get("type");
            if kind.and_then(serde_json::Value::as_str) != Some("object") {
                let found =
                    kind.map_or_else(|| "no \"type\"".to_owned(), |t| format!("\"type\": {t}"));
                return Err(ConfigError::Tool {
                    tool: def.name.clone(),
                    reason: format!(
                        "its {which} schema has {found}; MCP requires an object schema ({fix})"
                    ),
                });
            }
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
fn request_origin<B>(request: &Request<B>) -> Option<String> {
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
