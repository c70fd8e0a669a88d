//! # keycard-worker
//!
//! Run a Keycard-protected MCP server on Cloudflare Workers. Your crate holds your tools
//! and a few lines of `#[event(fetch)]`; this crate is the wasm host around
//! [`keycard_core`] (re-exported as [`core`]):
//!
//! * [`serve`]: the one entry. It builds the isolate-wide [`keycard_core::Gateway`] from
//!   `env` and your [`Server`](keycard_core::Server) on the first request, then answers
//!   every request: bearer verification against the zone's JWKS, OAuth discovery, MCP,
//!   and your tools with per-user delegated upstream tokens;
//! * [`FetchHttp`], [`WorkerClock`], [`WebCrypto`]: the core's ports over `fetch`,
//!   `Date.now()`/timers and WebCrypto, for a host of your own;
//! * [`log`]: the core's `tracing` events as JSON lines on the Workers console, at the
//!   level `KEYCARD_LOG` names;
//! * [`session`]: MCP sessions (`Mcp-Session-Id`) in a Durable Object per session
//!   ([`McpSession`], [`DurableSessionStore`]), on when the Worker binds `MCP_SESSIONS`.
//!
//! ```ignore
//! use keycard_worker::core::Server;
//! use keycard_worker::core::tools::{NoArgs, Tool, ToolContext, ToolError};
//! use worker::{Context, Env, Result, event};
//!
//! fn app() -> Server {
//!     Server::new("my-server", env!("CARGO_PKG_VERSION")).tool(
//!         Tool::new("ping")
//!             .description("Answers pong.")
//!             .handler(|_ctx: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>("pong") }),
//!     )
//! }
//!
//! #[event(fetch)]
//! async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
//!     keycard_worker::serve(req, env, ctx, app).await
//! }
//! ```
//!
//! (The example is compiled for real by this repository's own `worker/` crate and by the
//! project the template generates; the crate only builds for `wasm32-unknown-unknown`.)
//!
//! On a native target the crate is empty apart from the [`core`] re-export, so a
//! workspace's native `cargo test` does not build the Workers runtime.

pub use keycard_core as core;

#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod crypto;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
pub mod log;
#[cfg(target_arch = "wasm32")]
mod serve;
#[cfg(target_arch = "wasm32")]
pub mod session;
#[cfg(target_arch = "wasm32")]
mod warm_up;

#[cfg(target_arch = "wasm32")]
pub use clock::WorkerClock;
#[cfg(target_arch = "wasm32")]
pub use crypto::WebCrypto;
#[cfg(target_arch = "wasm32")]
pub use http::FetchHttp;
#[cfg(target_arch = "wasm32")]
pub use serve::serve;
#[cfg(target_arch = "wasm32")]
pub use session::{DurableSessionStore, McpSession};
#[cfg(target_arch = "wasm32")]
pub use warm_up::warm_up;
