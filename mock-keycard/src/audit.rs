//! The audit log: one `credentials:issue` event per issuance or refusal at the token
//! endpoint, and one `consent:grant` event per consent given on the consent page.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// A token issued or refused at the token endpoint.
pub const CREDENTIALS_ISSUE: &str = "credentials:issue";
/// A user granted consent on the consent page (`POST /consent`).
pub const CONSENT_GRANT: &str = "consent:grant";

/// Whether a token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A token was issued.
    Issued,
    /// The request was refused.
    Refused,
}

/// One audit event (`credentials:issue` or `consent:grant`) with the identity chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Monotonic sequence number within the zone.
    pub seq: u64,
    /// [`CREDENTIALS_ISSUE`] or [`CONSENT_GRANT`].
    pub event: String,
    /// Unix time, seconds.
    pub time: i64,
    /// The zone's issuer.
    pub issuer: String,
    /// The grant type requested (`urn:ietf:params:oauth:grant-type:token-exchange`, …).
    pub grant_type: Option<String>,
    /// Issued or refused.
    pub outcome: Outcome,
    /// For refusals: the OAuth error code and description.
    pub reason: Option<String>,
    /// The user (`sub`) the token is for, when known.
    pub user: Option<String>,
    /// The authenticated application (client) making the request.
    pub application: Option<String>,
    /// For token exchange: the `client_id` of the subject token (the user's MCP client).
    pub original_client: Option<String>,
    /// The resource (audience) requested.
    pub resource: Option<String>,
    /// The scope issued or requested.
    pub scope: Option<String>,
    /// The issued token's `jti`.
    pub jti: Option<String>,
    /// The issued token's `exp`.
    pub expires_at: Option<i64>,
}

/// Filters for `AuditLog::query` and `GET /audit`. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuditFilter {
    /// The user.
    pub sub: Option<String>,
    /// Matches the application or the original client.
    pub client_id: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// The issued token's `jti`.
    pub jti: Option<String>,
    /// The resource.
    pub resource: Option<String>,
}

impl AuditFilter {
    fn matches(&self, event: &AuditEvent) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        eq(&self.sub, &event.user)
            && eq(&self.jti, &event.jti)
            && eq(&self.resource, &event.resource)
            && self.outcome.is_none_or(|o| o == event.outcome)
            && self.client_id.as_ref().is_none_or(|c| {
                event.application.as_ref() == Some(c) || event.original_client.as_ref() == Some(c)
            })
    }
}

/// A bounded, in-memory audit log indexed by `jti`.
#[derive(Debug)]
pub(crate) struct AuditLog {
    events: VecDeque<AuditEvent>,
    by_jti: HashMap<String, u64>,
    next_seq: u64,
    capacity: usize,
}

impl AuditLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            by_jti: HashMap::new(),
            next_seq: 1,
            capacity: capacity.max(1),
        }
    }

    /// Appends `event`, assigning its sequence number.
    pub(crate) fn record(&mut self, mut event: AuditEvent) -> u64 {
        event.seq = self.next_seq;
        self.next_seq += 1;
        if self.events.len() >= self.capacity
            && let Some(old) = self.events.pop_front()
            && let Some(jti) = old.jti
            && self.by_jti.get(&jti) == Some(&old.seq)
        {
            self.by_jti.remove(&jti);
        }
        if let Some(jti) = &event.jti {
            self.by_jti.insert(jti.clone(), event.seq);
        }
        let seq = event.seq;
        self.events.push_back(event);
        seq
    }

    pub(crate) fn query(&self, filter: &AuditFilter) -> Vec<AuditEvent> {
        if let Some(jti) = &filter.jti {
            return self
                .by_jti(jti)
                .filter(|e| filter.matches(e))
                .cloned()
                .into_iter()
                .collect();
        }
        self.events
            .iter()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect()
    }

    pub(crate) fn by_jti(&self, jti: &str) -> Option<&AuditEvent> {
        let seq = *self.by_jti.get(jti)?;
        let first = self.events.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.events.get(index).filter(|e| e.seq == seq)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, jti: Option<&str>, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            seq: 0,
            event: CREDENTIALS_ISSUE.into(),
            time: 0,
            issuer: "http://z".into(),
            grant_type: None,
            outcome,
            reason: None,
            user: Some(user.into()),
            application: Some("app".into()),
            original_client: Some("client".into()),
            resource: Some("r".into()),
            scope: None,
            jti: jti.map(Into::into),
            expires_at: None,
        }
    }

    #[test]
    fn filters_and_jti_index_survive_eviction() {
        let mut log = AuditLog::new(2);
        log.record(event("a", Some("j1"), Outcome::Issued));
        log.record(event("b", None, Outcome::Refused));
        log.record(event("c", Some("j3"), Outcome::Issued));
        assert_eq!(log.len(), 2);
        assert!(log.by_jti("j1").is_none());
        assert_eq!(
            log.by_jti("j3").map(|e| e.user.clone()),
            Some(Some("c".into()))
        );
        let refused = log.query(&AuditFilter {
            outcome: Some(Outcome::Refused),
            ..AuditFilter::default()
        });
        assert_eq!(refused.len(), 1);
        let by_client = log.query(&AuditFilter {
            client_id: Some("client".into()),
            sub: Some("c".into()),
            ..AuditFilter::default()
        });
        assert_eq!(by_client.len(), 1);
        let none = log.query(&AuditFilter {
            jti: Some("j3".into()),
            sub: Some("a".into()),
            ..AuditFilter::default()
        });
        assert!(none.is_empty());
    }
}
