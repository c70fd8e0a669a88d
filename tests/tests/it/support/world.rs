//! One isolate's worth of state wired to the fake zone: configuration, ports, and the
//! shared [`UpstreamAccess`] (or a whole [`Gateway`]).

use std::sync::Arc;

use keycard_core::auth::Authenticator;
use keycard_core::delegation::cache::CacheKeying;
use keycard_core::delegation::upstream::UpstreamAccess;
use keycard_core::oauth::discovery::Discovery;
use keycard_core::ports::Ports;
use keycard_core::ports::rust_crypto::RustCrypto;
use keycard_core::ports::testing::{ManualClock, SharedManualClock};
use keycard_core::{Config, Gateway, Identity, Server};

use super::fake_zone::{FakeZone, ZoneSetup};
use super::latency::LatencyScript;

/// The first trusted issuer (`KEYCARD_ISSUER`).
pub const ISSUER_A: &str = "https://zone-a.keycard.test";
/// The second trusted issuer (`KEYCARD_EXTRA_ISSUERS`).
pub const ISSUER_B: &str = "https://zone-b.keycard.test";
/// The upstream API (`KEYCARD_RESOURCE_URL`).
pub const UPSTREAM: &str = "https://api.upstream.test";
/// This MCP server's resource identifier (the audience of users' tokens).
pub const RESOURCE_ID: &str = "https://mcp.example.test";
/// A second origin the same Worker answers on (another route or custom domain): tokens
/// minted for it are verified against it, so one isolate sees both audiences.
pub const RESOURCE_ID_2: &str = "https://mcp-two.example.test";
/// The Worker's client id at the STS.
pub const WORKER_CLIENT_ID: &str = "mcp-worker";
/// The Worker's client secret at the STS (a test value).
pub const WORKER_CLIENT_SECRET: &str = "test-only-secret";
/// The start of time in every test (ms).
pub const T0_MS: u64 = 1_700_000_000_000;

/// The knobs a test varies.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// `expires_in` of upstream tokens, seconds.
    pub token_lifetime_secs: u64,
    /// `KEYCARD_CACHE_MAX_ENTRIES`.
    pub max_entries: usize,
    /// The zone's latency script (yields per response step).
    pub latency: Vec<u8>,
}

/// The fake zone, its clock, the config and the ports.
pub struct World {
    /// The clock every party reads.
    pub clock: Arc<ManualClock>,
    /// The fake zone + upstream.
    pub zone: Arc<FakeZone>,
    /// The Worker's configuration.
    pub config: Config,
    /// The Worker's ports.
    pub ports: Ports,
}

impl World {
    /// A world for `spec`.
    pub fn new(spec: &WorldSpec) -> Self {
        let clock = ManualClock::new(T0_MS);
        let jwks =
            super::tokens::zone_1_jwks().unwrap_or_else(|e| panic!("fixture key zone-1.pem: {e}"));
        let zone = FakeZone::new(
            ZoneSetup {
                issuers: vec![ISSUER_A.into(), ISSUER_B.into()],
                client_id: WORKER_CLIENT_ID.into(),
                client_secret: WORKER_CLIENT_SECRET.into(),
                upstream: UPSTREAM.into(),
                token_lifetime_secs: spec.token_lifetime_secs,
                jwks,
            },
            clock.clone(),
            LatencyScript::new(spec.latency.clone()),
        );
        let max_entries = spec.max_entries.to_string();
        let config = Config::from_env(|name| {
            match name {
                "KEYCARD_ISSUER" => Some(ISSUER_A),
                "KEYCARD_EXTRA_ISSUERS" => Some(ISSUER_B),
                "KEYCARD_RESOURCE_URL" => Some(UPSTREAM),
                "KEYCARD_RESOURCE_ID" => Some(RESOURCE_ID),
                "KEYCARD_CLIENT_ID" => Some(WORKER_CLIENT_ID),
                "KEYCARD_CLIENT_SECRET" => Some(WORKER_CLIENT_SECRET),
                "KEYCARD_CACHE_MAX_ENTRIES" => Some(max_entries.as_str()),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let ports = Ports {
            clock: Arc::new(SharedManualClock(clock.clone())),
            http: zone.clone(),
            crypto: Arc::new(RustCrypto::new()),
        };
        Self {
            clock,
            zone,
            config,
            ports,
        }
    }

    /// The isolate's delegated upstream access with the given cache keying.
    pub fn upstream_access(&self, keying: CacheKeying) -> UpstreamAccess {
        let config = Arc::new(self.config.clone());
        let discovery = Arc::new(Discovery::new(config.clone(), self.ports.clone()));
        UpstreamAccess::with_cache_keying(config, self.ports.clone(), discovery, keying)
            .unwrap_or_else(|e| panic!("upstream access: {e}"))
    }

    /// The bearer verifier of this isolate (keys from the fake zone's JWKS).
    pub fn authenticator(&self) -> Authenticator {
        let config = Arc::new(self.config.clone());
        let discovery = Arc::new(Discovery::new(config.clone(), self.ports.clone()));
        Authenticator::new(config, self.ports.clone(), discovery)
    }

    /// The identity the verifier builds for `token` presented to the server at
    /// `resource_id` — the only way a test obtains an [`Identity`] that the delegation
    /// will exchange.
    pub async fn verified(
        &self,
        authenticator: &Authenticator,
        token: &str,
        resource_id: &str,
    ) -> Identity {
        let mut headers = http::HeaderMap::new();
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .unwrap_or_else(|e| panic!("bearer header: {e}"));
        headers.insert(http::header::AUTHORIZATION, value);
        authenticator
            .authenticate(&headers, resource_id)
            .await
            .unwrap_or_else(|e| panic!("a fixture token must verify: {e}"))
    }

    /// A whole gateway (default tools) with the correct cache.
    pub fn gateway(&self) -> Gateway {
        Gateway::new(self.config.clone(), self.ports.clone(), Server::demo())
            .unwrap_or_else(|e| panic!("gateway: {e}"))
    }
}
