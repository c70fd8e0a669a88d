//! This repository's Worker, written as any user of `keycard-worker` writes theirs: the
//! tools (here the built-in demo tools and `count`, which shows logging and progress
//! during a call), and the one-line entry (`keycard_worker::entry!`).
//!
//! `whoami` and `github_user` need only the seed configuration (`KEYCARD_RESOURCE_URL`).
//! `my_day` calls two upstreams, `github` and `calendar`; it is offered where both are
//! configured (`KEYCARD_UPSTREAMS`, or a zone's `upstreams`) and left out elsewhere.
#![cfg(target_arch = "wasm32")]

use keycard_worker::core::Server;
use keycard_worker::core::tools::builtin::{github_user, my_day, whoami};
use keycard_worker::core::tools::{LogLevel, NoArgs, Tool, ToolContext, ToolError};

/// The MCP server: its name, version and tools.
fn app() -> Server {
    Server::new("keycard-mcp-worker", env!("CARGO_PKG_VERSION"))
        .tool(whoami())
        .tool(github_user())
        .tool(count())
        .tool_if_configured(my_day())
}

/// Counts to three, logging each step and reporting progress: the client sees them while
/// the call runs (on the SSE answer to the call, when it accepts `text/event-stream`).
fn count() -> Tool {
    Tool::new("count")
        .description("Counts to three, sending a log message and a progress notification per step.")
        .read_only()
        .handler(|ctx: ToolContext, _: NoArgs| async move {
            for step in 1..=3u8 {
                ctx.log(LogLevel::Info, format!("step {step} of 3"));
                ctx.progress(f64::from(step), Some(3.0), Some(&format!("counted {step}")));
            }
            Ok::<_, ToolError>("1, 2, 3")
        })
}

// Script startup (the warm-up) and the `fetch` handler, both for `app`.
keycard_worker::entry!(app);
