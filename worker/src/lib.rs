//! This repository's Worker, written as any user of `keycard-worker` writes theirs: the
//! tools (here the two built-in demo tools), the `#[event(fetch)]` entry and the
//! `#[event(start)]` warm-up.
#![cfg(target_arch = "wasm32")]

use keycard_worker::core::Server;
use keycard_worker::core::tools::builtin::{github_user, whoami};
use worker::{Context, Env, Result, event};

/// The MCP server: its name, version and tools.
fn app() -> Server {
    Server::new("keycard-mcp-worker", env!("CARGO_PKG_VERSION"))
        .tool(whoami())
        .tool(github_user())
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
