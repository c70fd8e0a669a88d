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
//! ## Where things live
//!
//! | folder | concern |
//! |---|---|
//! | [`http`] | the [`Gateway`]: routing, CORS, canonical resource ids, and THE one mapping from every outcome to an HTTP status and body ([`http::response`]) |
//! | [`auth`] | is this request allowed? bearer parsing, JWT checks, the JWKS keyring, the verified-signature memo, the verified caller ([`Identity`]) |
//! | [`delegation`] | acting for the caller upstream: STS credentials (client secret or web identity), RFC 8693 exchange, the isolate-safe token cache, the upstream client |
//! | [`oauth`] | metadata: the issuers' RFC 8414 documents (discovery) and our RFC 9728 protected-resource metadata |
//! | [`server`] | your MCP server: name, version, instructions, tools |
//! | [`tools`] | the tool API a server author writes ([`tools::Tool`], [`tools::ToolContext`]: upstreams, logging, progress, elicitation and sampling), and the built-in tools |
//! | [`mcp`] | MCP over Streamable HTTP: JSON-RPC, protocol eras, dispatch, SSE notifications, cancellation |
//! | [`session`] | sessions (`Mcp-Session-Id`) in the legacy revisions: the [`session::SessionStore`] port a host provides (a Durable Object on Workers), identity-bound, expiring |
//! | [`outbound`] | rules every outbound call follows: the per-request time budget and single flight |
//! | [`ports`] | the seam to the host: [`Clock`], [`HttpClient`], [`Crypto`] (plus pure-Rust crypto and test doubles behind features) |
//!
//! A request flows: [`http`] routing → [`auth`] → [`mcp`] dispatch → a [`tools::Tool`] →
//! [`delegation`] (token cache → RFC 8693 exchange → upstream call) → back through
//! [`http::response`].

pub mod auth;
pub mod completion;
pub mod config;
pub mod delegation;
pub mod http;
pub mod mcp;
pub mod oauth;
pub mod outbound;
pub mod ports;
pub mod prompts;
pub mod resources;
pub mod secret;
pub mod server;
pub mod session;
pub mod tools;
pub mod warm_up;

pub use auth::Identity;
pub use config::{Config, ConfigError, Credential, Zones};
pub use http::Gateway;
pub use ports::{Clock, Crypto, HttpClient, Ports};
pub use secret::{Secret, SecretString};
pub use server::Server;
