//! The zone's resolved model: placeholders substituted, lookups by id, consents as a set.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::config::{Profile, Vars, ZoneConfig, canonical_resource};
use crate::secret::SecretString;

/// How an application authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(SecretString),
    /// `private_key_jwt` against this JWKS URL.
    PrivateKeyJwt {
        /// The application's JWKS URL.
        jwks_uri: String,
    },
    /// A public client (`none`; PKCE).
    None,
}

/// A resolved application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Client id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Authentication method.
    pub auth: ClientAuth,
    /// The resource it provides (subject tokens' audience for its exchanges).
    pub provides: Option<String>,
    /// Upstream resources it may exchange for.
    pub depends_on: Vec<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
}

/// A resolved resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// Identifier.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

/// A user as listed by [`crate::Zone::users`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// Subject.
    pub sub: String,
    /// Profile.
    pub profile: Profile,
    /// Resources the user currently consents to.
    pub consents: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub vars: Vars,
    pub resources: Vec<Resource>,
    pub users: HashMap<String, Profile>,
    pub user_order: Vec<String>,
    pub apps: HashMap<String, Application>,
    pub consents: HashSet<(String, String)>,
    pub accept_loopback: bool,
}

impl Resolved {
    pub(crate) fn new(config: &ZoneConfig, vars: Vars) -> Self {
        let resources = config
            .resources
            .iter()
            .map(|r| Resource {
                identifier: vars.resource(&r.identifier),
                name: r
                    .name
                    .clone()
                    .unwrap_or_else(|| vars.resolve(&r.identifier)),
                scopes: r.scopes.clone(),
            })
            .collect();
        let mut users = HashMap::new();
        let mut user_order = Vec::new();
        let mut consents = HashSet::new();
        for user in &config.users {
            users.insert(user.sub.clone(), user.profile.clone());
            user_order.push(user.sub.clone());
            for consent in &user.consents {
                consents.insert((user.sub.clone(), vars.resource(consent)));
            }
        }
        let apps = config
            .applications
            .iter()
            .map(|a| {
                let client_id = vars.resolve(&a.client_id);
                let auth = match (&a.client_secret, &a.jwks_uri) {
                    (Some(secret), _) => ClientAuth::Secret(secret.clone()),
                    (None, Some(jwks)) => ClientAuth::PrivateKeyJwt {
                        jwks_uri: vars.resolve(jwks),
                    },
                    (None, None) => ClientAuth::None,
                };
                let app = Application {
                    name: a.name.clone().unwrap_or_else(|| client_id.clone()),
                    client_id: client_id.clone(),
                    auth,
                    provides: a.provides.as_deref().map(|p| vars.resource(p)),
                    depends_on: a.depends_on.iter().map(|d| vars.resource(d)).collect(),
                    redirect_uris: a.redirect_uris.iter().map(|u| vars.resolve(u)).collect(),
                };
                (client_id, app)
            })
            .collect();
        Self {
            vars,
            resources,
            users,
            user_order,
            apps,
            consents,
            accept_loopback: config.accept_loopback_resources,
        }
    }

    pub(crate) fn resource(&self, identifier: &str) -> Option<&Resource> {
        let identifier = canonical_resource(identifier);
        self.resources.iter().find(|r| r.identifier == identifier)
    }

    /// A resource tokens may be requested for: configured, or loopback when allowed.
    pub(crate) fn accepts_resource(&self, identifier: &str) -> bool {
        self.resource(identifier).is_some() || (self.accept_loopback && is_loopback(identifier))
    }

    /// The scopes tokens for `identifier` may carry: a configured resource's own; for a
    /// loopback resource accepted through `accept_loopback_resources` (an MCP server on
    /// another local port, a local proxy or tunnel), the MCP resource's, so that
    /// `mcp:tools` works there as it does on the configured MCP origin.
    pub(crate) fn scopes_of(&self, identifier: &str) -> Vec<String> {
        if let Some(resource) = self.resource(identifier) {
            return resource.scopes.clone();
        }
        if self.accept_loopback && is_loopback(identifier) {
            return self
                .resource(&self.vars.mcp)
                .map(|r| r.scopes.clone())
                .unwrap_or_default();
        }
        Vec::new()
    }
}

/// Why `uri` can never be a redirect URI (RFC 8252 §7, OAuth 2.1 §2.3.1), or `None` when
/// it can: `https` with a host, `http` on a loopback host (any port, RFC 8252 §7.3), or a
/// private-use scheme in reverse-DNS form (`com.example.app:/callback`, RFC 8252 §7.1).
/// No fragment, no userinfo. Everything else (`javascript:`, `data:`, `vbscript:`,
/// `file:`, `about:`, plain-http hosts, single-label schemes) is refused.
pub(crate) fn redirect_uri_problem(uri: &str) -> Option<String> {
    let Ok(url) = url::Url::parse(uri) else {
        return Some(format!("redirect URI {uri:?} is not an absolute URI"));
    };
    if url.fragment().is_some() {
        return Some(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(format!("redirect URI {uri:?} must not contain userinfo"));
    }
    let ok = match url.scheme() {
        "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "http" => is_loopback(uri),
        scheme => {
            // Reverse DNS: at least two non-empty labels of a domain name.
            let labels: Vec<&str> = scheme.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
    };
    (!ok).then(|| {
        format!(
            "redirect URI {uri:?} must be https, http on a loopback host (127.0.0.1, localhost, [::1]) or a private-use reverse-DNS scheme such as com.example.app:/callback (RFC 8252)"
        )
    })
}

/// `http://127.0.0.1:*`, `http://localhost:*` or `http://[::1]:*`.
pub(crate) fn is_loopback(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}
