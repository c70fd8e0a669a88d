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
//! ```
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
//! On a native target the crate holds only [`core`], [`tool`], [`App`], [`Vars`] and
//! [`entry!`] (which then exports nothing), so a Worker crate's native `cargo test` runs
//! its tools without building the Workers runtime; the rest exists on
//! `wasm32-unknown-unknown`, where this repository's `worker/` crate and the project the
//! template generates compile it.

pub use keycard_core as core;

/// A typed MCP tool from an async fn: `#[keycard_worker::tool]`, the `keycard-macros`
/// attribute whose code names [`core`] through this crate, so a Worker needs no other
/// dependency for it. Its options are `tool`'s (`name`, `description`, `title`,
/// `read_only`, `upstream`). The tool's name is the fn's, its description the doc comment,
/// its input schema the arguments type's; `<fn>_tool()` builds the [`core::tools::Tool`].
///
/// ```
/// use keycard_worker::core::tools::{ToolContext, ToolError};
///
/// /// Who is calling.
/// #[keycard_worker::tool(read_only)]
/// async fn whoami(ctx: ToolContext) -> Result<String, ToolError> {
///     Ok(ctx.identity().subject().unwrap_or("a service client").to_owned())
/// }
///
/// fn app() -> keycard_worker::core::Server {
///     keycard_worker::core::Server::new("my-server", "1.0.0").tool(whoami_tool())
/// }
/// # assert_eq!(whoami_tool().definition().name, "whoami");
/// # let _ = app();
/// ```
pub use keycard_macros::worker_tool as tool;

mod app;
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

pub use app::{App, Vars};
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
/// `fn() -> Server`, or a `fn(&Vars) -> Server` that reads settings of its own ([`Vars`]).
///
/// It exports the two functions workerd calls:
///
/// * script startup: [`warm_up`]`(app)`, which compiles the request paths before the first
///   request (so your crate must not have an `#[event(start)]` of its own);
/// * `fetch`: [`respond`]`(req, env, ctx, app)`, which answers without a future when the
///   request needs no await (metadata, preflight, a refused token's 401) and with a `Promise`
///   otherwise.
///
/// ```
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
///
/// On a target other than wasm32 (your crate's native `cargo test`) it exports nothing and
/// only checks that `app` is an [`App`] (a `fn() -> Server` or `fn(&Vars) -> Server`), so
/// the line needs no `#[cfg]`:
///
/// ```compile_fail,E0277
/// fn app() -> u32 {
///     1
/// }
///
/// keycard_worker::entry!(app); // error: `app` does not return a `Server`
/// ```
#[macro_export]
macro_rules! entry {
    ($app:expr $(,)?) => {
        #[cfg(not(target_arch = "wasm32"))]
        // Never called: it only makes the compiler check `app` (and count it as used).
        const _: fn() = || {
            fn app_builds_a_server<M, A: $crate::App<M>>(_: &A) {}
            app_builds_a_server(&$app);
        };

        #[cfg(target_arch = "wasm32")]
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
