//! # keycard-worker
//!
//! Run a Keycard-protected MCP server on Cloudflare Workers. Your crate holds your tools
//! and one line, [`entry!`]; this crate is the wasm host around [`keycard_core`]
//! (re-exported as [`core`]):
//!
//! * [`entry!`]: the Worker's entry. At script startup ([`warm_up`]) it builds the
//!   isolate-wide [`keycard_core::Gateway`] from `env` and your
//!   [`Server`](keycard_core::Server) and compiles the request paths; its `fetch`
//!   ([`respond`]) then answers every request: bearer verification against the zone's
//!   JWKS, OAuth discovery, MCP, and your tools with per-user delegated upstream tokens;
//! * [`serve`]: the same as an `async fn`, for a `#[event(fetch)]` of your own that
//!   routes some requests itself first;
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
//! fn app() -> Server {
//!     Server::new("my-server", env!("CARGO_PKG_VERSION")).tool(
//!         Tool::new("ping")
//!             .description("Answers pong.")
//!             .handler(|_ctx: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>("pong") }),
//!     )
//! }
//!
//! keycard_worker::entry!(app);
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
#[cfg(any(target_arch = "wasm32", test))]
mod lines;
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
pub use serve::{respond, serve};
#[cfg(target_arch = "wasm32")]
pub use session::{DurableSessionStore, McpSession};
#[cfg(target_arch = "wasm32")]
pub use warm_up::warm_up;

/// What [`entry!`] expands to refers to these, so your crate needs no direct dependency
/// on them. Not an API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    pub use wasm_bindgen;
    pub use web_sys;
    pub use worker;
}

/// Your Worker's entry, in one line: `keycard_worker::entry!(app);` with `app` your
/// `fn() -> Server`.
///
/// It exports the two functions workerd calls:
///
/// * script startup: [`warm_up`]`(app)`, which compiles the request paths before the first
///   request (so your crate must not have an `#[event(start)]` of its own);
/// * `fetch`: [`respond`]`(req, env, ctx, app)`, which answers without a future when the
///   request needs no await (metadata, preflight, a refused token's 401) and with a `Promise`
///   otherwise.
///
/// ```ignore
/// use keycard_worker::core::Server;
///
/// fn app() -> Server {
///     Server::new("my-server", env!("CARGO_PKG_VERSION"))
/// }
///
/// keycard_worker::entry!(app);
/// ```
///
/// `app` is an expression evaluated where it is used (a function's name is the usual
/// argument): [`warm_up`] calls it for the real gateway and for its stand-in, and
/// [`respond`] on a request that finds no gateway built yet.
///
/// To route some requests yourself first, write `#[event(fetch)]` and call [`serve`]
/// (and [`warm_up`] from `#[event(start)]`) instead.
#[macro_export]
macro_rules! entry {
    ($app:expr $(,)?) => {
        const _: () = {
            use $crate::__private::wasm_bindgen;

            #[wasm_bindgen::prelude::wasm_bindgen(start)]
            fn __keycard_worker_start() {
                $crate::warm_up($app);
            }

            #[wasm_bindgen::prelude::wasm_bindgen]
            pub fn fetch(
                req: $crate::__private::web_sys::Request,
                env: $crate::__private::worker::Env,
                ctx: $crate::__private::worker::worker_sys::Context,
            ) -> wasm_bindgen::JsValue {
                $crate::respond(req, env, $crate::__private::worker::Context::new(ctx), $app)
            }
        };
    };
}
