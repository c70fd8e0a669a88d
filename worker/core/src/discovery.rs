//! RFC 8414 authorization-server metadata of the trusted issuers, fetched through the
//! HTTP port and cached (`JwksConfig::discovery_ttl`). Shared by the keyring (`jwks_uri`)
//! and the token-exchange client (`token_endpoint`).
//!
//! OWNER: auth helper (H1a). Interface fixed; implementation pending.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ports::Ports;

/// The members of an issuer's RFC 8414 metadata the core uses (others are kept verbatim
/// in `raw` for the metadata proxy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsMetadata {
    /// Must equal the issuer it was fetched for, exactly.
    pub issuer: String,
    /// Where the keys are; must be same-origin with the issuer.
    pub jwks_uri: String,
    /// The STS.
    pub token_endpoint: String,
    /// The whole document as served.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

/// Why the metadata could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The issuer could not be reached, timed out or answered non-2xx.
    #[error("authorization server metadata unavailable: {0}")]
    Unavailable(String),
    /// The document is not valid metadata (bad JSON, issuer mismatch, cross-origin jwks_uri).
    #[error("authorization server metadata invalid: {0}")]
    Invalid(String),
}

/// Cached discovery for the configured issuers.
pub struct Discovery {
    #[allow(dead_code)]
    config: Arc<Config>,
    #[allow(dead_code)]
    ports: Ports,
}

impl Discovery {
    /// A discovery cache using `ports`.
    pub fn new(config: Arc<Config>, ports: Ports) -> Self {
        Self { config, ports }
    }

    /// The metadata of `issuer` (which must be trusted), from cache or fetched.
    pub async fn metadata(&self, issuer: &str) -> Result<Arc<AsMetadata>, DiscoveryError> {
        Err(DiscoveryError::Unavailable(format!(
            "not implemented for {issuer}"
        )))
    }
}
