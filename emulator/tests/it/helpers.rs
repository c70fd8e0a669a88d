//! Shared set-up.

use std::sync::Arc;

use emulator::host::HostState;
use emulator::isolate::{IsolatePool, RoutePolicy};
use emulator::ports::{InProcessHttp, ReqwestHttp, native_ports};
use emulator::settings::EnvMap;
use emulator::zones::EmbeddedZone;
use keycard_core::Gateway;
use mock_keycard::ZoneConfig;

/// The virtual origin of the in-process host.
pub const ORIGIN: &str = "http://emu.test";

/// An in-process zone for [`ORIGIN`], an HTTP port routing to it, and an environment
/// with its issuer and the Worker's client credentials (no upstream set).
pub fn in_process_zone() -> (EmbeddedZone, InProcessHttp, EnvMap) {
    let zone = EmbeddedZone::in_process(
        ZoneConfig::default().with_mcp_resource(ORIGIN),
        "http://zone.test",
    )
    .unwrap();
    let http = InProcessHttp::new(Arc::new(ReqwestHttp::new().unwrap()))
        .with_origin(&zone.issuer(), zone.router())
        .unwrap();
    let (client_id, secret) = EmbeddedZone::worker_credentials(&ZoneConfig::default()).unwrap();
    let mut env = EnvMap::default();
    env.set("KEYCARD_ISSUER", zone.issuer());
    env.set("KEYCARD_CLIENT_ID", client_id);
    env.set("KEYCARD_CLIENT_SECRET", secret);
    (zone, http, env)
}

/// A host state over `isolates` isolates backed by an in-process zone.
pub fn in_process_host(isolates: usize) -> (HostState, EmbeddedZone) {
    in_process_host_with(isolates, keycard_core::Server::demo)
}

/// Like [`in_process_host`], each isolate serving the server `app` builds.
pub fn in_process_host_with(
    isolates: usize,
    app: impl Fn() -> keycard_core::Server + Send + Sync + 'static,
) -> (HostState, EmbeddedZone) {
    let (zone, http, mut env) = in_process_zone();
    env.set("KEYCARD_RESOURCE_URL", zone.upstream_url());
    let config = env.to_config().unwrap();
    let ports = native_ports(Arc::new(http));
    let pool = IsolatePool::start(isolates, RoutePolicy::RoundRobin, 1, move |_| {
        Gateway::new(config.clone(), ports.clone(), app()).map_err(|e| e.to_string())
    })
    .unwrap();
    (
        HostState {
            pool: Arc::new(pool),
            max_body_bytes: 64 * 1024,
            default_origin: ORIGIN.into(),
        },
        zone,
    )
}

/// A free loopback port (bound and released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tools/call` body.
pub fn tool_call(name: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": name, "arguments": {}}})
    .to_string()
}

/// The dev server (`cargo run -p emulator`) with its embedded zone, both on port 0.
pub async fn spawn_dev_server() -> emulator::serve::Server {
    let args = emulator::cli::ServeArgs {
        port: Some(0),
        zone_port: Some(0),
        ..emulator::cli::ServeArgs::default()
    };
    emulator::serve::start_with_env(&args, Vec::new())
        .await
        .unwrap()
}
