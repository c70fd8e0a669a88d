//! The embedded mock Keycard zones: built in-process (no socket, reached through
//! [`crate::ports::InProcessHttp`]) or listening on a port (for real clients and remote
//! Workers), always with their axum router at hand.

use std::net::SocketAddr;

use axum::Router;
use mock_keycard::{FaultSpec, Faults, MockKeycard, Profile, UserConfig, Zone, ZoneConfig};

/// The application the core authenticates as in client-secret mode (from the default
/// zone fixture).
pub const WORKER_CLIENT_ID: &str = "mcp-worker";

/// The other zone's signing key (`fixtures/keys/other-zone.pem`), for the second zone.
const SECONDARY_ZONE_PEM: &str = include_str!("../../fixtures/keys/other-zone.pem");

/// Why a zone could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ZoneSetupError {
    /// mock-keycard refused the configuration or could not bind.
    #[error("mock zone: {0}")]
    Zone(#[from] mock_keycard::ZoneError),
    /// The fault settings were refused.
    #[error("mock zone faults: {0}")]
    Faults(#[from] mock_keycard::FaultError),
    /// The second zone's key file could not be written.
    #[error("writing the second zone's key: {0}")]
    Key(std::io::Error),
    /// The fixture has no client-secret application for the Worker.
    #[error("the zone has no application {WORKER_CLIENT_ID:?} with a client secret")]
    NoWorkerApp,
}

/// A zone and its router; keeps its server (if listening) alive.
#[derive(Debug)]
pub struct EmbeddedZone {
    zone: Zone,
    router: Router,
    server: Option<MockKeycard>,
}

impl EmbeddedZone {
    /// A zone with no socket; `issuer` is only a name (route it with `InProcessHttp`).
    pub fn in_process(config: ZoneConfig, issuer: &str) -> Result<Self, ZoneSetupError> {
        let zone = Zone::new(config.with_issuer(issuer), issuer)?;
        let router = mock_keycard::app(zone.clone());
        Ok(Self {
            zone,
            router,
            server: None,
        })
    }

    /// A zone listening on `addr` (port 0: any free port).
    pub async fn listening(config: ZoneConfig, addr: SocketAddr) -> Result<Self, ZoneSetupError> {
        let server = MockKeycard::start_on(config, addr).await?;
        let zone = server.zone();
        let router = mock_keycard::app(zone.clone());
        Ok(Self {
            zone,
            router,
            server: Some(server),
        })
    }

    /// The zone handle (mint, audit, consent, faults).
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// A router serving this zone (shares its state).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The issuer URL.
    pub fn issuer(&self) -> String {
        self.zone.issuer()
    }

    /// The demo upstream base URL (the upstream resource).
    pub fn upstream_url(&self) -> String {
        self.zone.upstream_url()
    }

    /// The calendar demo upstream base URL (its resource).
    pub fn calendar_url(&self) -> String {
        self.zone.calendar_url()
    }

    /// The bound address when listening.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(MockKeycard::addr)
    }

    /// The Worker application's client id and secret (client-secret mode).
    pub fn worker_credentials(config: &ZoneConfig) -> Result<(String, String), ZoneSetupError> {
        config
            .applications
            .iter()
            .find(|a| a.client_id == WORKER_CLIENT_ID)
            .and_then(|a| a.client_secret.as_ref())
            .map(|s| (WORKER_CLIENT_ID.to_owned(), s.expose().to_owned()))
            .ok_or(ZoneSetupError::NoWorkerApp)
    }

    /// Stops the server, if listening.
    pub async fn shutdown(self) {
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}

/// Seeded latency jitter (0..=`jitter_ms`) on the token endpoint and the upstream, so
/// exchanges, cache fills and cache hits of different users overlap.
pub fn jitter_faults(seed: u64, jitter_ms: u64) -> Faults {
    let spec = FaultSpec {
        jitter_ms,
        ..FaultSpec::default()
    };
    Faults {
        seed: Some(seed),
        token: Some(spec.clone()),
        upstream: Some(spec),
        ..Faults::default()
    }
}

/// Adds a user (consented to both demo upstreams, GitHub-like and calendar) for every
/// subject not already in `config`.
pub fn add_users<'a>(config: &mut ZoneConfig, subs: impl IntoIterator<Item = &'a str>) {
    let mut known: std::collections::HashSet<String> =
        config.users.iter().map(|u| u.sub.clone()).collect();
    for sub in subs {
        if !known.insert(sub.to_owned()) {
            continue;
        }
        let id = 100_000 + known.len() as u64;
        config.users.push(UserConfig {
            sub: sub.to_owned(),
            profile: Profile {
                login: sub.to_owned(),
                id,
                name: sub.to_owned(),
                email: format!("user{id}@example.test"),
            },
            consents: vec!["{upstream}".to_owned(), "{calendar}".to_owned()],
        });
    }
}

/// Points `config` at the second zone's own key (written once per process to a temp
/// file, since mock-keycard reads key pools from files).
///
/// Written once, under a lock, through a rename: replays running concurrently in one
/// process (parallel tests) used to rewrite the same file while another zone was reading
/// it, and that zone then failed to parse a half-written key.
pub fn use_secondary_key(config: &mut ZoneConfig) -> Result<(), ZoneSetupError> {
    static WRITTEN: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    let path = match &*written {
        Some(path) => path.clone(),
        None => {
            let dir = std::env::temp_dir();
            let pid = std::process::id();
            let path = dir.join(format!("keycard-emulator-{pid}-second-zone.pem"));
            let partial = dir.join(format!("keycard-emulator-{pid}-second-zone.pem.partial"));
            std::fs::write(&partial, SECONDARY_ZONE_PEM).map_err(ZoneSetupError::Key)?;
            std::fs::rename(&partial, &path).map_err(ZoneSetupError::Key)?;
            *written = Some(path.clone());
            path
        }
    };
    config.keys.pool = vec![path.display().to_string()];
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_once_with_consent() {
        let mut config = ZoneConfig::default();
        let before = config.users.len();
        add_users(&mut config, ["alice", "new-1", "new-1", "a::b"]);
        assert_eq!(config.users.len(), before + 2);
        assert!(
            config
                .users
                .iter()
                .any(|u| u.sub == "a::b" && u.consents == ["{upstream}", "{calendar}"])
        );
        assert_eq!(
            EmbeddedZone::worker_credentials(&config).unwrap().0,
            WORKER_CLIENT_ID
        );
    }

    #[tokio::test]
    async fn in_process_zone_answers_discovery_without_a_socket() {
        use tower::ServiceExt;
        let zone = EmbeddedZone::in_process(
            ZoneConfig::default().with_mcp_resource("http://mcp.test"),
            "http://zone.test",
        )
        .unwrap();
        assert_eq!(zone.issuer(), "http://zone.test");
        assert!(zone.addr().is_none());
        let response = zone
            .router()
            .oneshot(
                http::Request::get("http://zone.test/.well-known/oauth-authorization-server")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}
