//! # keycard-core
//!
//! The platform-neutral core of a Keycard-protected MCP server for Cloudflare Workers.
//!
//! **The rule:** this crate performs no I/O, reads no clock and draws no randomness. Time,
//! outbound HTTP and cryptography arrive through the traits in [`ports`]; the wasm Worker
//! and the native emulator each implement them and call the same entry point,
//! [`Gateway::handle`]. `clippy.toml` forbids `SystemTime::now` and `Instant::now` here,
//! and the crate depends on no async runtime, HTTP stack or Workers binding.
//!
//! A request flows: [`gateway`] routing → [`auth`] (bearer parsing, JWT checks, [`jwks`]
//! keyring) → [`mcp`] JSON-RPC dispatch → a [`tools::Tool`] → [`delegated`] upstream
//! access via [`exchange`] (RFC 8693) and the isolate-safe [`cache`].

pub mod auth;
pub mod bearer;
pub mod budget;
pub mod cache;
pub mod config;
pub mod cors;
pub mod credentials;
pub mod delegated;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod gateway;
pub mod identity;
pub mod jwk;
pub mod jwks;
pub mod jwt;
pub mod mcp;
pub mod metadata;
pub mod pem;
pub mod ports;
pub mod resource;
pub mod secret;
pub mod tools;
pub mod upstream;
pub mod verified;

#[cfg(feature = "rust-crypto")]
pub mod rust_crypto;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{Config, ConfigError, Credential};
pub use gateway::Gateway;
pub use identity::Identity;
pub use ports::{Clock, Crypto, HttpClient, Ports};
pub use secret::{Secret, SecretString};
