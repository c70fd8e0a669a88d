//! The conformance suite's fixture server as a Worker: `conformance_server`'s tools,
//! resources, template and prompts, served by `keycard-worker` under workerd exactly as
//! any user's Worker serves theirs (`scripts/test.d/36-conformance-workerd`).
#![cfg(target_arch = "wasm32")]

use worker::{Context, Env, Result, event};

/// Script startup: compiles the request paths before the first request arrives.
#[event(start)]
fn start() {
    keycard_worker::warm_up(conformance_server::conformance_server);
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    keycard_worker::serve(req, env, ctx, conformance_server::conformance_server).await
}
