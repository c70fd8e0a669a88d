//! This repository's Worker, written as any user of `keycard-worker` writes theirs: the
//! tools (here the built-in demo tools), the `#[event(fetch)]` entry and the
//! `#[event(start)]` warm-up.
//!
//! `whoami` and `github_user` need only the seed configuration (`KEYCARD_RESOURCE_URL`).
//! `my_day` calls two upstreams, `github` and `calendar`; it is offered where both are
//! configured (`KEYCARD_UPSTREAMS`, or a zone's `upstreams`) and left out elsewhere.
#![cfg(target_arch = "wasm32")]

use keycard_worker::core::Server;
use keycard_worker::core::tools::builtin::{github_user, my_day, whoami};
use worker::{Context, Env, Result, event};

/// The MCP server: its name, version and tools.
fn app() -> Server {
    Server::new("keycard-mcp-worker", env!("CARGO_PKG_VERSION"))
        .tool(whoami())
        .tool(github_user())
        .tool_if_configured(my_day())
}

/// Script startup: compiles the request paths before the first request arrives.
#[event(start)]
fn start() {
    keycard_worker::warm_up(app);
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    keycard_worker::serve(req, env, ctx, app).await
}
