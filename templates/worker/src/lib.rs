//! {{project-name}}: a Keycard-protected MCP server on Cloudflare Workers.
//!
//! [`app`] is the server: its name, version and tools. The `keycard_worker::entry!` at the
//! bottom hands every request to `keycard_worker::respond`, which verifies the caller's
//! Keycard token and runs your tools for them.

use keycard_worker::core::Server;
use keycard_worker::core::tools::{Json, Tool, ToolContext, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The MCP server: add your tools here.
pub fn app() -> Server {
    Server::new("{{project-name}}", env!("CARGO_PKG_VERSION"))
        .tool(greet_tool())
        .tool(profile())
}

/// `greet`'s arguments: the input schema is derived from this type.
#[derive(Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Whom to greet.
    pub name: String,
}

// A plain typed tool, written as one function: `#[keycard_worker::tool]` takes the tool's
// name from the function, its description from the doc comment and its input schema from
// `GreetArgs`, and generates `greet_tool()`, the `Tool` that `app` serves.
/// Greets someone, signed by the caller's Keycard identity.
#[keycard_worker::tool(read_only)]
pub async fn greet(ctx: ToolContext, args: GreetArgs) -> Result<String, ToolError> {
    let me = ctx.identity().subject().unwrap_or("a service client");
    Ok(format!("Hello, {}! (from {me})", args.name))
}

/// `profile`'s result: the output schema is derived from this type, and the value is
/// returned as `structuredContent`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    /// The upstream account's login.
    pub login: String,
}

/// A delegated tool, written with the builder (the same `Tool` the attribute generates):
/// calls the upstream API (`KEYCARD_RESOURCE_URL`) with a token
/// Keycard issued for the caller. No token is handled here, and none can be: the
/// context only acts for the user who called.
pub fn profile() -> Tool {
    Tool::new("profile")
        .description("Your profile at the upstream API, fetched on your behalf.")
        .read_only()
        .upstream("default")
        .handler(|ctx: ToolContext, _: keycard_worker::core::tools::NoArgs| async move {
            let me: Profile = ctx.default_upstream().get_json("/user").await?;
            Ok::<_, ToolError>(Json(me))
        })
}

// The Worker's entry: at script startup it builds the gateway and compiles the request
// paths (so the first request costs about what a warm one does); every request then goes
// to `keycard_worker::respond` with [`app`], which verifies the caller's Keycard token and
// runs your tools for them.
// (On a native target, for `cargo test`, it exports nothing.)
keycard_worker::entry!(app);
