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

    pub(crate) fn scopes_of(&self, identifier: &str) -> Vec<String> {
        self.resource(identifier)
            .map(|r| r.scopes.clone())
            .unwrap_or_default()
    }
}

/// `http://127.0.0.1:*`, `http://localhost:*` or `http://[::1]:*`.
pub(crate) fn is_loopback(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}
