//! `cargo run -p emulator`: the embedded mock zone, its demo upstream and the core behind
//! axum, in one process, offline.

use std::net::SocketAddr;
use std::sync::Arc;

use keycard_core::Gateway;
use keycard_core::session::{MemorySessionStore, SessionSettings, SessionStore};
use mock_keycard::ZoneConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::ServeArgs;
use crate::host::{HostState, app};
use crate::isolate::{IsolateError, IsolatePool};
use crate::ports::{InProcessHttp, ReqwestHttp, native_ports};
use crate::settings::{EnvMap, FileConfig, SettingsError};
use crate::zones::{EmbeddedZone, ZoneSetupError, jitter_faults};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Flags, env or config file.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The core's configuration is unusable (names the variable to fix).
    #[error("configuration: {0}")]
    Config(#[from] keycard_core::ConfigError),
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The embedded zone failed.
    #[error(transparent)]
    Zone(#[from] ZoneSetupError),
    /// The isolates failed to start.
    #[error(transparent)]
    Isolate(#[from] IsolateError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] crate::ports::ReqwestHttpError),
    /// An in-process origin was invalid.
    #[error(transparent)]
    InProcess(#[from] crate::ports::InProcessError),
}

/// A running dev server.
#[derive(Debug)]
pub struct Server {
    /// `http://<addr>/mcp`.
    pub mcp_url: String,
    /// The server origin (`http://<addr>`).
    pub origin: String,
    /// The embedded zone, unless `--issuer` points elsewhere.
    pub zone: Option<EmbeddedZone>,
    /// The isolates.
    pub pool: Arc<IsolatePool>,
    tools: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn display_host(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

/// `http://<listen address>`, plus `http://localhost:<port>` when listening on loopback
/// (or every interface): the origins a local client reaches this server by.
fn default_public_origins(local: SocketAddr) -> String {
    let shown = display_host(local);
    let mut origins = format!("http://{shown}");
    if shown.ip().is_loopback() {
        origins.push_str(&format!(",http://localhost:{}", shown.port()));
    }
    origins
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, ServeError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Starts the server described by `args` (and the process environment).
pub async fn start(args: &ServeArgs) -> Result<Server, ServeError> {
    start_with_env(args, std::env::vars()).await
}

/// Like [`start`] with an explicit environment (tests).
pub async fn start_with_env(
    args: &ServeArgs,
    process_env: impl IntoIterator<Item = (String, String)>,
) -> Result<Server, ServeError> {
    start_with_server(args, process_env, keycard_core::Server::demo()).await
}

/// The offline dev server for **your** MCP server: the embedded mock zone, its demo
/// upstream (every upstream name your tools declare points at it unless
/// `KEYCARD_UPSTREAMS` says otherwise) and `server` behind `http://127.0.0.1:8787/mcp`,
/// configured from the process environment (`KEYCARD_*`, `EMULATOR_PORT`...). Prints
/// the banner (URLs, client configuration, how to get tokens) and serves until Ctrl-C.
///
/// ```no_run
/// // examples/dev.rs of your crate (the emulator is a dev-dependency): `cargo run --example dev`
/// # fn my_server() -> keycard_core::Server { keycard_core::Server::demo() }
/// #[tokio::main]
/// async fn main() -> Result<(), emulator::serve::ServeError> {
///     emulator::serve::run(my_server()).await
/// }
/// ```
pub async fn run(server: keycard_core::Server) -> Result<(), ServeError> {
    let args = ServeArgs {
        host: std::env::var("EMULATOR_HOST").ok(),
        port: std::env::var("EMULATOR_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        zone_port: std::env::var("EMULATOR_ZONE_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        ..ServeArgs::default()
    };
    let running = start_with_server(&args, std::env::vars(), server).await?;
    println!("{}", running.banner());
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(())
}

/// Like [`start_with_env`], serving `server` (your tools) instead of the demo server.
pub async fn start_with_server(
    args: &ServeArgs,
    process_env: impl IntoIterator<Item = (String, String)>,
    server: keycard_core::Server,
) -> Result<Server, ServeError> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let host = args
        .host
        .clone()
        .or(file.host.clone())
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(file.port).unwrap_or(8787);
    let zone_port = args.zone_port.or(file.zone_port).unwrap_or(8788);
    let isolates = args.isolates.or(file.isolates).unwrap_or(1);
    let route = args.route.or(file.route).unwrap_or_default();
    let mut env = EnvMap::assemble(&args.keycard, process_env, &file)?;

    let listener = bind(&host, port).await?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: format!("{host}:{port}"),
        source,
    })?;
    let listen_origin = format!("http://{}", display_host(local));
    // The resource id is never taken from a client-chosen `Host`: pin the served origins
    // (the listen origin unless configured) and let the core refuse the rest with 421.
    if env.get("KEYCARD_PUBLIC_ORIGINS").is_none() {
        env.set("KEYCARD_PUBLIC_ORIGINS", default_public_origins(local));
    }
    let origin = env
        .get("KEYCARD_PUBLIC_ORIGINS")
        .and_then(|list| list.split(',').map(str::trim).find(|o| !o.is_empty()))
        .and_then(keycard_core::http::resource::origin_of)
        .unwrap_or(listen_origin);

    let mut http = InProcessHttp::new(Arc::new(ReqwestHttp::new()?));
    let zone = if env.get("KEYCARD_ISSUER").is_none() {
        let config = ZoneConfig::default()
            .with_mcp_resource(&origin)
            .with_faults(jitter_faults(args.seed, args.jitter_ms));
        let (client_id, secret) = EmbeddedZone::worker_credentials(&config)?;
        let zone_addr: SocketAddr =
            format!("{host}:{zone_port}")
                .parse()
                .map_err(|_| ServeError::Bind {
                    addr: format!("{host}:{zone_port}"),
                    source: std::io::Error::other("not an IP address"),
                })?;
        let zone = EmbeddedZone::listening(config, zone_addr).await?;
        env.set("KEYCARD_ISSUER", zone.issuer());
        env.set_default("KEYCARD_RESOURCE_URL", zone.upstream_url());
        if let Some(upstreams) = crate::harness::named_upstreams(&server, &zone) {
            env.set_default("KEYCARD_UPSTREAMS", upstreams);
        }
        if !env.has_credentials() {
            env.set("KEYCARD_CLIENT_ID", client_id);
            env.set("KEYCARD_CLIENT_SECRET", secret);
        }
        http = http.with_origin(&zone.issuer(), zone.router())?;
        Some(zone)
    } else {
        None
    };
    let config = env.to_config()?;
    let max_body_bytes = config.limits.max_body_bytes;
    let ports = native_ports(Arc::new(http));
    let tools = server.tools().names();
    // Sessions (`Mcp-Session-Id`, elicitation and sampling in the legacy revisions): one
    // store shared by every isolate, as a Durable Object is shared by a Worker's isolates
    // — a client's answer reaches the waiting call whichever isolate receives it.
    // `KEYCARD_SESSIONS=off` runs stateless, as a Worker without the binding does.
    let sessions = sessions_from(env.get("KEYCARD_SESSIONS"), &ports)?;
    let pool = Arc::new(IsolatePool::start(isolates, route, args.seed, move |_| {
        let gateway = Gateway::new(config.clone(), ports.clone(), server.clone())
            .map_err(|e| e.to_string())?;
        Ok(match &sessions {
            Some(store) => gateway.with_sessions(store.clone(), SessionSettings::default()),
            None => gateway,
        })
    })?);
    let state = HostState {
        pool: pool.clone(),
        max_body_bytes,
        default_origin: origin.clone(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let router = app(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%origin, isolates, ?route, "emulator listening");
    Ok(Server {
        mcp_url: format!("{origin}/mcp"),
        origin,
        zone,
        pool,
        tools,
        shutdown: Some(tx),
        task,
    })
}

/// The session store `KEYCARD_SESSIONS` asks for: on (the default) or `off`.
fn sessions_from(
    setting: Option<&str>,
    ports: &keycard_core::ports::Ports,
) -> Result<Option<Arc<dyn SessionStore>>, ServeError> {
    match setting.map(str::trim) {
        None | Some("" | "on") => Ok(Some(Arc::new(MemorySessionStore::new(
            ports.clock.clone(),
            100_000,
        )))),
        Some("off") => Ok(None),
        Some(other) => Err(ServeError::Config(keycard_core::ConfigError::Invalid {
            name: "KEYCARD_SESSIONS",
            reason: format!("must be `on` or `off`, not {other:?}"),
        })),
    }
}

impl Server {
    /// What to print at start-up: URLs, an MCP client config and how to get tokens.
    pub fn banner(&self) -> String {
        let mut out = String::new();
        out.push_str("Keycard MCP emulator (offline)\n\n");
        out.push_str(&format!("  MCP endpoint      {}\n", self.mcp_url));
        out.push_str(&format!(
            "  resource metadata {}/.well-known/oauth-protected-resource\n",
            self.origin
        ));
        out.push_str(&format!("  health            {}/health\n", self.origin));
        out.push_str(&format!("  tools             {}\n", self.tools));
        out.push_str(&format!(
            "  isolates          {} ({:?} routing)\n",
            self.pool.len(),
            self.pool.policy()
        ));
        if let Some(zone) = &self.zone {
            let issuer = zone.issuer();
            out.push_str(&format!(
                "  mock Keycard zone {issuer}  (MOCK: offline, throwaway keys)\n"
            ));
            out.push_str(&format!(
                "  demo upstream     {}/user\n",
                zone.upstream_url()
            ));
            out.push_str(&format!("  audit log         {issuer}/audit.html\n"));
        }
        let cursor = serde_json::json!({
            "mcpServers": { "keycard-emulator": { "url": self.mcp_url } }
        });
        // Claude Desktop's config file starts stdio servers only: bridge with mcp-remote.
        let claude = serde_json::json!({
            "mcpServers": { "keycard-emulator": {
                "command": "npx", "args": ["mcp-remote", self.mcp_url]
            } }
        });
        out.push_str("\nCursor (~/.cursor/mcp.json):\n");
        out.push_str(&serde_json::to_string(&cursor).unwrap_or_default());
        out.push_str("\nClaude Desktop (claude_desktop_config.json, through mcp-remote):\n");
        out.push_str(&serde_json::to_string(&claude).unwrap_or_default());
        out.push('\n');
        if let Some(zone) = &self.zone {
            let issuer = zone.issuer();
            out.push_str(
                "\nClients that support OAuth sign in through the mock zone's login page.\n\
                 Tokens for scripts (mock feature):\n",
            );
            for user in zone.zone().users() {
                let sub_json = serde_json::to_string(&user.sub).unwrap_or_default();
                out.push_str(&format!(
                    "  {:<12} curl -s -X POST {issuer}/dev/token -H 'content-type: application/json' -d '{{\"sub\":{sub_json}}}'\n",
                    user.profile.login
                ));
            }
            let default_issuer = issuer == crate::token::DEFAULT_ZONE_ISSUER
                && self.origin == crate::token::DEFAULT_RESOURCE;
            let extra = if default_issuer {
                String::new()
            } else {
                format!(" --issuer {issuer} --resource {}", self.origin)
            };
            out.push_str(&format!(
                "  or offline:  cargo run -p emulator -- token --sub alice{extra}\n"
            ));
            out.push_str(&format!(
                "  then:        curl -s {} -H \"authorization: Bearer $TOKEN\" -H 'accept: application/json' \\\n               -H 'content-type: application/json' -H 'mcp-protocol-version: 2025-11-25' \\\n               -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'\n",
                self.mcp_url
            ));
        }
        out
    }

    /// Stops accepting, drains the isolates and the zone.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
        if let Ok(pool) = Arc::try_unwrap(self.pool) {
            pool.shutdown().await;
        }
        if let Some(zone) = self.zone {
            zone.shutdown().await;
        }
    }
}
