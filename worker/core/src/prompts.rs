//! Prompts: message templates a user picks and fills in (`prompts/list`, `prompts/get`).
//!
//! A prompt is one async function of the caller's [`ToolContext`] and typed arguments,
//! like a tool. Its argument list (`name`, `description`, `required`) is derived from the
//! arguments type's JSON Schema (`#[derive(Deserialize, JsonSchema)]`; doc comments
//! become descriptions, non-`Option` fields are required). Prompt arguments are strings
//! on the wire, so the fields should be `String`s. A missing required argument is a
//! -32602 error naming it, before the handler runs.
//!
//! ```
//! use keycard_core::Server;
//! use keycard_core::prompts::{Prompt, PromptMessage};
//! use keycard_core::tools::{ToolContext, ToolError};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct ReviewArgs {
//!     /// The code to review.
//!     code: String,
//!     /// Focus of the review, e.g. "security".
//!     focus: Option<String>,
//! }
//!
//! let server = Server::new("reviews", "1.0.0").prompt(
//!     Prompt::new("review")
//!         .description("Asks for a code review.")
//!         .complete(|_ctx, request| async move {
//!             let all = ["security", "performance", "style"];
//!             Ok(all.iter().filter(|v| v.starts_with(&request.value)).map(|v| v.to_string()).collect())
//!         })
//!         .handler(|_ctx: ToolContext, args: ReviewArgs| async move {
//!             let focus = args.focus.unwrap_or_else(|| "correctness".into());
//!             Ok::<_, ToolError>(vec![PromptMessage::user(format!(
//!                 "Review this code for {focus}:\n\n{}",
//!                 args.code
//!             ))])
//!         }),
//! );
//! assert!(server.has_prompts() && server.has_completions());
//! ```

use std::future::Future;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::completion::{self, CompleteFn, CompletionRequest};
use crate::mcp::version::ProtocolVersion;
use crate::ports::BoxFuture;
use crate::tools::{Content, Role, ToolContext, ToolError, schema};

/// One message of a prompt: who says it and what (text, image, audio, embedded resource
/// or — from 2025-06-18 — a resource link).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptMessage {
    /// The speaker.
    pub role: Role,
    /// The content block.
    pub content: Content,
}

impl PromptMessage {
    /// A message from the user.
    pub fn user(content: impl Into<Content>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// A message from the assistant.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }

    /// The JSON form in `version`.
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        json!({ "role": self.role.as_str(), "content": self.content.to_json(version) })
    }
}

/// A `prompts/get` result: an optional description and the messages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptOutput {
    /// A description of this rendering of the prompt.
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
}

impl PromptOutput {
    /// The JSON form in `version`.
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        let mut out = Map::new();
        if let Some(d) = &self.description {
            out.insert("description".into(), d.clone().into());
        }
        let messages: Vec<Value> = self.messages.iter().map(|m| m.to_json(version)).collect();
        out.insert("messages".into(), messages.into());
        Value::Object(out)
    }
}

/// What a prompt handler may return: a [`PromptOutput`], messages, or text (one user
/// message).
pub trait IntoPromptOutput {
    /// The output.
    fn into_prompt_output(self) -> PromptOutput;
}

impl IntoPromptOutput for PromptOutput {
    fn into_prompt_output(self) -> PromptOutput {
        self
    }
}

impl IntoPromptOutput for Vec<PromptMessage> {
    fn into_prompt_output(self) -> PromptOutput {
        PromptOutput {
            description: None,
            messages: self,
        }
    }
}

impl IntoPromptOutput for PromptMessage {
    fn into_prompt_output(self) -> PromptOutput {
        vec![self].into_prompt_output()
    }
}

impl IntoPromptOutput for String {
    fn into_prompt_output(self) -> PromptOutput {
        PromptMessage::user(self).into_prompt_output()
    }
}

impl IntoPromptOutput for &'static str {
    fn into_prompt_output(self) -> PromptOutput {
        PromptMessage::user(self).into_prompt_output()
    }
}

/// One declared argument (derived from the arguments type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
    /// Whether it must be given.
    pub required: bool,
}

impl PromptArgument {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.clone().into());
        if let Some(d) = &self.description {
            out.insert("description".into(), d.clone().into());
        }
        out.insert("required".into(), self.required.into());
        Value::Object(out)
    }
}

/// The arguments a JSON Schema declares: its properties, in order, with their
/// descriptions and whether `required` lists them.
pub fn arguments_from_schema(schema: &Value) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| PromptArgument {
                    name: name.clone(),
                    description: p
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    required: required.contains(&name.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Why a prompt could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The arguments are wrong (a missing required one, an unknown one): -32602.
    #[error("{0}")]
    InvalidArguments(String),
    /// The handler failed (-32603, with this message).
    #[error("{0}")]
    Failed(String),
}

type GetFn = dyn Fn(ToolContext, Map<String, Value>) -> BoxFuture<'static, Result<PromptOutput, ToolError>>
    + Send
    + Sync;

struct Definition {
    name: String,
    title: Option<String>,
    description: Option<String>,
    schema: fn() -> Value,
    cell: OnceLock<(Value, Vec<PromptArgument>)>,
}

impl Definition {
    fn derived(&self) -> &(Value, Vec<PromptArgument>) {
        self.cell.get_or_init(|| {
            let schema = (self.schema)();
            let args = arguments_from_schema(&schema);
            (schema, args)
        })
    }
}

/// A registered prompt. Cheap to clone.
#[derive(Clone)]
pub struct Prompt {
    definition: Arc<Definition>,
    get: Arc<GetFn>,
    completer: Option<Arc<CompleteFn>>,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.definition.name)
            .finish_non_exhaustive()
    }
}

/// A prompt being described; finished by [`PromptBuilder::handler`].
#[must_use]
pub struct PromptBuilder {
    name: String,
    title: Option<String>,
    description: Option<String>,
    completer: Option<Arc<CompleteFn>>,
}

impl std::fmt::Debug for PromptBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Prompt {
    /// Starts the prompt `name`; finish with [`PromptBuilder::handler`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> PromptBuilder {
        PromptBuilder {
            name: name.into(),
            title: None,
            description: None,
            completer: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// Its arguments, derived from the arguments type.
    pub fn arguments(&self) -> &[PromptArgument] {
        &self.definition.derived().1
    }

    /// Whether it has a completer.
    pub fn has_completer(&self) -> bool {
        self.completer.is_some()
    }

    /// The `prompts/list` entry in `version`.
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        let def = &self.definition;
        let mut out = Map::new();
        out.insert("name".into(), def.name.clone().into());
        if version.has_titles()
            && let Some(t) = &def.title
        {
            out.insert("title".into(), t.clone().into());
        }
        if let Some(d) = &def.description {
            out.insert("description".into(), d.clone().into());
        }
        let args: Vec<Value> = self
            .arguments()
            .iter()
            .map(PromptArgument::to_json)
            .collect();
        if !args.is_empty() {
            out.insert("arguments".into(), args.into());
        }
        Value::Object(out)
    }

    /// Renders it for the caller in `ctx` with `arguments` (checked against the derived
    /// schema first: a missing required argument is [`PromptError::InvalidArguments`]).
    pub async fn get(
        &self,
        ctx: ToolContext,
        arguments: Map<String, Value>,
    ) -> Result<PromptOutput, PromptError> {
        let name = &self.definition.name;
        let schema = &self.definition.derived().0;
        if let Err(e) = schema::check_arguments(schema, &arguments) {
            return Err(PromptError::InvalidArguments(format!(
                "invalid arguments for prompt `{name}`: {e}"
            )));
        }
        match (self.get)(ctx, arguments).await {
            Ok(output) => Ok(output),
            Err(ToolError::InvalidArguments { reason, .. }) => Err(PromptError::InvalidArguments(
                format!("invalid arguments for prompt `{name}`: {reason}"),
            )),
            Err(e) => Err(PromptError::Failed(e.to_string())),
        }
    }

    /// Completes one of its arguments (no completer: no values).
    pub async fn complete(
        &self,
        ctx: ToolContext,
        request: CompletionRequest,
    ) -> Result<Vec<String>, ToolError> {
        match &self.completer {
            Some(c) => c(ctx, request).await,
            None => Ok(Vec::new()),
        }
    }
}

impl PromptBuilder {
    /// A display title (sent from protocol 2025-06-18 on).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// What the prompt is for.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Suggests values for an argument (`completion/complete` with a `ref/prompt`
    /// naming this prompt).
    pub fn complete<F, Fut>(mut self, completer: F) -> Self
    where
        F: Fn(ToolContext, CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>, ToolError>> + Send + 'static,
    {
        self.completer = Some(completion::boxed(completer));
        self
    }

    /// Finishes the prompt with a typed async handler: `A` are its arguments
    /// (deserialized; their JSON Schema declares the prompt's arguments), `R` its output.
    pub fn handler<F, Fut, A, R>(self, handler: F) -> Prompt
    where
        F: Fn(ToolContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
        A: DeserializeOwned + schemars::JsonSchema + 'static,
        R: IntoPromptOutput + 'static,
    {
        let get: Arc<GetFn> = Arc::new(move |ctx, args| {
            let args = match serde_json::from_value::<A>(Value::Object(args)) {
                Ok(args) => args,
                Err(e) => {
                    return Box::pin(std::future::ready(Err(ToolError::InvalidArguments {
                        tool: String::new(),
                        reason: e.to_string(),
                    })));
                }
            };
            let future = handler(ctx, args);
            Box::pin(async move { future.await.map(IntoPromptOutput::into_prompt_output) })
        });
        Prompt {
            definition: Arc::new(Definition {
                name: self.name,
                title: self.title,
                description: self.description,
                schema: schema::input_schema_for::<A>,
                cell: OnceLock::new(),
            }),
            get,
            completer: self.completer,
        }
    }
}

#[cfg(test)]
mod tests;
