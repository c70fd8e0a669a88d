//! [`Server`]: your MCP server — its name, version and instructions, and what it offers
//! (tools today; resources and prompts join them here). Hand it to
//! [`crate::Gateway::new`] (the emulator and the wasm host do that for you).
//!
//! ```
//! use keycard_core::Server;
//! use keycard_core::tools::builtin::{github_user, whoami};
//!
//! let server = Server::new("my-server", "1.0.0")
//!     .instructions("Tools that act as the signed-in user.")
//!     .tool(whoami())
//!     .tool(github_user());
//! assert_eq!(server.tools().names(), "whoami, github_user");
//! ```

use crate::tools::{Tool, ToolRegistry};

/// An MCP server's identity and offerings.
#[derive(Debug, Clone)]
#[must_use]
pub struct Server {
    name: String,
    version: String,
    title: Option<String>,
    instructions: Option<String>,
    tools: ToolRegistry,
}

impl Server {
    /// A server called `name` (`serverInfo.name`) at `version`, offering nothing yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            title: None,
            instructions: None,
            tools: ToolRegistry::new(),
        }
    }

    /// The built-in demo server: `whoami` and `github_user` (what `cargo run -p emulator`
    /// and the repository's own Worker serve).
    pub fn demo() -> Self {
        Self::new("keycard-mcp-worker", env!("CARGO_PKG_VERSION"))
            .tool(crate::tools::builtin::whoami())
            .tool(crate::tools::builtin::github_user())
    }

    /// A display title (`serverInfo.title`, 2025-06-18 and later); defaults to
    /// `KEYCARD_RESOURCE_NAME`.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Instructions for the model (`instructions`); a summary of the tools by default.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Adds a tool (one with the same name is replaced).
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.insert(tool);
        self
    }

    /// Adds several tools.
    pub fn tools_from(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        for tool in tools {
            self.tools.insert(tool);
        }
        self
    }

    /// `serverInfo.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `serverInfo.version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The display title, if set.
    pub fn title_text(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The instructions, if set.
    pub fn instructions_text(&self) -> Option<&str> {
        self.instructions.as_deref()
    }

    /// The tools.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }
}
