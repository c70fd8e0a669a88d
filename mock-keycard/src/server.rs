//! The router ([`app`]) and the embeddable server ([`MockKeycard`]).

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ZoneConfig;
use crate::faults::{Endpoint, inject};
use crate::upstream::{CALENDAR_PATH, UPSTREAM_PATH};
use crate::zone::{Zone, ZoneError};
use crate::{admin, authorize, consent, discovery, register, token, upstream};

/// The zone's whole HTTP surface as one router (testable with `tower::ServiceExt::oneshot`).
///
/// | path | what |
/// |---|---|
/// | `GET /.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | discovery |
/// | `GET /.well-known/jwks.json` | JWKS (current + grace keys) |
/// | `GET,POST /authorize` | auth code + PKCE; `login_hint=<sub>` skips the page |
/// | `POST /token` | token exchange, authorization_code, refresh_token, client_credentials |
/// | `POST /register` | RFC 7591 dynamic registration |
/// | `GET /upstream/github/user`, any `/upstream/github/*` | demo upstream (per-user canaries) |
/// | `GET /audit`, `/audit.html` | audit log (`?sub=&client_id=&outcome=&jti=&resource=`) |
/// | `GET,POST /consent` | consent page (URL-mode elicitation target) |
/// | `POST /admin/rotate`, `GET,POST,DELETE /admin/faults`, `POST /admin/consent`, `POST /admin/mcp-resource`, `GET /admin/users` | mock admin |
/// | `POST /dev/token` | mock token mint |
pub fn app(zone: Zone) -> Router {
    let faulty = |router: Router<Zone>, endpoint: Endpoint| {
        router.route_layer(middleware::from_fn_with_state(
            (zone.clone(), endpoint),
            inject,
        ))
    };
    let discovery_routes = faulty(
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(discovery::discovery),
            )
            .route(
                "/.well-known/openid-configuration",
                get(discovery::discovery),
            ),
        Endpoint::Discovery,
    );
    let jwks = faulty(
        Router::new().route("/.well-known/jwks.json", get(discovery::jwks)),
        Endpoint::Jwks,
    );
    let token_routes = faulty(
        Router::new().route("/token", post(token::token)),
        Endpoint::Token,
    );
    let authorize_routes = faulty(
        Router::new().route("/authorize", get(authorize::get).post(authorize::post)),
        Endpoint::Authorize,
    );
    let register_routes = faulty(
        Router::new().route("/register", post(register::register)),
        Endpoint::Register,
    );
    let upstream_routes = faulty(
        Router::new()
            .route(&format!("{UPSTREAM_PATH}/user"), get(upstream::user))
            .route(&format!("{UPSTREAM_PATH}/{{*rest}}"), any(upstream::any))
            .route(
                &format!("{CALENDAR_PATH}/{{*rest}}"),
                any(upstream::calendar),
            ),
        Endpoint::Upstream,
    );
    let admin_routes = Router::new()
        .route("/admin/rotate", post(admin::rotate))
        .route(
            "/admin/faults",
            get(admin::get_faults)
                .post(admin::set_faults)
                .delete(admin::clear_faults),
        )
        .route("/admin/consent", post(admin::consent))
        .route("/consent", get(consent::get).post(consent::post))
        .route("/admin/mcp-resource", post(admin::mcp_resource))
        .route("/admin/users", get(admin::users))
        .route("/dev/token", post(admin::dev_token))
        .route("/audit", get(admin::audit))
        .route("/audit.html", get(admin::audit_html));
    Router::new()
        .merge(discovery_routes)
        .merge(jwks)
        .merge(token_routes)
        .merge(authorize_routes)
        .merge(register_routes)
        .merge(upstream_routes)
        .merge(admin_routes)
        .layer(middleware::from_fn(cors))
        .with_state(zone)
}

/// Permissive CORS so browser-based MCP clients (e.g. the MCP Inspector) can use the zone.
async fn cors(request: Request, next: Next) -> Response {
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ORIGIN);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, MCP-Protocol-Version"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// A running zone on a loopback socket. Dropping it (or [`MockKeycard::shutdown`]) stops the
/// server gracefully.
#[derive(Debug)]
pub struct MockKeycard {
    zone: Zone,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MockKeycard {
    /// Starts `config` on `127.0.0.1:0`.
    pub async fn start(config: ZoneConfig) -> Result<Self, ZoneError> {
        Self::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts `config` on `addr` (port 0: any free port). The issuer is `http://<bound addr>`
    /// (`127.0.0.1` when bound to an unspecified address) unless the config overrides it.
    pub async fn start_on(config: ZoneConfig, addr: SocketAddr) -> Result<Self, ZoneError> {
        Self::start_with_listener(config, TcpListener::bind(addr).await?).await
    }

    /// Starts `config` on an already bound listener (e.g. when the port must be known before
    /// the configuration is built).
    pub async fn start_with_listener(
        config: ZoneConfig,
        listener: TcpListener,
    ) -> Result<Self, ZoneError> {
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let zone = Zone::new(config, &format!("http://{local}"))?;
        let router = app(zone.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(issuer = %zone.issuer(), "mock-keycard zone listening");
        Ok(Self {
            zone,
            addr: local,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The issuer (`http://127.0.0.1:<port>`, no trailing slash).
    pub fn issuer(&self) -> String {
        self.zone.issuer()
    }

    /// The demo upstream API base (`GET <upstream_url>/user`), also the upstream resource.
    pub fn upstream_url(&self) -> String {
        self.zone.upstream_url()
    }

    /// The calendar demo upstream's base (`GET <calendar_url>/events`), also its resource.
    pub fn calendar_url(&self) -> String {
        self.zone.calendar_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The zone, for in-process use (mint, audit, rotate, faults, consent).
    pub fn zone(&self) -> Zone {
        self.zone.clone()
    }

    /// Stops the server and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "mock-keycard server task failed");
        }
    }
}

impl Drop for MockKeycard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
