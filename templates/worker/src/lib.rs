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
        .tool(greet())
        .tool(profile())
}

/// `greet`'s arguments: the input schema is derived from this type.
#[derive(Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Whom to greet.
    pub name: String,
}

/// A plain typed tool: no upstream, just the verified caller.
pub fn greet() -> Tool {
    Tool::new("greet")
        .description("Greets someone, signed by the caller's Keycard identity.")
        .read_only()
        .handler(|ctx: ToolContext, args: GreetArgs| async move {
            let me = ctx.identity().subject().unwrap_or("a service client");
            Ok::<_, ToolError>(format!("Hello, {}! (from {me})", args.name))
        })
}

/// `profile`'s result: the output schema is derived from this type, and the value is
/// returned as `structuredContent`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    /// The upstream account's login.
    pub login: String,
}

/// A delegated tool: calls the upstream API (`KEYCARD_RESOURCE_URL`) with a token
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
#[cfg(target_arch = "wasm32")]
keycard_worker::entry!(app);
