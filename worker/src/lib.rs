//! This repository's Worker, written as any user of `keycard-worker` writes theirs: the
//! tools (here the built-in demo tools and `count`, which shows logging and progress
//! during a call), and the one-line entry (`keycard_worker::entry!`).
//!
//! `whoami` and `github_user` need only the seed configuration (`KEYCARD_RESOURCE_URL`).
//! `my_day` calls two upstreams, `github` and `calendar`; it is offered where both are
//! configured (`KEYCARD_UPSTREAMS`, or a zone's `upstreams`) and left out elsewhere.
#![cfg(target_arch = "wasm32")]

use keycard_worker::Vars;
use keycard_worker::core::Server;
use keycard_worker::core::tools::builtin::{github_user, my_day, whoami};
use keycard_worker::core::tools::{LogLevel, NoArgs, Tool, ToolContext, ToolError};

/// The MCP server: its name, version and tools, built with the Worker's own settings
/// (`DEMO_COUNT_TO`, read by `count`).
fn app(vars: &Vars) -> Server {
    let count_to = vars
        .get("DEMO_COUNT_TO")
        .and_then(|n| n.trim().parse().ok())
        .filter(|n| (1..=20).contains(n))
        .unwrap_or(3);
    Server::new("keycard-mcp-worker", env!("CARGO_PKG_VERSION"))
        .tool(whoami())
        .tool(github_user())
        .tool(count(count_to))
        .tool_if_configured(my_day())
}

/// Counts to `to` (the `DEMO_COUNT_TO` setting, 1 to 20, default 3), logging each step and
/// reporting progress: the client sees them while the call runs (on the SSE answer to the
/// call, when it accepts `text/event-stream`).
fn count(to: u8) -> Tool {
    Tool::new("count")
        .description("Counts to three (or DEMO_COUNT_TO), sending a log message and a progress notification per step.")
        .read_only()
        .handler(move |ctx: ToolContext, _: NoArgs| async move {
            let mut counted = Vec::new();
            for step in 1..=to {
                ctx.log(LogLevel::Info, format!("step {step} of {to}"));
                ctx.progress(f64::from(step), Some(f64::from(to)), Some(&format!("counted {step}")));
                counted.push(step.to_string());
            }
            Ok::<_, ToolError>(counted.join(", "))
        })
}

// Script startup (the warm-up) and the `fetch` handler, both for `app`.
keycard_worker::entry!(app);
