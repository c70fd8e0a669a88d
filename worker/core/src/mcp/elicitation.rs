//! URL-mode elicitation (MCP 2025-11-25, `URLElicitationRequiredError`, -32042): how a
//! delegated tool whose user has not consented to the upstream sends the client to the
//! zone's consent page.
//!
//! **Who gets it.** The spec lets a server answer -32042 only with URL-mode elicitations,
//! and a server must not use a mode the client did not declare
//! (`capabilities.elicitation.url`). A `tools/call` is answered with -32042 only when the
//! client declared URL mode where this server can see it:
//!
//! * 2026-07-28: every request carries `_meta["io.modelcontextprotocol/clientCapabilities"]`;
//!   -32042 when it has `elicitation.url`.
//! * 2025-11-25 in a session ([`crate::session`]): the session remembers what the client
//!   declared at `initialize`; -32042 when that has `elicitation.url`.
//! * 2025-11-25 without a session (sessions off, or a client that dropped the id): the
//!   server does not know what `initialize` declared, so the call must say it, with the
//!   same `_meta` key (optional there: the official TypeScript SDK's
//!   `client.callTool({ name, arguments, _meta })` can add it). Without it, the call ends
//!   as it always did: an `isError` result whose text names the consent page.
//! * 2025-03-26 and 2025-06-18 have no URL mode: always the `isError` text, whatever the
//!   client declared (in `_meta` or at a session's `initialize`).
//!
//! **Completion.** `notifications/elicitation/complete` is optional (MAY); a stateless
//! server never learns when the user finished on the zone's page, so none is sent. The
//! client retries the call when the user says so; the retry exchanges afresh (refusals
//! are never cached).

use serde_json::{Map, Value, json};

use super::version::{META_CLIENT_CAPABILITIES, ProtocolVersion};

/// One URL-mode elicitation, as carried in `error.data.elicitations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlElicitation {
    /// Opaque, stable id (see [`crate::delegation::consent::elicitation_id`]).
    pub elicitation_id: String,
    /// The page the user should open (never pre-authenticated).
    pub url: String,
    /// Why, in words the user can act on.
    pub message: String,
}

impl UrlElicitation {
    /// The `ElicitRequestURLParams` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "mode": "url",
            "elicitationId": self.elicitation_id,
            "url": self.url,
            "message": self.message,
        })
    }
}

/// Whether `version` has URL-mode elicitation (and -32042) at all: 2025-11-25 and later.
/// A declaration of `elicitation.url` in an earlier revision — per request or at a
/// session's `initialize` — does not count.
pub fn has_url_mode(version: ProtocolVersion) -> bool {
    version >= ProtocolVersion::V2025_11_25
}

/// Whether the client that sent a request with `params` in `version` declared URL-mode
/// elicitation for it (see the module documentation).
pub fn accepts_url_elicitation(version: ProtocolVersion, params: &Map<String, Value>) -> bool {
    if !has_url_mode(version) {
        return false;
    }
    params
        .get("_meta")
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
        .and_then(|c| c.get("elicitation"))
        .and_then(|e| e.get("url"))
        .is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(caps: Value) -> Map<String, Value> {
        let Value::Object(m) =
            json!({ "name": "github_user", "_meta": { META_CLIENT_CAPABILITIES: caps } })
        else {
            unreachable!()
        };
        m
    }

    #[test]
    fn only_a_declared_url_mode_in_a_revision_that_has_it() {
        let url = params(json!({ "elicitation": { "url": {} } }));
        let form = params(json!({ "elicitation": { "form": {} } }));
        let empty = params(json!({ "elicitation": {} }));
        use ProtocolVersion::*;
        assert!(accepts_url_elicitation(V2025_11_25, &url));
        assert!(accepts_url_elicitation(V2026_07_28, &url));
        assert!(!accepts_url_elicitation(V2025_06_18, &url));
        assert!(!accepts_url_elicitation(V2025_03_26, &url));
        for v in [V2025_11_25, V2026_07_28] {
            assert!(!accepts_url_elicitation(v, &form));
            assert!(!accepts_url_elicitation(v, &empty));
            assert!(!accepts_url_elicitation(v, &Map::new()));
        }
    }
}
