//! The tool API: what a user of this template implements to add a tool.
//!
//! OWNER: MCP helper (H2). Interface fixed; implementation pending.

/// The tools an [`crate::mcp::McpServer`] exposes.
#[derive(Default)]
pub struct ToolRegistry {}

impl ToolRegistry {
    /// The built-in tools (`whoami`, `github_user`).
    pub fn with_defaults() -> Self {
        Self {}
    }
}
