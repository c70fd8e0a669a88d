//! The zones of a replay: two embedded zones (the second with its own keys, trusted as an
//! extra issuer and as a peer of the first's upstream), users for every generated
//! subject, seeded latency, and the [`ZoneControl`] the driver and oracle use.

use std::net::SocketAddr;

use keycard_core::ports::BoxFuture;
use mock_keycard::{AuditFilter, Outcome, TOKEN_EXCHANGE, Zone, ZoneConfig};

use super::driver::ZoneControl;
use super::oracle::{AuditSource, Audited};
use super::trace::{Principal, ZoneRef};
use crate::zones::{EmbeddedZone, ZoneSetupError, add_users, jitter_faults, use_secondary_key};

/// Virtual issuer of the primary zone in in-process mode (never resolved: routed in-process).
pub const PRIMARY_ISSUER: &str = "http://zone-a.replay.invalid";
/// Virtual issuer of the secondary zone in in-process mode.
pub const SECONDARY_ISSUER: &str = "http://zone-b.replay.invalid";

/// Where the zones live.
#[derive(Debug, Clone, Copy)]
pub enum ZonePlacement {
    /// No sockets.
    InProcess,
    /// Listening on these addresses (target mode: a remote Worker must reach them).
    Listening {
        /// Primary zone address.
        primary: SocketAddr,
        /// Secondary zone address.
        secondary: SocketAddr,
    },
}

/// The two zones of a replay.
#[derive(Debug)]
pub struct ReplayZones {
    /// The zone the server is configured with.
    pub primary: EmbeddedZone,
    /// The second zone (`KEYCARD_EXTRA_ISSUERS`).
    pub secondary: EmbeddedZone,
}

fn subs(principals: &[Principal], zone: ZoneRef) -> Vec<&str> {
    principals
        .iter()
        .filter(|p| p.zone == zone)
        .filter_map(|p| p.sub.as_deref())
        .filter(|s| !s.is_empty())
        .collect()
}

impl ReplayZones {
    /// Builds both zones with a consented user for every subject in `principals`;
    /// `access_es256` gives both an ES256 access-token key (for `--subject-alg es256`).
    pub async fn start(
        principals: &[Principal],
        mcp_resource: &str,
        placement: ZonePlacement,
        seed: u64,
        jitter_ms: u64,
        audit_capacity: Option<usize>,
        access_es256: bool,
    ) -> Result<Self, ZoneSetupError> {
        let mut primary_cfg = ZoneConfig::default()
            .with_mcp_resource(mcp_resource)
            .with_faults(jitter_faults(seed, jitter_ms));
        if let Some(capacity) = audit_capacity {
            primary_cfg.audit_capacity = capacity;
        }
        primary_cfg.keys.access_es256 = access_es256;
        add_users(&mut primary_cfg, subs(principals, ZoneRef::Primary));
        let primary = match placement {
            ZonePlacement::InProcess => EmbeddedZone::in_process(primary_cfg, PRIMARY_ISSUER)?,
            ZonePlacement::Listening { primary, .. } => {
                EmbeddedZone::listening(primary_cfg, primary).await?
            }
        };
        let mut secondary_cfg = ZoneConfig::default()
            .with_mcp_resource(mcp_resource)
            .with_upstream_url(primary.upstream_url())
            .with_calendar_url(primary.calendar_url())
            .with_faults(jitter_faults(seed.wrapping_add(1), jitter_ms));
        use_secondary_key(&mut secondary_cfg)?;
        secondary_cfg.keys.access_es256 = access_es256;
        add_users(&mut secondary_cfg, subs(principals, ZoneRef::Secondary));
        let secondary = match placement {
            ZonePlacement::InProcess => EmbeddedZone::in_process(secondary_cfg, SECONDARY_ISSUER)?,
            ZonePlacement::Listening { secondary, .. } => {
                EmbeddedZone::listening(secondary_cfg, secondary).await?
            }
        };
        primary.zone().trust_peer(secondary.zone());
        Ok(Self { primary, secondary })
    }

    /// The zone of `which`.
    pub fn get(&self, which: ZoneRef) -> &EmbeddedZone {
        match which {
            ZoneRef::Primary => &self.primary,
            ZoneRef::Secondary => &self.secondary,
        }
    }

    /// The oracle's and driver's view of the zones.
    pub fn control(&self) -> EmbeddedControl {
        EmbeddedControl {
            primary: self.primary.zone().clone(),
            secondary: self.secondary.zone().clone(),
            upstream: self.primary.upstream_url(),
        }
    }

    /// Stops listening zones.
    pub async fn shutdown(self) {
        self.secondary.shutdown().await;
        self.primary.shutdown().await;
    }
}

/// [`ZoneControl`] over in-process zone handles.
#[derive(Debug, Clone)]
pub struct EmbeddedControl {
    primary: Zone,
    secondary: Zone,
    upstream: String,
}

impl EmbeddedControl {
    fn zone(&self, which: ZoneRef) -> &Zone {
        match which {
            ZoneRef::Primary => &self.primary,
            ZoneRef::Secondary => &self.secondary,
        }
    }
}

impl AuditSource for EmbeddedControl {
    fn lookup<'a>(&'a self, issuer: &'a str, jti: &'a str) -> BoxFuture<'a, Option<Audited>> {
        let zone = [&self.primary, &self.secondary]
            .into_iter()
            .find(|z| z.issuer() == issuer);
        let found = zone.and_then(|z| z.audit_by_jti(jti)).map(|e| Audited {
            issuer: e.issuer,
            issued: e.outcome == Outcome::Issued && e.grant_type.as_deref() == Some(TOKEN_EXCHANGE),
            user: e.user,
            original_client: e.original_client,
            resource: e.resource,
            time: e.time,
        });
        Box::pin(async move { found })
    }
}

impl ZoneControl for EmbeddedControl {
    fn revoke<'a>(&'a self, zone: ZoneRef, sub: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let known = self.zone(zone).revoke_consent(sub, &self.upstream);
        Box::pin(async move {
            if known {
                Ok(())
            } else {
                Err(format!("the zone has no user {sub:?}"))
            }
        })
    }

    /// `None` once a zone's bounded audit log has dropped events.
    fn exchanges_issued(&self) -> Option<u64> {
        let filter = AuditFilter {
            outcome: Some(Outcome::Issued),
            ..AuditFilter::default()
        };
        // Audit sequence numbers start at 1: a log whose oldest event is later has
        // dropped events (`audit_capacity`), so counting it would undercount.
        let wrapped = |z: &Zone| z.audit().first().is_some_and(|e| e.seq > 1);
        if wrapped(&self.primary) || wrapped(&self.secondary) {
            return None;
        }
        let count = |z: &Zone| {
            z.audit_query(&filter)
                .iter()
                .filter(|e| e.grant_type.as_deref() == Some(TOKEN_EXCHANGE))
                .count() as u64
        };
        Some(count(&self.primary) + count(&self.secondary))
    }
}
