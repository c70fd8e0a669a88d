//! [`Server`]: your MCP server — its name, version and instructions, and what it offers:
//! [tools](crate::tools), [resources](crate::resources) and [prompts](crate::prompts). Hand it to
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
//!
//! Resources and prompts are registered the same way; the capabilities the server
//! declares (`resources`, `prompts`, `completions`) follow what is registered:
//!
//! ```
//! use keycard_core::Server;
//! use keycard_core::prompts::Prompt;
//! use keycard_core::resources::Resource;
//! use keycard_core::tools::{NoArgs, ToolContext, ToolError};
//!
//! let server = Server::new("my-server", "1.0.0")
//!     .resource(
//!         Resource::new("config://app")
//!             .name("app-config")
//!             .mime_type("application/json")
//!             .handler(|_ctx: ToolContext| async move {
//!                 Ok::<_, ToolError>(serde_json::json!({ "theme": "dark" }))
//!             }),
//!     )
//!     .prompt(
//!         Prompt::new("greeting")
//!             .description("Greets the signed-in user.")
//!             .handler(|ctx: ToolContext, _args: NoArgs| async move {
//!                 let who = ctx.identity().subject().unwrap_or("there").to_owned();
//!                 Ok::<_, ToolError>(format!("Say hello to {who}."))
//!             }),
//!     );
//! assert!(server.has_resources() && server.has_prompts() && !server.has_completions());
//! ```

use crate::prompts::Prompt;
use crate::resources::{Resource, ResourceTemplate};
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
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
    /// Tools added with [`Server::tool_if_configured`]: offered only in the zones that
    /// configure every upstream they declare.
    conditional: Vec<String>,
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
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            conditional: Vec::new(),
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

    /// Adds a tool (one with the same name is replaced). Every upstream it declares
    /// must be configured: otherwise the gateway does not start (a configuration error
    /// naming the tool and the missing upstream).
    pub fn tool(mut self, tool: Tool) -> Self {
        let name = &tool.definition().name;
        self.conditional.retain(|n| n != name);
        self.tools.insert(tool);
        self
    }

    /// Adds a tool that is offered only where every upstream it declares is configured
    /// (one with the same name is replaced). In a zone that lacks one of them, the tool is
    /// left out — `tools/list` does not show it, a call is an unknown tool — instead of
    /// being a configuration error; a log line at startup says which upstream is missing.
    /// For optional features, e.g. `my_day`, which needs a `calendar` upstream that
    /// not every deployment has.
    pub fn tool_if_configured(mut self, tool: Tool) -> Self {
        let name = tool.definition().name.clone();
        self.tools.insert(tool);
        if !self.conditional.contains(&name) {
            self.conditional.push(name);
        }
        self
    }

    /// This server as offered where `configured(name)` tells which upstreams exist: the
    /// [`Server::tool_if_configured`] tools missing an upstream are removed, each
    /// reported as `(tool, missing upstream)`.
    pub(crate) fn offered_where(
        &self,
        configured: impl Fn(&str) -> bool,
    ) -> (Self, Vec<(String, String)>) {
        let mut server = self.clone();
        let mut left_out = Vec::new();
        server.tools.retain(|tool| {
            let def = tool.definition();
            if !self.conditional.contains(&def.name) {
                return true;
            }
            match def.upstreams.iter().find(|u| !configured(u)) {
                Some(missing) => {
                    left_out.push((def.name.clone(), missing.clone()));
                    false
                }
                None => true,
            }
        });
        server.conditional.clear();
        (server, left_out)
    }

    /// Adds several tools.
    pub fn tools_from(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        for tool in tools {
            self = self.tool(tool);
        }
        self
    }

    /// Adds a resource (one with the same URI is replaced).
    pub fn resource(mut self, resource: Resource) -> Self {
        match self
            .resources
            .iter_mut()
            .find(|r| r.uri() == resource.uri())
        {
            Some(slot) => *slot = resource,
            None => self.resources.push(resource),
        }
        self
    }

    /// Adds a resource template (one with the same template is replaced). Templates are
    /// tried in registration order, after the static resources.
    pub fn resource_template(mut self, template: ResourceTemplate) -> Self {
        match self
            .templates
            .iter_mut()
            .find(|t| t.uri_template() == template.uri_template())
        {
            Some(slot) => *slot = template,
            None => self.templates.push(template),
        }
        self
    }

    /// Adds a prompt (one with the same name is replaced).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        match self.prompts.iter_mut().find(|p| p.name() == prompt.name()) {
            Some(slot) => *slot = prompt,
            None => self.prompts.push(prompt),
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

    /// The static resources, in registration order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resource templates, in registration order.
    pub fn resource_templates(&self) -> &[ResourceTemplate] {
        &self.templates
    }

    /// The prompts, in registration order.
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }

    /// Whether any resource or template is registered (the `resources` capability).
    pub fn has_resources(&self) -> bool {
        !self.resources.is_empty() || !self.templates.is_empty()
    }

    /// Whether any prompt is registered (the `prompts` capability).
    pub fn has_prompts(&self) -> bool {
        !self.prompts.is_empty()
    }

    /// Whether any prompt or template has a completer (the `completions` capability).
    pub fn has_completions(&self) -> bool {
        self.prompts.iter().any(Prompt::has_completer)
            || self.templates.iter().any(ResourceTemplate::has_completer)
    }
}
