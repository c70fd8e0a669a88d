//! Configuration from the Worker's environment (`KEYCARD_*` vars and secrets).
//!
//! Both hosts read the same names: the Worker from `env` (wrangler `vars` and secrets),
//! the emulator from its process environment, flags or a config file. Every error names
//! the variable and says how to set it.

use std::time::Duration;

use crate::secret::SecretString;

/// How the Worker authenticates itself to the Keycard STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Web identity (`private_key_jwt`, RFC 7523): an RSA private key in PEM (PKCS#8 or
    /// PKCS#1). The public half is served at `/.well-known/jwks.json`.
    PrivateKey {
        /// The PEM text.
        pem: SecretString,
    },
    /// Client credentials (`client_secret_basic`).
    ClientSecret {
        /// `KEYCARD_CLIENT_ID`.
        client_id: String,
        /// `KEYCARD_CLIENT_SECRET`.
        client_secret: SecretString,
    },
}

/// Size and time limits, all configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bearer token, in bytes (`KEYCARD_MAX_TOKEN_BYTES`).
    pub max_token_bytes: usize,
    /// Largest accepted request body, in bytes (`KEYCARD_MAX_BODY_BYTES`); over it → 413.
    pub max_body_bytes: usize,
    /// Largest accepted total size of the request headers (names + values), in bytes
    /// (`KEYCARD_MAX_HEADER_BYTES`); over it → 431, before routing or authentication.
    /// An `Authorization` value counts at most `"Bearer " + max_token_bytes`: a token over
    /// its own limit gets the precise 401 `invalid_token` of the token check (still a
    /// length check before any decoding), while the other headers plus a legitimate token
    /// must fit here.
    pub max_header_bytes: usize,
    /// Timeout for each outbound call (`KEYCARD_OUTBOUND_TIMEOUT_MS`).
    pub outbound_timeout: Duration,
    /// Deadline for all outbound calls made while serving one request — discovery, JWKS,
    /// token exchange, upstream call and retry (`KEYCARD_REQUEST_BUDGET_MS`). Each call
    /// gets `min(outbound_timeout, time left)`. See [`crate::outbound::budget`].
    pub request_budget: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (`KEYCARD_LEEWAY_SECS`).
    pub leeway_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            outbound_timeout: Duration::from_secs(10),
            request_budget: Duration::from_secs(25),
            leeway_secs: 30,
        }
    }
}

/// JWKS keyring tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// How long fetched keys are trusted without refetching.
    pub ttl: Duration,
    /// Minimum time between refetches caused by an unknown `kid`.
    pub refetch_cooldown: Duration,
    /// How long past its TTL a key keeps working while the JWKS endpoint is failing.
    pub grace: Duration,
    /// How long the issuer's RFC 8414 metadata is cached.
    pub discovery_ttl: Duration,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            refetch_cooldown: Duration::from_secs(30),
            grace: Duration::from_secs(3600),
            discovery_ttl: Duration::from_secs(3600),
        }
    }
}

/// Token cache tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Maximum number of entries (LRU eviction beyond it) (`KEYCARD_CACHE_MAX_ENTRIES`).
    pub max_entries: usize,
    /// Entries expire this long before the upstream token's `expires_in` says.
    pub expiry_skew: Duration,
    /// Lifetime assumed when the STS omits `expires_in`.
    pub default_lifetime: Duration,
    /// Bound of the verified-signature memo, [`crate::auth::verified`] (LRU; `0` turns it
    /// off) (`KEYCARD_VERIFIED_CACHE_MAX_ENTRIES`).
    pub verified_max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            expiry_skew: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(300),
            verified_max_entries: 10_000,
        }
    }
}

/// Everything the [`crate::Gateway`] needs to know about one zone it serves (the whole
/// deployment, unless `KEYCARD_ZONES` names several: see [`Zones`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The zone's name in `KEYCARD_ZONES`, which is also its path prefix (`/{zone}/mcp`);
    /// `None` for the classic single-zone deployment at `/mcp`.
    pub zone: Option<String>,
    /// The Keycard zone URL (`KEYCARD_ISSUER`), exactly as the zone's tokens carry it.
    pub issuer: String,
    /// Issuers whose tokens are accepted; defaults to `[issuer]`.
    pub trusted_issuers: Vec<String>,
    /// This server's canonical resource identifier (`KEYCARD_RESOURCE_ID`); `None` means
    /// the request origin, as the seed guide registers the Worker's URL in Keycard.
    pub resource_id: Option<String>,
    /// The public origins this server answers for (`KEYCARD_PUBLIC_ORIGINS`, comma
    /// separated, canonical `scheme://host[:port]`). Empty: any origin the host routes
    /// here (right on Workers, whose routed URL is trustworthy). Non-empty: a request for
    /// any other origin is refused with 421 before anything is derived from it, and the
    /// browser `Origin` check treats these (not the request's `Host`) as this server's
    /// own origins. See [`Config::serves_origin`].
    pub public_origins: Vec<String>,
    /// The upstream APIs delegated tools call, by name: `KEYCARD_RESOURCE_URL` is the one
    /// named [`DEFAULT_UPSTREAM`], `KEYCARD_UPSTREAMS` adds more. Never empty.
    pub upstreams: Vec<UpstreamConfig>,
    /// How the Worker authenticates to the STS.
    pub credential: Credential,
    /// Human name in the protected-resource metadata (`KEYCARD_RESOURCE_NAME`).
    pub resource_name: String,
    /// Scopes advertised in the metadata and the 401 challenge.
    pub scopes_supported: Vec<String>,
    /// Scopes every request must carry (`KEYCARD_REQUIRED_SCOPES`, space separated).
    pub required_scopes: Vec<String>,
    /// Browser origins allowed to call `/mcp` (`KEYCARD_ALLOWED_ORIGINS`, comma separated).
    /// Requests without `Origin` (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// Keyring tuning.
    pub jwks: JwksConfig,
    /// Token cache tuning.
    pub cache: CacheConfig,
    /// How a request that finds a fetch already in flight (token exchange, JWKS,
    /// discovery) waits for it. See [`Inflight`].
    pub inflight: Inflight,
    /// The consent-page URL template (`KEYCARD_CONSENT_URL`) a delegated call sends the
    /// user to when the zone refuses an exchange for missing consent; `None` means
    /// [`crate::delegation::consent::DEFAULT_CONSENT_URL_TEMPLATE`] (the mock zone's page).
    pub consent_url: Option<String>,
}

/// How concurrent misses share one in-flight fetch.
///
/// Either way only one fetch is made; what differs is how the other requests learn that
/// it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Inflight {
    /// Waiters await the fetch's shared future and are woken by it. Right for native
    /// hosts, where any task may complete another's future.
    #[default]
    Await,
    /// Waiters re-check the cache on their own timer every `interval`, never polling the
    /// other request's future. Required on Workers: workerd binds I/O to the request that
    /// started it, and a request woken from inside another request's callback would run
    /// (and start its own next fetch) in that request's context — which is torn down when
    /// that request ends, leaving the waiter "hung". Found by the workerd replay.
    Poll {
        /// How often a waiter looks again.
        interval: Duration,
    },
}

/// The name `KEYCARD_RESOURCE_URL`'s upstream goes by.
pub const DEFAULT_UPSTREAM: &str = "default";

/// One upstream API delegated tools may call on the user's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// How tools name it (`ctx.upstream("calendar")`).
    pub name: String,
    /// Its base URL, no trailing slash: the RFC 8693 `resource` of the exchange, and the
    /// prefix every request to it must stay under.
    pub url: String,
    /// Scopes requested in the exchange (none by default: the zone decides).
    pub scopes: Vec<String>,
}

impl Config {
    /// The upstream called `name`.
    pub fn upstream(&self, name: &str) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// Whether this server answers for `origin` (a canonical origin, as
    /// [`crate::http::resource::origin_of`] gives it): always when
    /// [`Config::public_origins`] is empty, else only for one of them.
    pub fn serves_origin(&self, origin: &str) -> bool {
        self.public_origins.is_empty() || self.public_origins.iter().any(|o| o == origin)
    }

    /// The configured upstream names, comma separated (for messages).
    pub fn upstream_names(&self) -> String {
        self.upstreams
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A deployment mistake, reported to the deployer in words they can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{name} is not set. {hint}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// How to set it.
        hint: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
    /// A zone of `KEYCARD_ZONES` is misconfigured; the message names the zone's own
    /// variable or JSON member and how to set it.
    #[error("{message}")]
    Zone {
        /// The zone.
        zone: String,
        /// What is wrong and how to fix it (never the value of a secret).
        message: String,
    },
    /// A tool of the server cannot be offered as written (a programming error, fixed in
    /// the code rather than the configuration).
    #[error("tool `{tool}` cannot be offered: {reason}")]
    Tool {
        /// The tool's name.
        tool: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Neither credential mode is configured.
    #[error(
        "Missing Keycard credentials in env: set either KEYCARD_CLIENT_ID + KEYCARD_CLIENT_SECRET \
         (`wrangler secret put KEYCARD_CLIENT_ID`, `wrangler secret put KEYCARD_CLIENT_SECRET`) \
         or KEYCARD_PRIVATE_KEY for web identity (`openssl genrsa 2048 | wrangler secret put KEYCARD_PRIVATE_KEY`)"
    )]
    NoCredentials,
}

const ISSUER_HINT: &str = "Set it to your Keycard zone URL, e.g. `KEYCARD_ISSUER = \"https://<zone-id>.keycard.cloud\"` under [vars] in wrangler.toml (or export it for the emulator).";
const RESOURCE_URL_HINT: &str = "Set it to the upstream API your tools call, e.g. `KEYCARD_RESOURCE_URL = \"https://api.github.com\"` under [vars] in wrangler.toml (or name several in KEYCARD_UPSTREAMS).";
const UPSTREAMS_EXAMPLE: &str = r#"expected a JSON object of named upstreams, e.g. KEYCARD_UPSTREAMS = '{"calendar": "https://calendar.example/api", "github": {"url": "https://api.github.com", "scopes": ["read:user"]}}'"#;

/// `KEYCARD_UPSTREAMS`: `{"name": "https://…"}` or `{"name": {"url": "https://…", "scopes": […]}}`.
fn parse_upstreams(json: &str) -> Result<Vec<UpstreamConfig>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "KEYCARD_UPSTREAMS",
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| invalid(format!("not JSON ({e}); {UPSTREAMS_EXAMPLE}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(invalid(UPSTREAMS_EXAMPLE.into()));
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, spec) in map {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid_name {
            return Err(invalid(format!(
                "upstream name {name:?} must be 1-64 characters of A-Z a-z 0-9 - _ ."
            )));
        }
        let (url, scopes) = match spec {
            serde_json::Value::String(url) => (url, Vec::new()),
            serde_json::Value::Object(mut fields) => {
                let url = match fields.remove("url") {
                    Some(serde_json::Value::String(url)) => url,
                    _ => return Err(invalid(format!("upstream {name:?} needs a \"url\" string"))),
                };
                let scopes = match fields.remove("scopes") {
                    None => Vec::new(),
                    Some(serde_json::Value::Array(items)) => items
                        .into_iter()
                        .map(|s| match s {
                            serde_json::Value::String(s) => Ok(s),
                            _ => Err(invalid(format!(
                                "upstream {name:?}: scopes must be strings"
                            ))),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(invalid(format!(
                            "upstream {name:?}: \"scopes\" must be an array of strings"
                        )));
                    }
                };
                if let Some(unknown) = fields.keys().next() {
                    return Err(invalid(format!(
                        "upstream {name:?}: unknown member {unknown:?} (only \"url\" and \"scopes\")"
                    )));
                }
                (url, scopes)
            }
            _ => return Err(invalid(format!("upstream {name:?}: {UPSTREAMS_EXAMPLE}"))),
        };
        validate_http_url("KEYCARD_UPSTREAMS", &url)?;
        out.push(UpstreamConfig {
            name,
            url: url.trim_end_matches('/').to_owned(),
            scopes,
        });
    }
    Ok(out)
}

impl Config {
    /// Reads the configuration through `get` (the Worker's `env`, or the process env).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_env_dyn(&get)
    }

    /// [`Config::from_env`], compiled once whatever the caller's closure (the warm-up and
    /// the host then run the same code; see [`crate::warm_up`]).
    #[inline(never)]
    fn from_env_dyn(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let issuer = var("KEYCARD_ISSUER").ok_or(ConfigError::Missing {
            name: "KEYCARD_ISSUER",
            hint: ISSUER_HINT,
        })?;
        validate_http_url("KEYCARD_ISSUER", &issuer)?;

        let mut upstreams = Vec::new();
        if let Some(url) = var("KEYCARD_RESOURCE_URL") {
            validate_http_url("KEYCARD_RESOURCE_URL", &url)?;
            upstreams.push(UpstreamConfig {
                name: DEFAULT_UPSTREAM.into(),
                url: url.trim_end_matches('/').to_owned(),
                scopes: Vec::new(),
            });
        }
        if let Some(json) = var("KEYCARD_UPSTREAMS") {
            for upstream in parse_upstreams(&json)? {
                if upstreams.iter().any(|u| u.name == upstream.name) {
                    return Err(ConfigError::Invalid {
                        name: "KEYCARD_UPSTREAMS",
                        reason: format!(
                            "the name {:?} is used twice (\"{DEFAULT_UPSTREAM}\" is KEYCARD_RESOURCE_URL's)",
                            upstream.name
                        ),
                    });
                }
                upstreams.push(upstream);
            }
        }
        if upstreams.is_empty() {
            return Err(ConfigError::Missing {
                name: "KEYCARD_RESOURCE_URL",
                hint: RESOURCE_URL_HINT,
            });
        }

        let resource_id = match var("KEYCARD_RESOURCE_ID") {
            Some(r) => {
                validate_http_url("KEYCARD_RESOURCE_ID", &r)?;
                Some(
                    crate::http::resource::canonical_resource(&r).ok_or(ConfigError::Invalid {
                        name: "KEYCARD_RESOURCE_ID",
                        reason: "not an absolute http(s) URL".into(),
                    })?,
                )
            }
            None => None,
        };

        let public_origins = match var("KEYCARD_PUBLIC_ORIGINS") {
            Some(list) => parse_public_origins(&list)?,
            None => Vec::new(),
        };

        let credential = if let Some(pem) =
            get("KEYCARD_PRIVATE_KEY").filter(|v| !v.trim().is_empty())
        {
            Credential::PrivateKey {
                pem: SecretString::new(pem),
            }
        } else {
            match (
                var("KEYCARD_CLIENT_ID"),
                get("KEYCARD_CLIENT_SECRET").filter(|v| !v.is_empty()),
            ) {
                (Some(client_id), Some(secret)) => Credential::ClientSecret {
                    client_id,
                    client_secret: SecretString::new(secret),
                },
                (Some(_), None) => {
                    return Err(ConfigError::Missing {
                        name: "KEYCARD_CLIENT_SECRET",
                        hint: "KEYCARD_CLIENT_ID is set but its secret is not: `wrangler secret put KEYCARD_CLIENT_SECRET`.",
                    });
                }
                (None, Some(_)) => {
                    return Err(ConfigError::Missing {
                        name: "KEYCARD_CLIENT_ID",
                        hint: "KEYCARD_CLIENT_SECRET is set but the client id is not: `wrangler secret put KEYCARD_CLIENT_ID`.",
                    });
                }
                (None, None) => return Err(ConfigError::NoCredentials),
            }
        };

        let list = |name: &str, sep: char| -> Option<Vec<String>> {
            var(name).map(|v| {
                v.split(sep)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
        };
        let required_scopes =
            list("KEYCARD_REQUIRED_SCOPES", ' ').unwrap_or_else(|| vec!["mcp:tools".into()]);
        let mut scopes_supported = list("KEYCARD_SCOPES_SUPPORTED", ' ').unwrap_or_default();
        for s in &required_scopes {
            if !scopes_supported.contains(s) {
                scopes_supported.push(s.clone());
            }
        }
        let allowed_origins = list("KEYCARD_ALLOWED_ORIGINS", ',').unwrap_or_default();
        let mut trusted_issuers = vec![issuer.clone()];
        for extra in list("KEYCARD_EXTRA_ISSUERS", ',').unwrap_or_default() {
            validate_http_url("KEYCARD_EXTRA_ISSUERS", &extra)?;
            trusted_issuers.push(extra);
        }

        let mut limits = Limits::default();
        if let Some(v) = parse_num(&var, "KEYCARD_MAX_TOKEN_BYTES")? {
            limits.max_token_bytes = v as usize;
        }
        if let Some(v) = parse_num(&var, "KEYCARD_MAX_BODY_BYTES")? {
            limits.max_body_bytes = v as usize;
        }
        if let Some(v) = parse_num(&var, "KEYCARD_OUTBOUND_TIMEOUT_MS")? {
            limits.outbound_timeout = Duration::from_millis(v);
        }
        if let Some(v) = parse_num(&var, "KEYCARD_LEEWAY_SECS")? {
            limits.leeway_secs = v;
        }
        if let Some(v) = parse_num(&var, "KEYCARD_MAX_HEADER_BYTES")? {
            limits.max_header_bytes = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = parse_num(&var, "KEYCARD_REQUEST_BUDGET_MS")? {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    name: "KEYCARD_REQUEST_BUDGET_MS",
                    reason: "must be at least 1 (milliseconds); 0 would fail every outbound call"
                        .into(),
                });
            }
            limits.request_budget = Duration::from_millis(v);
        }
        let mut cache = CacheConfig::default();
        if let Some(v) = parse_cache_bound(&var, "KEYCARD_CACHE_MAX_ENTRIES")? {
            cache.max_entries = v.max(1);
        }
        if let Some(v) = parse_cache_bound(&var, "KEYCARD_VERIFIED_CACHE_MAX_ENTRIES")? {
            cache.verified_max_entries = v;
        }

        Ok(Self {
            zone: None,
            issuer,
            trusted_issuers,
            resource_id,
            public_origins,
            upstreams,
            credential,
            resource_name: var("KEYCARD_RESOURCE_NAME")
                .unwrap_or_else(|| "Keycard MCP Server".into()),
            scopes_supported,
            required_scopes,
            allowed_origins,
            limits,
            jwks: JwksConfig::default(),
            cache,
            inflight: Inflight::default(),
            consent_url: var("KEYCARD_CONSENT_URL"),
        })
    }
}

/// The JSON members a zone of `KEYCARD_ZONES` may have, with the variable each one
/// stands for (the per-zone variable `KEYCARD_ZONE_<ZONE>_<SUFFIX>` may give it instead).
const ZONE_MEMBERS: &[(&str, &str)] = &[
    ("issuer", "ISSUER"),
    ("extra_issuers", "EXTRA_ISSUERS"),
    ("client_id", "CLIENT_ID"),
    ("resource_url", "RESOURCE_URL"),
    ("upstreams", "UPSTREAMS"),
    ("resource_id", "RESOURCE_ID"),
    ("resource_name", "RESOURCE_NAME"),
    ("required_scopes", "REQUIRED_SCOPES"),
    ("scopes_supported", "SCOPES_SUPPORTED"),
];

/// Per-zone settings that fall back to the deployment-wide variable when the zone does
/// not set them (presentation and scopes; never issuer, credentials or upstreams).
const ZONE_INHERITED: &[&str] = &["RESOURCE_NAME", "REQUIRED_SCOPES", "SCOPES_SUPPORTED"];

/// Per-zone secrets: only ever `KEYCARD_ZONE_<ZONE>_<SUFFIX>` (a secret never sits in a
/// `[vars]` JSON document).
const ZONE_SECRETS: &[&str] = &["CLIENT_SECRET", "PRIVATE_KEY"];

const ZONES_EXAMPLE: &str = r#"expected a JSON object of zones, e.g. KEYCARD_ZONES = '{"acme": {"issuer": "https://acme.keycard.cloud", "client_id": "…", "upstreams": {"github": "https://api.github.com"}}}' with the secret `wrangler secret put KEYCARD_ZONE_ACME_CLIENT_SECRET` (or KEYCARD_ZONE_ACME_PRIVATE_KEY)"#;

/// The zones one deployment serves, each with its own [`Config`] (issuer, credentials,
/// upstreams, resource id).
///
/// * Without `KEYCARD_ZONES`: one unnamed zone read from the classic variables
///   (`KEYCARD_ISSUER`, `KEYCARD_RESOURCE_URL`, …), served at `/mcp`, exactly as before.
/// * With `KEYCARD_ZONES` (a JSON object, zone name → settings): each zone is served at
///   `/{zone}/mcp`, its protected-resource metadata at
///   `/.well-known/oauth-protected-resource/{zone}/mcp` (RFC 9728 path-inserted form), and
///   its resource id defaults to `https://<origin>/{zone}/mcp`. A zone's settings are the
///   JSON members `issuer`, `client_id`, `resource_url`, `upstreams`, `extra_issuers`,
///   `resource_id`, `resource_name`, `required_scopes`, `scopes_supported` (same meaning
///   and syntax as the `KEYCARD_*` variable of that name; lists may be JSON arrays), each
///   of which may instead be the variable `KEYCARD_ZONE_<ZONE>_<NAME>` (zone name upper
///   cased, `-` and `.` as `_`). Its secrets are only variables:
///   `KEYCARD_ZONE_<ZONE>_CLIENT_SECRET` or `KEYCARD_ZONE_<ZONE>_PRIVATE_KEY`. Limits,
///   caches and origins (`KEYCARD_MAX_*`, `KEYCARD_PUBLIC_ORIGINS`, …) are shared.
///
/// ```
/// use keycard_core::config::Zones;
///
/// let env = |name: &str| match name {
///     "KEYCARD_ZONES" => Some(r#"{"acme": {"issuer": "https://acme.keycard.cloud",
///         "client_id": "mcp", "resource_url": "https://api.github.com"},
///         "globex": {"issuer": "https://globex.keycard.cloud", "client_id": "mcp",
///         "resource_url": "https://api.github.com"}}"#.to_owned()),
///     "KEYCARD_ZONE_ACME_CLIENT_SECRET" | "KEYCARD_ZONE_GLOBEX_CLIENT_SECRET" => {
///         Some("s3cr3t".to_owned())
///     }
///     _ => None,
/// };
/// let zones = Zones::from_env(env).unwrap();
/// assert_eq!(zones.len(), 2);
/// assert_eq!(zones.get("globex").unwrap().issuer, "https://globex.keycard.cloud");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    configs: Vec<Config>,
}

impl From<Config> for Zones {
    fn from(config: Config) -> Self {
        Self {
            configs: vec![config],
        }
    }
}

impl Zones {
    /// Reads every zone through `get` (the Worker's `env`, or the process env): the
    /// classic single zone when `KEYCARD_ZONES` is not set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_env_dyn(&get)
    }

    /// [`Zones::from_env`], compiled once whatever the caller's closure.
    #[inline(never)]
    fn from_env_dyn(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let Some(json) = get("KEYCARD_ZONES").filter(|v| !v.trim().is_empty()) else {
            return Config::from_env_dyn(get).map(Self::from);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: "KEYCARD_ZONES",
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| invalid(format!("not JSON ({e}); {ZONES_EXAMPLE}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(invalid(ZONES_EXAMPLE.into()));
        };
        let mut configs = Vec::with_capacity(map.len());
        for (name, spec) in map {
            let serde_json::Value::Object(members) = spec else {
                return Err(invalid(format!(
                    "zone {name:?} must be a JSON object; {ZONES_EXAMPLE}"
                )));
            };
            configs.push(zone_config(&name, &members, &get)?);
        }
        Self::named(configs)
    }

    /// Named zones built in code (each [`Config::zone`] set, names unique and valid).
    pub fn named(configs: Vec<Config>) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "KEYCARD_ZONES",
            reason,
        };
        if configs.is_empty() {
            return Err(invalid(
                "names no zone; unset it for the single-zone configuration".into(),
            ));
        }
        for (i, config) in configs.iter().enumerate() {
            let Some(name) = config.zone.as_deref() else {
                return Err(invalid(
                    "every zone of a multi-zone deployment needs a name".into(),
                ));
            };
            check_zone_name(name)?;
            if configs[..i].iter().any(|c| c.zone.as_deref() == Some(name)) {
                return Err(invalid(format!("the zone {name:?} is named twice")));
            }
        }
        Ok(Self { configs })
    }

    /// How many zones.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Never true (there is always at least one zone); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// The zone called `name`.
    pub fn get(&self, name: &str) -> Option<&Config> {
        self.configs
            .iter()
            .find(|c| c.zone.as_deref() == Some(name))
    }

    /// Every zone's configuration, in the order given.
    pub fn iter(&self) -> std::slice::Iter<'_, Config> {
        self.configs.iter()
    }

    /// Every zone's configuration, to adjust host-specific settings (e.g. [`Inflight`]).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Config> {
        self.configs.iter_mut()
    }

    /// The configurations.
    pub fn into_vec(self) -> Vec<Config> {
        self.configs
    }
}

/// `KEYCARD_ZONE_<ZONE>_`: the prefix of zone `name`'s own variables.
pub fn zone_var_prefix(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("KEYCARD_ZONE_{upper}_")
}

/// A zone name is a path segment: 1-64 of `a-z 0-9 - _ .`, not `.well-known`-like.
fn check_zone_name(name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !matches!(name, "mcp" | "health");
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: "KEYCARD_ZONES",
            reason: format!(
                "zone name {name:?} must be 1-64 characters of a-z 0-9 - _ . (it is the path prefix /{{zone}}/mcp), not starting with '.', and not \"mcp\" or \"health\""
            ),
        })
    }
}

/// One zone of `KEYCARD_ZONES`: its JSON `members` and `KEYCARD_ZONE_<ZONE>_*` variables
/// stand for the classic variables, read by [`Config::from_env`].
fn zone_config(
    name: &str,
    members: &serde_json::Map<String, serde_json::Value>,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    check_zone_name(name)?;
    let prefix = zone_var_prefix(name);
    let zone_error = |message: String| ConfigError::Zone {
        zone: name.to_owned(),
        message,
    };
    for key in members.keys() {
        if ZONE_MEMBERS.iter().all(|(member, _)| member != key) {
            let secret = matches!(key.as_str(), "client_secret" | "private_key");
            return Err(zone_error(if secret {
                format!(
                    "KEYCARD_ZONES: zone {name:?} puts {key:?} in a var; secrets go in `wrangler secret put {prefix}{}` instead",
                    key.to_ascii_uppercase()
                )
            } else {
                format!(
                    "KEYCARD_ZONES: zone {name:?} has an unknown member {key:?} (known: {})",
                    ZONE_MEMBERS
                        .iter()
                        .map(|(m, _)| *m)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }));
        }
    }
    // Each member as the string its variable would hold.
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for (member, suffix) in ZONE_MEMBERS {
        let Some(value) = members.get(*member) else {
            continue;
        };
        let text = match (suffix, value) {
            (_, serde_json::Value::String(s)) => s.clone(),
            (&"UPSTREAMS", serde_json::Value::Object(_)) => value.to_string(),
            (
                &("EXTRA_ISSUERS" | "REQUIRED_SCOPES" | "SCOPES_SUPPORTED"),
                serde_json::Value::Array(items),
            ) => {
                let sep = if *suffix == "EXTRA_ISSUERS" { "," } else { " " };
                items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_owned).ok_or_else(|| {
                            zone_error(format!(
                                "KEYCARD_ZONES: zone {name:?}: {member:?} must be a string or an array of strings"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(sep)
            }
            _ => {
                return Err(zone_error(format!(
                    "KEYCARD_ZONES: zone {name:?}: {member:?} has the wrong JSON type; {ZONES_EXAMPLE}"
                )));
            }
        };
        values.push((suffix, text));
    }
    let lookup = |name: &str| -> Option<String> {
        let Some(suffix) = name.strip_prefix("KEYCARD_") else {
            return get(name);
        };
        let per_zone =
            ZONE_MEMBERS.iter().any(|(_, s)| *s == suffix) || ZONE_SECRETS.contains(&suffix);
        if !per_zone {
            return get(name);
        }
        let own = values
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, v)| v.clone())
            .or_else(|| get(&format!("{prefix}{suffix}")));
        match own {
            Some(v) => Some(v),
            None if ZONE_INHERITED.contains(&suffix) => get(name),
            None => None,
        }
    };
    if lookup("KEYCARD_ISSUER").is_none_or(|v| v.trim().is_empty()) {
        return Err(zone_error(format!(
            "zone {name:?} has no issuer: add \"issuer\": \"https://<zone-id>.keycard.cloud\" to its entry in KEYCARD_ZONES (or set {prefix}ISSUER)"
        )));
    }
    let mut config =
        Config::from_env(lookup).map_err(|e| zone_error(in_zone(name, &prefix, &e)))?;
    config.zone = Some(name.to_owned());
    Ok(config)
}

/// A [`Config::from_env`] error of zone `name`, reworded with the zone's own names.
fn in_zone(name: &str, prefix: &str, error: &ConfigError) -> String {
    if matches!(error, ConfigError::NoCredentials) {
        return format!(
            "zone {name:?} has no Keycard credentials: set either its \"client_id\" in KEYCARD_ZONES plus `wrangler secret put {prefix}CLIENT_SECRET`, or `openssl genrsa 2048 | wrangler secret put {prefix}PRIVATE_KEY` for web identity"
        );
    }
    let mut message = error.to_string();
    for suffix in ZONE_SECRETS {
        message = message.replace(&format!("KEYCARD_{suffix}"), &format!("{prefix}{suffix}"));
    }
    for (member, suffix) in ZONE_MEMBERS {
        message = message.replace(
            &format!("KEYCARD_{suffix}"),
            &format!("KEYCARD_ZONES[{name:?}].{member} (or {prefix}{suffix})"),
        );
    }
    format!("zone {name:?}: {message}")
}

/// The largest cache bound accepted: the LRU caches reserve their table up front, so
/// an absurd bound must be a configuration error, not an allocation failure on the
/// first request.
pub const MAX_CACHE_BOUND: usize = 1_000_000;

/// A cache bound (`KEYCARD_*_MAX_ENTRIES`), at most [`MAX_CACHE_BOUND`].
fn parse_cache_bound(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<usize>, ConfigError> {
    match parse_num(var, name)? {
        None => Ok(None),
        Some(v) if v <= MAX_CACHE_BOUND as u64 => Ok(Some(v as usize)),
        Some(v) => Err(ConfigError::Invalid {
            name,
            reason: format!("{v} is more than the {MAX_CACHE_BOUND} entries allowed"),
        }),
    }
}

fn parse_num(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    match var(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                name,
                reason: format!("expected a whole number, got {v:?}"),
            }),
    }
}

/// `KEYCARD_PUBLIC_ORIGINS`: comma-separated http(s) origins, each canonicalised
/// (lowercase, default port dropped). A path other than `/`, a query, a fragment or
/// userinfo is refused: an origin names where the server is reached, nothing more.
fn parse_public_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "KEYCARD_PUBLIC_ORIGINS",
        reason,
    };
    let mut out: Vec<String> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let url = url::Url::parse(item).map_err(|e| {
            invalid(format!(
                "{item:?} is not a URL ({e}); expected origins like https://mcp.example.com, comma separated"
            ))
        })?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !plain {
            return Err(invalid(format!(
                "{item:?} is not a bare http(s) origin (scheme://host[:port], no path, query or credentials)"
            )));
        }
        let origin = url.origin().ascii_serialization();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "lists no origin; unset it to answer for any routed origin".into(),
        ));
    }
    Ok(out)
}

fn validate_http_url(name: &'static str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some() => {
            Ok(())
        }
        Ok(u) => Err(ConfigError::Invalid {
            name,
            reason: format!(
                "expected an http(s) URL with a host, got scheme {:?}",
                u.scheme()
            ),
        }),
        Err(e) => Err(ConfigError::Invalid {
            name,
            reason: format!("not a URL ({e}); expected e.g. https://<zone-id>.keycard.cloud"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn public_origins_are_canonical_bare_origins() {
        let base = [
            ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
            ("KEYCARD_RESOURCE_URL", "https://api.github.com"),
            ("KEYCARD_CLIENT_ID", "id"),
            ("KEYCARD_CLIENT_SECRET", "s3cr3t"),
        ];
        let with = |value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("KEYCARD_PUBLIC_ORIGINS", value));
            Config::from_env(env(&pairs))
        };
        let unpinned = Config::from_env(env(&base)).unwrap();
        assert!(unpinned.public_origins.is_empty());
        assert!(unpinned.serves_origin("http://evil.example:8787"));

        let cfg =
            with(" HTTPS://MCP.Example.com:443/ , http://127.0.0.1:8787,https://mcp.example.com")
                .unwrap();
        assert_eq!(
            cfg.public_origins,
            ["https://mcp.example.com", "http://127.0.0.1:8787"]
        );
        assert!(cfg.serves_origin("https://mcp.example.com"));
        assert!(cfg.serves_origin("http://127.0.0.1:8787"));
        assert!(!cfg.serves_origin("http://127.0.0.1:8788"));
        assert!(!cfg.serves_origin("http://evil.example:8787"));
        assert!(!cfg.serves_origin("https://127.0.0.1:8787"));

        for bad in [
            "mcp.example.com",
            "ftp://mcp.example.com",
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/?q",
            "https://mcp.example.com/#f",
            "https://user@mcp.example.com",
            "javascript:alert(1)",
            " , ",
        ] {
            let err = with(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "KEYCARD_PUBLIC_ORIGINS",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn cache_bounds_are_read_and_capped() {
        let base = [
            ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
            ("KEYCARD_RESOURCE_URL", "https://api.github.com"),
            ("KEYCARD_CLIENT_ID", "id"),
            ("KEYCARD_CLIENT_SECRET", "s3cr3t"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            Config::from_env(env(&pairs))
        };
        let cfg = with(("KEYCARD_VERIFIED_CACHE_MAX_ENTRIES", "0")).unwrap();
        assert_eq!(cfg.cache.verified_max_entries, 0);
        assert_eq!(cfg.cache.max_entries, 10_000);
        let cfg = with(("KEYCARD_CACHE_MAX_ENTRIES", "1000000")).unwrap();
        assert_eq!(cfg.cache.max_entries, 1_000_000);
        for name in [
            "KEYCARD_CACHE_MAX_ENTRIES",
            "KEYCARD_VERIFIED_CACHE_MAX_ENTRIES",
        ] {
            let err = with((name, "4294967296")).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{err}"
            );
            assert!(err.to_string().contains("1000000"), "{err}");
        }
    }

    #[test]
    fn missing_issuer_names_the_variable() {
        let err = Config::from_env(env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("KEYCARD_ISSUER is not set."),
            "{err}"
        );
    }

    #[test]
    fn issuer_must_be_a_url() {
        let err = Config::from_env(env(&[("KEYCARD_ISSUER", "my-zone")])).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "KEYCARD_ISSUER",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn no_credentials_names_both_modes() {
        let err = Config::from_env(env(&[
            ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
            ("KEYCARD_RESOURCE_URL", "https://api.github.com"),
        ]))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("wrangler secret put KEYCARD_CLIENT_SECRET"),
            "{msg}"
        );
        assert!(msg.contains("KEYCARD_PRIVATE_KEY"), "{msg}");
    }

    #[test]
    fn private_key_wins_and_is_redacted() {
        let cfg = Config::from_env(env(&[
            ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
            ("KEYCARD_RESOURCE_URL", "https://api.github.com/"),
            ("KEYCARD_CLIENT_ID", "id"),
            ("KEYCARD_CLIENT_SECRET", "s3cr3t"),
            (
                "KEYCARD_PRIVATE_KEY",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            ),
        ]))
        .unwrap();
        assert!(matches!(cfg.credential, Credential::PrivateKey { .. }));
        assert_eq!(cfg.upstreams.len(), 1);
        assert_eq!(cfg.upstreams[0].name, "default");
        assert_eq!(cfg.upstreams[0].url, "https://api.github.com");
        assert!(!format!("{cfg:?}").contains("AAAA"));
        assert_eq!(cfg.required_scopes, vec!["mcp:tools".to_string()]);
    }

    #[test]
    fn client_secret_mode() {
        let cfg = Config::from_env(env(&[
            ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
            ("KEYCARD_RESOURCE_URL", "https://api.github.com"),
            ("KEYCARD_CLIENT_ID", "id"),
            ("KEYCARD_CLIENT_SECRET", "s3cr3t"),
        ]))
        .unwrap();
        assert!(matches!(cfg.credential, Credential::ClientSecret { .. }));
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }

    const BASE: &[(&str, &str)] = &[
        ("KEYCARD_ISSUER", "https://z.keycard.cloud"),
        ("KEYCARD_RESOURCE_URL", "https://api.github.com"),
        ("KEYCARD_CLIENT_ID", "id"),
        ("KEYCARD_CLIENT_SECRET", "s3cr3t"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        Config::from_env(env(&pairs))
    }

    #[test]
    fn limit_defaults() {
        let limits = with(&[]).unwrap().limits;
        assert_eq!(limits.max_header_bytes, 16 * 1024);
        assert_eq!(limits.request_budget, Duration::from_secs(25));
        // The header limit leaves room for a maximal token and ordinary headers.
        assert!(limits.max_header_bytes >= limits.max_token_bytes + 4 * 1024);
        assert!(limits.request_budget > limits.outbound_timeout);
    }

    #[test]
    fn header_limit_and_request_budget_are_read() {
        let limits = with(&[
            ("KEYCARD_MAX_HEADER_BYTES", "32768"),
            ("KEYCARD_REQUEST_BUDGET_MS", "1500"),
        ])
        .unwrap()
        .limits;
        assert_eq!(limits.max_header_bytes, 32768);
        assert_eq!(limits.request_budget, Duration::from_millis(1500));
    }

    #[test]
    fn bad_limit_values_name_the_variable() {
        for (name, value) in [
            ("KEYCARD_REQUEST_BUDGET_MS", "abc"),
            ("KEYCARD_REQUEST_BUDGET_MS", "-5"),
            ("KEYCARD_REQUEST_BUDGET_MS", "2.5"),
            ("KEYCARD_MAX_HEADER_BYTES", "16k"),
            ("KEYCARD_MAX_HEADER_BYTES", "-1"),
        ] {
            let err = with(&[(name, value)]).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { name: n, .. } if *n == name),
                "{name}={value:?}: {err}"
            );
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("{name} is invalid")), "{msg}");
            assert!(msg.contains("whole number"), "{msg}");
        }
    }

    #[test]
    fn zero_budget_is_refused() {
        let err = with(&[("KEYCARD_REQUEST_BUDGET_MS", "0")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("KEYCARD_REQUEST_BUDGET_MS is invalid: must be at least 1"),
            "{err}"
        );
    }
}
