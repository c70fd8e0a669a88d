//! Server configuration: flags, environment (the Worker's `KEYCARD_*` names) and an
//! optional TOML file, merged in that order of precedence, then completed with the
//! embedded zone's values for whatever is still unset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::isolate::RoutePolicy;

/// The `KEYCARD_*` settings the core reads, as flags with the same env names.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeycardArgs {
    /// Keycard zone URL. Unset: the embedded mock zone.
    #[arg(long, env = "KEYCARD_ISSUER")]
    pub issuer: Option<String>,
    /// Upstream API the delegated tools call. Unset with the embedded zone: its demo upstream.
    #[arg(long, env = "KEYCARD_RESOURCE_URL")]
    pub resource_url: Option<String>,
    /// This server's resource identifier. Unset: the request origin.
    #[arg(long, env = "KEYCARD_RESOURCE_ID")]
    pub resource_id: Option<String>,
    /// The public origins this server answers for, comma separated; requests for any
    /// other origin (`Host` header or absolute-form target) get 421. Default: the listen
    /// origin `http://127.0.0.1:PORT` (and `http://localhost:PORT` on loopback).
    #[arg(long, env = "KEYCARD_PUBLIC_ORIGINS")]
    pub public_origins: Option<String>,
    /// Client id for the token exchange (client-secret mode).
    #[arg(long, env = "KEYCARD_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Client secret for the token exchange.
    #[arg(long, env = "KEYCARD_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// PEM file with the RSA key for web identity (the key itself can be given in
    /// `KEYCARD_PRIVATE_KEY`).
    #[arg(long, env = "KEYCARD_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// More trusted issuers, comma separated.
    #[arg(long, env = "KEYCARD_EXTRA_ISSUERS")]
    pub extra_issuers: Option<String>,
    /// Scopes every request must carry, space separated (default `mcp:tools`).
    #[arg(long, env = "KEYCARD_REQUIRED_SCOPES")]
    pub required_scopes: Option<String>,
    /// Browser origins allowed to call `/mcp`, comma separated.
    #[arg(long, env = "KEYCARD_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Token cache size.
    #[arg(long, env = "KEYCARD_CACHE_MAX_ENTRIES")]
    pub cache_max_entries: Option<u64>,
    /// Clock leeway on `exp`/`nbf`/`iat`, seconds.
    #[arg(long, env = "KEYCARD_LEEWAY_SECS")]
    pub leeway_secs: Option<u64>,
    /// Timeout of each outbound call, milliseconds.
    #[arg(long, env = "KEYCARD_OUTBOUND_TIMEOUT_MS")]
    pub outbound_timeout_ms: Option<u64>,
    /// Largest request body, bytes.
    #[arg(long, env = "KEYCARD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<u64>,
}

/// The optional `--config` file.
///
/// ```toml
/// host = "127.0.0.1"
/// port = 8787
/// zone_port = 8788
/// isolates = 2
/// route = "sticky"
/// [keycard]            # any KEYCARD_* variable, as in wrangler.toml [vars]
/// KEYCARD_ISSUER = "https://my-zone.keycard.cloud"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address.
    pub host: Option<String>,
    /// Listen port.
    pub port: Option<u16>,
    /// Embedded zone port.
    pub zone_port: Option<u16>,
    /// Isolates.
    pub isolates: Option<usize>,
    /// Routing policy.
    pub route: Option<RoutePolicy>,
    /// `KEYCARD_*` variables.
    #[serde(default)]
    pub keycard: BTreeMap<String, String>,
}

/// Why the configuration could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid config file {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A `[keycard]` key is not a `KEYCARD_*` name.
    #[error("config file key {0:?} is not a KEYCARD_* variable")]
    NotKeycard(String),
}

impl FileConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if let Some(bad) = config.keycard.keys().find(|k| !k.starts_with("KEYCARD_")) {
            return Err(SettingsError::NotKeycard(bad.clone()));
        }
        Ok(config)
    }
}

/// The `KEYCARD_*` variables handed to `keycard_core::Config::from_env`. `Debug` lists
/// the names only (values may be secrets).
#[derive(Clone, Default)]
pub struct EnvMap(BTreeMap<String, String>);

impl std::fmt::Debug for EnvMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl EnvMap {
    /// Sets `name` unless it already has a non-empty value.
    pub fn set_default(&mut self, name: &str, value: impl Into<String>) {
        let entry = self.0.entry(name.to_owned()).or_default();
        if entry.trim().is_empty() {
            *entry = value.into();
        }
    }

    /// Sets `name`, replacing any value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }

    /// The value of `name`, if set and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether any credential (private key or client id/secret) is configured.
    pub fn has_credentials(&self) -> bool {
        self.get("KEYCARD_PRIVATE_KEY").is_some()
            || self.get("KEYCARD_CLIENT_ID").is_some()
            || self.get("KEYCARD_CLIENT_SECRET").is_some()
    }

    /// Builds the core's configuration.
    pub fn to_config(&self) -> Result<keycard_core::Config, keycard_core::ConfigError> {
        keycard_core::Config::from_env(|name| self.get(name).map(str::to_owned))
    }

    /// Merges, highest precedence first: `flags` (clap already folded in their env
    /// variables), every other `KEYCARD_*` variable of `process_env`, then the config
    /// file's `[keycard]` table. A `--private-key-file` is read here.
    pub fn assemble(
        flags: &KeycardArgs,
        process_env: impl IntoIterator<Item = (String, String)>,
        file: &FileConfig,
    ) -> Result<Self, SettingsError> {
        let mut map = Self::default();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                map.set_default(name, v);
            }
        };
        put("KEYCARD_ISSUER", flags.issuer.clone());
        put("KEYCARD_RESOURCE_URL", flags.resource_url.clone());
        put("KEYCARD_RESOURCE_ID", flags.resource_id.clone());
        put("KEYCARD_PUBLIC_ORIGINS", flags.public_origins.clone());
        put("KEYCARD_CLIENT_ID", flags.client_id.clone());
        put("KEYCARD_CLIENT_SECRET", flags.client_secret.clone());
        put("KEYCARD_EXTRA_ISSUERS", flags.extra_issuers.clone());
        put("KEYCARD_REQUIRED_SCOPES", flags.required_scopes.clone());
        put("KEYCARD_ALLOWED_ORIGINS", flags.allowed_origins.clone());
        let num = |v: Option<u64>| v.map(|n| n.to_string());
        put("KEYCARD_CACHE_MAX_ENTRIES", num(flags.cache_max_entries));
        put("KEYCARD_LEEWAY_SECS", num(flags.leeway_secs));
        put(
            "KEYCARD_OUTBOUND_TIMEOUT_MS",
            num(flags.outbound_timeout_ms),
        );
        put("KEYCARD_MAX_BODY_BYTES", num(flags.max_body_bytes));
        if let Some(path) = &flags.private_key_file {
            let pem = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: path.display().to_string(),
                source,
            })?;
            map.set_default("KEYCARD_PRIVATE_KEY", pem);
        }
        for (name, value) in process_env {
            if name.starts_with("KEYCARD_") && name != "KEYCARD_PRIVATE_KEY_FILE" {
                map.set_default(&name, value);
            }
        }
        for (name, value) in &file.keycard {
            map.set_default(name, value.clone());
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_flags_then_env_then_file() {
        let flags = KeycardArgs {
            issuer: Some("http://flag".into()),
            leeway_secs: Some(3),
            ..KeycardArgs::default()
        };
        let env = vec![
            ("KEYCARD_ISSUER".to_owned(), "http://env".to_owned()),
            ("KEYCARD_RESOURCE_NAME".to_owned(), "from env".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let file: FileConfig = toml::from_str(
            "port = 1\n[keycard]\nKEYCARD_RESOURCE_NAME = \"file\"\nKEYCARD_RESOURCE_URL = \"http://up\"\n",
        )
        .unwrap();
        let map = EnvMap::assemble(&flags, env, &file).unwrap();
        assert_eq!(map.get("KEYCARD_ISSUER"), Some("http://flag"));
        assert_eq!(map.get("KEYCARD_LEEWAY_SECS"), Some("3"));
        assert_eq!(map.get("KEYCARD_RESOURCE_NAME"), Some("from env"));
        assert_eq!(map.get("KEYCARD_RESOURCE_URL"), Some("http://up"));
        assert_eq!(map.get("PATH"), None);
        assert!(!map.has_credentials());
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut map = EnvMap::default();
        map.set("KEYCARD_CLIENT_SECRET", "hunter2");
        let shown = format!("{map:?}");
        assert!(shown.contains("KEYCARD_CLIENT_SECRET") && !shown.contains("hunter2"));
        assert!(map.has_credentials());
    }

    #[test]
    fn file_errors_are_specific() {
        let dir = std::env::temp_dir().join(format!("emu-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, "[keycard]\nPATH = \"x\"\n").unwrap();
        assert!(matches!(
            FileConfig::load(&f),
            Err(SettingsError::NotKeycard(_))
        ));
        std::fs::write(&f, "bogus = 1\n").unwrap();
        assert!(matches!(
            FileConfig::load(&f),
            Err(SettingsError::Parse { .. })
        ));
        std::fs::write(&f, "route = \"sticky\"\nisolates = 2\n").unwrap();
        assert_eq!(
            FileConfig::load(&f).unwrap().route,
            Some(RoutePolicy::Sticky)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
