//! The tool API: what a user of this template implements to add a tool.
//!
//! A tool is a type implementing [`Tool`]: a name, a description, a JSON schema for its
//! arguments, and an async [`Tool::call`] that receives a [`ToolContext`] — the verified
//! caller ([`crate::Identity`]) and the handle to delegated upstream tokens
//! ([`crate::delegation::Delegated`]) — and returns a [`ToolOutput`]. Register it in one
//! place, the [`ToolRegistry`] handed to [`crate::Gateway::new`]:
//!
//! ```
//! use keycard_core::ports::BoxFuture;
//! use keycard_core::tools::{Tool, ToolContext, ToolOutput, ToolRegistry};
//! use serde_json::{Map, Value, json};
//!
//! /// Greets the signed-in user.
//! struct Greet;
//!
//! impl Tool for Greet {
//!     fn name(&self) -> &str {
//!         "greet"
//!     }
//!     fn description(&self) -> &str {
//!         "Says hello to the caller, optionally in a given language."
//!     }
//!     fn input_schema(&self) -> Value {
//!         json!({
//!             "type": "object",
//!             "properties": { "language": { "type": "string", "enum": ["en", "fr"] } },
//!             "additionalProperties": false
//!         })
//!     }
//!     fn call<'a>(&'a self, ctx: ToolContext<'a>, args: Map<String, Value>) -> BoxFuture<'a, ToolOutput> {
//!         Box::pin(async move {
//!             // Arguments were already checked against `input_schema`.
//!             let hello = match args.get("language").and_then(Value::as_str) {
//!                 Some("fr") => "Bonjour",
//!                 _ => "Hello",
//!             };
//!             let who = ctx.identity().subject.as_deref().unwrap_or("service client");
//!             ToolOutput::text(format!("{hello}, {who}!"))
//!         })
//!     }
//! }
//!
//! let tools = ToolRegistry::with_defaults().with(Greet);
//! assert!(tools.get("greet").is_some());
//! assert!(tools.get("whoami").is_some());
//! ```
//!
//! A tool that calls the upstream API on the user's behalf builds an `http::Request` and
//! hands it to [`ToolContext::delegated`]`().fetch(identity, request)`: the token exchange,
//! the isolate-safe cache and the retry on 401 happen there; the tool never sees a token.
//! See [`github_user`] for a complete example with error mapping.
//!
//! Failures a model can act on (bad arguments, upstream errors) are results with
//! `isError: true` ([`ToolOutput::error`], or `ToolError` converted with `.into()`), not
//! protocol errors.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::auth::identity::Identity;
use crate::delegation::{Delegated, DelegationError};
use crate::ports::BoxFuture;

#[cfg(test)]
pub(crate) mod fake;
pub mod github_user;
pub mod schema;
#[cfg(test)]
mod tests;
pub mod whoami;

pub use github_user::GithubUser;
pub use whoami::Whoami;

/// One MCP tool. Object-safe: the registry stores `Arc<dyn Tool>`.
pub trait Tool: Send + Sync {
    /// Unique name (1–128 characters of `A-Za-z0-9_-.`), e.g. `"whoami"`.
    fn name(&self) -> &str;

    /// Human-readable display name (sent to clients from protocol 2025-06-18 on).
    fn title(&self) -> Option<&str> {
        None
    }

    /// What the tool does, for the model choosing tools.
    fn description(&self) -> &str;

    /// JSON Schema of the arguments object. Before [`Tool::call`] runs, `required`
    /// properties, primitive `type`s, `enum`s and `additionalProperties: false` are
    /// checked (see [`schema::check_arguments`]); anything richer is the tool's job.
    fn input_schema(&self) -> Value;

    /// JSON Schema of `structuredContent`, when the tool returns structured output.
    fn output_schema(&self) -> Option<Value> {
        None
    }

    /// Behaviour hints for clients (untrusted by them, advisory only).
    fn annotations(&self) -> Option<ToolAnnotations> {
        None
    }

    /// Runs the tool for the verified caller in `ctx` with validated `args`.
    fn call<'a>(
        &'a self,
        ctx: ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, ToolOutput>;
}

/// MCP tool annotations (all optional hints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// A display title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not modify its environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may perform destructive updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Repeating a call with the same arguments has no additional effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool talks to an open world of external entities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// What a tool receives besides its arguments.
#[derive(Clone, Copy)]
pub struct ToolContext<'a> {
    identity: &'a Identity,
    delegated: &'a dyn Delegated,
}

impl std::fmt::Debug for ToolContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("identity", self.identity)
            .finish_non_exhaustive()
    }
}

impl<'a> ToolContext<'a> {
    /// A context for `identity` (e.g. to unit-test a tool with a fake [`Delegated`]).
    pub fn new(identity: &'a Identity, delegated: &'a dyn Delegated) -> Self {
        Self {
            identity,
            delegated,
        }
    }

    /// The caller, as its bearer token proved (issuer, subject, client, scopes, expiry).
    pub fn identity(&self) -> &'a Identity {
        self.identity
    }

    /// The handle for calling the upstream API with a delegated token for the caller.
    pub fn delegated(&self) -> &'a dyn Delegated {
        self.delegated
    }
}

/// A tool's result: text content blocks, optional structured content, and whether it is
/// an error the model should see (`isError`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Text content blocks, in order.
    pub text: Vec<String>,
    /// `structuredContent` (must match the tool's output schema when it has one).
    pub structured: Option<Value>,
    /// `isError`.
    pub is_error: bool,
}

impl ToolOutput {
    /// A plain text result.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: vec![text.into()],
            structured: None,
            is_error: false,
        }
    }

    /// A structured result; its serialized JSON also goes in a text block, as the spec
    /// recommends for clients that do not read `structuredContent`.
    pub fn structured(value: Value) -> Self {
        Self {
            text: vec![serde_json::to_string(&value).unwrap_or_default()],
            structured: Some(value),
            is_error: false,
        }
    }

    /// Puts a short human summary before the other content blocks.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.text.insert(0, summary.into());
        self
    }

    /// A tool execution error (`isError: true`) with an actionable message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            text: vec![message.into()],
            structured: None,
            is_error: true,
        }
    }

    /// The MCP `CallToolResult` JSON. `structuredContent` is included only when
    /// `with_structured` (protocol 2025-06-18 and later).
    pub fn to_result(&self, with_structured: bool) -> Value {
        let content: Vec<Value> = self
            .text
            .iter()
            .map(|t| json!({ "type": "text", "text": t }))
            .collect();
        let mut result = Map::new();
        result.insert("content".into(), Value::Array(content));
        if with_structured && let Some(structured) = &self.structured {
            result.insert("structuredContent".into(), structured.clone());
        }
        result.insert("isError".into(), Value::Bool(self.is_error));
        Value::Object(result)
    }
}

/// Why a tool failed, in words the caller (a model or a person) can act on. Converts into
/// an `isError: true` [`ToolOutput`]. Never carries a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the input schema.
    #[error("invalid arguments for tool `{tool}`: {reason}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// What is wrong, precisely.
        reason: String,
    },
    /// No tool has this name.
    #[error("unknown tool `{name}`; available tools: {available}")]
    UnknownTool {
        /// The requested name.
        name: String,
        /// The registered names, comma separated.
        available: String,
    },
    /// Delegated upstream access failed (exchange refused, STS down, upstream error).
    #[error("{0}")]
    Delegation(String),
    /// Any other failure, with its explanation.
    #[error("{0}")]
    Failed(String),
}

impl From<ToolError> for ToolOutput {
    fn from(error: ToolError) -> Self {
        ToolOutput::error(error.to_string())
    }
}

impl From<DelegationError> for ToolError {
    fn from(error: DelegationError) -> Self {
        ToolError::Delegation(error.to_string())
    }
}

/// The tools an [`crate::mcp::McpServer`] exposes, in registration order.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| t.name().to_owned()))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in tools: [`Whoami`] and [`GithubUser`].
    pub fn with_defaults() -> Self {
        Self::new().with(Whoami).with(GithubUser)
    }

    /// Adds `tool`; a tool with the same name is replaced in place.
    pub fn with(mut self, tool: impl Tool + 'static) -> Self {
        self.insert(Arc::new(tool));
        self
    }

    /// Adds an already shared tool; a tool with the same name is replaced in place.
    pub fn insert(&mut self, tool: Arc<dyn Tool>) {
        match self.tools.iter_mut().find(|t| t.name() == tool.name()) {
            Some(slot) => *slot = tool,
            None => self.tools.push(tool),
        }
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        self.tools
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.as_ref())
    }

    /// Every tool, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Tool> {
        self.tools.iter().map(|t| t.as_ref())
    }

    /// The registered names, comma separated (for messages).
    pub fn names(&self) -> String {
        self.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Validates `args` against the tool's input schema, then calls it. Unknown tools and
    /// invalid arguments become `isError: true` outputs naming the problem.
    pub async fn call(
        &self,
        name: &str,
        ctx: ToolContext<'_>,
        args: Map<String, Value>,
    ) -> ToolOutput {
        let Some(tool) = self.get(name) else {
            return ToolError::UnknownTool {
                name: name.to_owned(),
                available: self.names(),
            }
            .into();
        };
        if let Err(e) = schema::check_arguments(&tool.input_schema(), &args) {
            return ToolError::InvalidArguments {
                tool: name.to_owned(),
                reason: e.to_string(),
            }
            .into();
        }
        tool.call(ctx, args).await
    }

    /// The tool's definition as `tools/list` lists it. `titles_and_output` adds `title`
    /// and `outputSchema` (protocol 2025-06-18 and later).
    pub fn describe(tool: &dyn Tool, titles_and_output: bool) -> Value {
        let mut def = Map::new();
        def.insert("name".into(), tool.name().into());
        if titles_and_output && let Some(title) = tool.title() {
            def.insert("title".into(), title.into());
        }
        def.insert("description".into(), tool.description().into());
        def.insert("inputSchema".into(), tool.input_schema());
        if titles_and_output && let Some(schema) = tool.output_schema() {
            def.insert("outputSchema".into(), schema);
        }
        if let Some(annotations) = tool.annotations()
            && let Ok(value) = serde_json::to_value(annotations)
        {
            def.insert("annotations".into(), value);
        }
        Value::Object(def)
    }
}
