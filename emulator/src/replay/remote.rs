//! External zones (`--zone-url`, `--secondary-zone-url`): tokens from their MOCK
//! `POST /dev/token`, audit lookups from `GET /audit?jti=`, revocation through
//! `POST /admin/consent` — for a target whose zone the replay does not start itself
//! (e.g. a `mock-keycard` binary started by a CI script). The zone must know the
//! trace's subjects (a zone file listing them) for exchanges to succeed.

use futures::StreamExt;
use keycard_core::ports::BoxFuture;
use mock_keycard::{AuditEvent, Outcome, TOKEN_EXCHANGE};
use serde::Deserialize;

use super::callers::{MintError, caller, mint_client_id};
use super::driver::{Caller, ZoneControl};
use super::oracle::{AuditSource, Audited};
use super::trace::{Principal, ZoneRef};

/// Concurrent `/dev/token` calls while minting.
const MINT_CONCURRENCY: usize = 16;

/// Two zones reached over HTTP.
#[derive(Debug, Clone)]
pub struct RemoteZones {
    client: reqwest::Client,
    primary: String,
    secondary: Option<String>,
    upstream: String,
}

#[derive(Deserialize)]
struct Minted {
    access_token: String,
    expires_at: i64,
}

impl RemoteZones {
    /// Zones at these issuer URLs; `upstream` is the upstream resource identifier.
    pub fn new(
        client: reqwest::Client,
        primary: &str,
        secondary: Option<&str>,
        upstream: String,
    ) -> Self {
        Self {
            client,
            primary: primary.trim_end_matches('/').to_owned(),
            secondary: secondary.map(|s| s.trim_end_matches('/').to_owned()),
            upstream,
        }
    }

    /// The upstream resource identifier.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    fn url(&self, zone: ZoneRef) -> Option<&str> {
        match zone {
            ZoneRef::Primary => Some(&self.primary),
            ZoneRef::Secondary => self.secondary.as_deref(),
        }
    }

    async fn mint_one(&self, p: &Principal, audience: &str) -> Result<Caller, MintError> {
        let fail = |reason: String| MintError::Mint {
            principal: p.id,
            reason,
        };
        let zone = self.url(p.zone).ok_or_else(|| {
            fail("the trace needs a second zone: give --secondary-zone-url".into())
        })?;
        let client_id = mint_client_id(p);
        let body = serde_json::json!({
            "sub": p.sub, "client_id": client_id, "audience": audience,
            "lifetime_secs": p.lifetime_secs,
        });
        let response = self
            .client
            .post(format!("{zone}/dev/token"))
            .json(&body)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!(
                "POST /dev/token answered {}",
                response.status()
            )));
        }
        let minted: Minted = response
            .json()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        caller(
            p,
            zone.to_owned(),
            client_id,
            &minted.access_token,
            minted.expires_at,
        )
    }

    /// Mints a token per principal through the zones' `/dev/token`, with `audience`.
    pub async fn mint_all(
        &self,
        principals: &[Principal],
        audience: &str,
    ) -> Result<Vec<Caller>, MintError> {
        futures::stream::iter(principals)
            .map(|p| self.mint_one(p, audience))
            .buffered(MINT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}

impl AuditSource for RemoteZones {
    fn lookup<'a>(&'a self, issuer: &'a str, jti: &'a str) -> BoxFuture<'a, Option<Audited>> {
        Box::pin(async move {
            let known = issuer == self.primary || Some(issuer) == self.secondary.as_deref();
            if !known {
                return None;
            }
            let events: Vec<AuditEvent> = self
                .client
                .get(format!("{issuer}/audit"))
                .query(&[("jti", jti)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            events.into_iter().next().map(|e| Audited {
                issuer: e.issuer,
                issued: e.outcome == Outcome::Issued
                    && e.grant_type.as_deref() == Some(TOKEN_EXCHANGE),
                user: e.user,
                original_client: e.original_client,
                resource: e.resource,
                time: e.time,
            })
        })
    }
}

impl ZoneControl for RemoteZones {
    fn revoke<'a>(&'a self, zone: ZoneRef, sub: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let url = self.url(zone).ok_or("no such zone")?;
            let response = self
                .client
                .post(format!("{url}/admin/consent"))
                .json(&serde_json::json!({"sub": sub, "resource": self.upstream, "granted": false}))
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!(
                    "POST /admin/consent answered {}",
                    response.status()
                ))
            }
        })
    }

    fn exchanges_issued(&self) -> Option<u64> {
        None
    }
}
