//! # emulator
//!
//! Runs `keycard-core` natively, the way the Cloudflare Worker runs it, with everything
//! it talks to embedded:
//!
//! * [`ports`]: the system clock, reqwest and an in-process HTTP client that routes
//!   requests for the embedded mock zones straight into their axum routers;
//! * [`isolate`]: N single-threaded "isolates", each with its own [`keycard_core::Gateway`]
//!   (the Worker's isolate-wide state), interleaving requests at every await;
//! * [`host`]: the axum front forwarding every request to an isolate;
//! * [`serve`]: `cargo run -p emulator`: the embedded mock Keycard zone, its demo
//!   upstream, and the core at `http://127.0.0.1:8787/mcp`;
//! * [`replay`]: multi-user traces through the isolates with a leak oracle;
//! * [`token`]: tokens for the fixture users without a running server;
//! * [`harness`]: the leak test for *your* server's tools, from your own `cargo test`
//!   ([`harness::LeakTest`]).

pub mod cli;
pub mod harness;
pub mod host;
pub mod isolate;
pub mod ports;
pub mod replay;
pub mod rss;
pub mod serve;
pub mod settings;
pub mod token;
pub mod zones;
