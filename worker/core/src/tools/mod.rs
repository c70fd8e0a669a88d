//! The tool API: what a server author writes.
//!
//! A tool is one async function of the verified caller's [`ToolContext`] and typed
//! arguments. The arguments are a Rust type (`#[derive(Deserialize, JsonSchema)]`): the
//! input schema is derived from it, arguments are checked against that schema and
//! deserialized before the handler runs, and the handler returns `Result<_, ToolError>`
//! so `?` works. Anything [`IntoToolOutput`] can be returned: text, [`Content`] blocks, a
//! whole [`ToolOutput`], or [`Json`] structured output whose output schema is derived too.
//!
//! ```
//! use keycard_core::tools::{Tool, ToolContext, ToolError};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct GreetArgs {
//!     /// Language of the greeting: "en" or "fr".
//!     language: Option<String>,
//! }
//!
//! let greet = Tool::new("greet")
//!     .description("Says hello to the signed-in user.")
//!     .handler(|ctx: ToolContext, args: GreetArgs| async move {
//!         let hello = match args.language.as_deref() {
//!             Some("fr") => "Bonjour",
//!             _ => "Hello",
//!         };
//!         let who = ctx.identity().subject().unwrap_or("service client");
//!         Ok::<_, ToolError>(format!("{hello}, {who}!"))
//!     });
//! assert_eq!(greet.definition().name, "greet");
//! ```
//!
//! The same tool is shorter with the `#[tool]` attribute of the
//! [`keycard-macros`](https://docs.rs/keycard-macros) crate: the name comes from the
//! function, the description from its doc comment, and `greet_tool()` is generated
//! (`#[tool(name = "…", title = "…", read_only, upstream = "github")]` set the rest; a
//! function taking only `ctx` has [`NoArgs`]):
//!
//! ```
//! # use keycard_core::Server;
//! # use keycard_core::tools::{ToolContext, ToolError};
//! # #[derive(serde::Deserialize, schemars::JsonSchema)]
//! # struct GreetArgs {}
//! /// Says hello to the signed-in user.
//! #[keycard_macros::tool(read_only)]
//! async fn greet(ctx: ToolContext, _args: GreetArgs) -> Result<String, ToolError> {
//!     Ok(format!("Hello, {}!", ctx.identity().subject().unwrap_or("service client")))
//! }
//!
//! let server = Server::new("my-server", "0.1.0").tool(greet_tool());
//! # let _ = server;
//! ```
//!
//! A tool that calls an upstream API on the user's behalf hands the request to
//! [`ToolContext::upstream`]: the token exchange, the isolate-safe cache and the retry on
//! 401 happen there, bound to the verified caller; the tool never sees a token and cannot
//! ask for another user's. See [`builtin::github_user()`] for a complete example.
//!
//! Failures a model can act on (bad arguments, upstream errors) are results with
//! `isError: true` (a [`ToolError`] becomes one), not protocol errors.
//!
//! Underneath, the registry stores [`Tool`]s: a [`ToolDefinition`] plus an object-safe
//! [`CallTool`] handler, which can also be implemented by hand.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::delegation::DelegationError;
use crate::mcp::elicitation::UrlElicitation;
use crate::ports::BoxFuture;

pub mod builtin;
mod content;
mod context;
pub mod input;
mod output;
pub mod schema;
#[cfg(test)]
mod tests;

pub use crate::mcp::notify::LogLevel;
pub use content::{Annotations, Content, ResourceContents, ResourceLink, Role};
#[cfg(any(test, feature = "testing"))]
pub use context::{FakeUpstream, TestContext};
pub use context::{ToolContext, Upstream};
pub use input::{Elicited, Sampled, SamplingRequest};
pub(crate) use input::{InputChannel, SessionLink, Stateless, ToClient};
pub use output::{IntoToolOutput, Json, ToolOutput};

/// The arguments of a tool that takes none: `{}` (any other member is refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// MCP tool annotations (all optional hints; clients treat them as untrusted).
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

/// A schema given as a value, or derived from a type on first use: when the gateway is
/// built (it checks that every schema is an object), so a `Tool` that is built and never
/// served (a unit test's) never generates its schemas.
struct LazySchema {
    derive: Option<fn() -> Option<Value>>,
    cell: OnceLock<Option<Value>>,
}

impl LazySchema {
    fn ready(value: Option<Value>) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        Self { derive: None, cell }
    }

    fn derived(derive: fn() -> Option<Value>) -> Self {
        Self {
            derive: Some(derive),
            cell: OnceLock::new(),
        }
    }

    fn get(&self) -> Option<&Value> {
        self.cell
            .get_or_init(|| self.derive.and_then(|f| f()))
            .as_ref()
    }
}

/// What `tools/list` says about a tool.
pub struct ToolDefinition {
    /// Unique name (1–128 characters of `A-Za-z0-9_-.`), e.g. `"whoami"`.
    pub name: String,
    /// Human-readable display name (sent from protocol 2025-06-18 on).
    pub title: Option<String>,
    /// What the tool does, for the model choosing tools.
    pub description: String,
    /// Behaviour hints.
    pub annotations: Option<ToolAnnotations>,
    /// Names of the upstreams the tool calls (checked against the configuration when the
    /// gateway is built).
    pub upstreams: Vec<String>,
    input_schema: LazySchema,
    output: LazySchema,
}

impl std::fmt::Debug for ToolDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDefinition")
            .field("name", &self.name)
            .field("title", &self.title)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

impl ToolDefinition {
    /// JSON Schema of the arguments object.
    pub fn input_schema(&self) -> &Value {
        static EMPTY: OnceLock<Value> = OnceLock::new();
        self.input_schema
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(|| json!({ "type": "object", "properties": {} })))
    }

    /// JSON Schema of `structuredContent`, if the tool returns structured output.
    pub fn output_schema(&self) -> Option<&Value> {
        self.output.get()
    }

    /// The definition as `tools/list` lists it. `titles_and_output` adds `title` and
    /// `outputSchema` (protocol 2025-06-18 and later).
    pub fn to_json(&self, titles_and_output: bool) -> Value {
        let mut def = Map::new();
        def.insert("name".into(), self.name.clone().into());
        if titles_and_output && let Some(title) = &self.title {
            def.insert("title".into(), title.clone().into());
        }
        def.insert("description".into(), self.description.clone().into());
        def.insert("inputSchema".into(), self.input_schema().clone());
        if titles_and_output && let Some(schema) = self.output_schema() {
            def.insert("outputSchema".into(), schema.clone());
        }
        if let Some(annotations) = &self.annotations
            && let Ok(value) = serde_json::to_value(annotations)
        {
            def.insert("annotations".into(), value);
        }
        Value::Object(def)
    }
}

/// A tool's handler, object-safe: what the registry calls with the raw arguments (already
/// checked against the input schema). Implement it by hand for full control; the
/// [`ToolBuilder::handler`] form implements it for a typed async function.
pub trait CallTool: Send + Sync + 'static {
    /// Runs the tool for the verified caller in `ctx`.
    fn call<'a>(
        &'a self,
        ctx: ToolContext,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>>;
}

/// A registered tool: its definition and its handler. Cheap to clone.
#[derive(Clone)]
pub struct Tool {
    definition: Arc<ToolDefinition>,
    handler: Arc<dyn CallTool>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.definition.fmt(f)
    }
}

impl Tool {
    /// Starts a tool called `name`; finish with [`ToolBuilder::handler`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> ToolBuilder {
        ToolBuilder {
            name: name.into(),
            title: None,
            description: String::new(),
            annotations: None,
            upstreams: Vec::new(),
            input_schema: None,
            output_schema: None,
        }
    }

    /// A tool from a hand-written handler, with a JSON Schema for its arguments.
    pub fn from_handler(builder: ToolBuilder, input_schema: Value, handler: impl CallTool) -> Self {
        let ToolBuilder {
            name,
            title,
            description,
            annotations,
            upstreams,
            output_schema,
            ..
        } = builder;
        Self {
            definition: Arc::new(ToolDefinition {
                name,
                title,
                description,
                annotations,
                upstreams,
                input_schema: LazySchema::ready(Some(input_schema)),
                output: LazySchema::ready(output_schema),
            }),
            handler: Arc::new(handler),
        }
    }

    /// What `tools/list` says about it.
    pub fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    /// Checks `args` against the input schema, runs the handler, and checks structured
    /// output against the output schema. Every failure is an `isError` result naming it.
    pub async fn call(&self, ctx: ToolContext, args: Map<String, Value>) -> ToolOutput {
        let def = &self.definition;
        if let Err(e) = schema::check_arguments(def.input_schema(), &args) {
            return ToolError::InvalidArguments {
                tool: def.name.clone(),
                reason: e.to_string(),
            }
            .into();
        }
        let output = match self.handler.call(ctx, args).await {
            Ok(output) => output,
            Err(ToolError::InvalidArguments { tool, reason }) if tool.is_empty() => {
                return ToolError::InvalidArguments {
                    tool: def.name.clone(),
                    reason,
                }
                .into();
            }
            Err(e) => return e.into(),
        };
        if let (Some(schema), Some(structured), false) =
            (def.output_schema(), &output.structured, output.is_error)
        {
            let checked = match structured {
                Value::Object(map) => {
                    schema::check_arguments(schema, map).map_err(|e| e.to_string())
                }
                _ if schema.get("type").and_then(Value::as_str) == Some("object") => {
                    Err("structured content must be a JSON object".into())
                }
                _ => Ok(()),
            };
            if let Err(reason) = checked {
                tracing::warn!(tool = %def.name, %reason, "structured output does not match the output schema");
                return ToolOutput::error(format!(
                    "tool `{}` produced output that does not match its output schema: {reason}",
                    def.name
                ));
            }
        }
        output
    }
}

/// A tool being described: name, description, title, annotations, upstreams; finished by
/// [`ToolBuilder::handler`] (typed) or [`Tool::from_handler`] (raw).
#[derive(Debug, Clone)]
#[must_use]
pub struct ToolBuilder {
    name: String,
    title: Option<String>,
    description: String,
    annotations: Option<ToolAnnotations>,
    upstreams: Vec<String>,
    input_schema: Option<Value>,
    output_schema: Option<Value>,
}

impl ToolBuilder {
    /// What the tool does, for the model choosing tools.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// A display title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Behaviour hints.
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = Some(annotations);
        self
    }

    /// Hints that the tool only reads (`readOnlyHint`, `idempotentHint`).
    pub fn read_only(mut self) -> Self {
        let a = self
            .annotations
            .get_or_insert_with(ToolAnnotations::default);
        a.read_only_hint = Some(true);
        a.idempotent_hint = Some(true);
        self
    }

    /// Declares that the tool calls the upstream `name` (`ctx.upstream(name)`); building
    /// the gateway fails with a configuration error naming it if it is not configured.
    pub fn upstream(mut self, name: impl Into<String>) -> Self {
        self.upstreams.push(name.into());
        self
    }

    /// Overrides the derived input schema (the arguments are still deserialized with
    /// serde after the check).
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = Some(schema);
        self
    }

    /// Sets the output schema explicitly (for [`Json`] output it is derived).
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Finishes the tool with a typed async handler: `A` are its arguments (deserialized;
    /// their JSON Schema is the tool's input schema), `R` its result.
    pub fn handler<F, Fut, A, R>(self, handler: F) -> Tool
    where
        F: Fn(ToolContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
        A: DeserializeOwned + schemars::JsonSchema + 'static,
        R: IntoToolOutput + 'static,
    {
        let input_schema = match self.input_schema {
            Some(schema) => LazySchema::ready(Some(schema)),
            None => LazySchema::derived(|| Some(schema::input_schema_for::<A>())),
        };
        let output = match self.output_schema {
            Some(schema) => LazySchema::ready(Some(schema)),
            None => LazySchema::derived(R::output_schema),
        };
        Tool {
            definition: Arc::new(ToolDefinition {
                name: self.name,
                title: self.title,
                description: self.description,
                annotations: self.annotations,
                upstreams: self.upstreams,
                input_schema,
                output,
            }),
            handler: Arc::new(FnTool {
                handler,
                _types: std::marker::PhantomData,
            }),
        }
    }
}

/// A typed async function as a [`CallTool`].
struct FnTool<F, A, R> {
    handler: F,
    _types: std::marker::PhantomData<fn(A) -> R>,
}

impl<F, Fut, A, R> CallTool for FnTool<F, A, R>
where
    F: Fn(ToolContext, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    A: DeserializeOwned + 'static,
    R: IntoToolOutput + 'static,
{
    fn call<'a>(
        &'a self,
        ctx: ToolContext,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        let args = match serde_json::from_value::<A>(Value::Object(args)) {
            Ok(args) => args,
            Err(e) => {
                return Box::pin(std::future::ready(Err(ToolError::InvalidArguments {
                    tool: String::new(),
                    reason: e.to_string(),
                })));
            }
        };
        let future = (self.handler)(ctx, args);
        Box::pin(async move { future.await.map(IntoToolOutput::into_tool_output) })
    }
}

/// Why a tool failed, in words the caller (a model or a person) can act on. Becomes an
/// `isError: true` result. Never carries a token or a secret.
///
/// Delegation failures convert with `?` (they name the upstream and the fix); anything
/// else becomes one with [`ToolError::new`]:
///
/// ```
/// use keycard_core::tools::ToolError;
///
/// fn parse_day(day: &str) -> Result<u8, ToolError> {
///     day.parse()
///         .map_err(|_| ToolError::new(format!("{day:?} is not a day of the month: use 1 to 31")))
/// }
/// assert!(parse_day("32x").unwrap_err().to_string().contains("use 1 to 31"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not fit the input schema.
    #[error("invalid arguments{}: {reason}", if tool.is_empty() { String::new() } else { format!(" for tool `{tool}`") })]
    InvalidArguments {
        /// The tool (empty when not known where the error was raised).
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
    /// A call to an upstream on the user's behalf failed (exchange refused, STS down,
    /// upstream unreachable). The message names the upstream and the fix.
    #[error("{}", delegation_message(upstream, error))]
    Delegation {
        /// The upstream's name.
        upstream: String,
        /// What went wrong.
        error: DelegationError,
    },
    /// Any other failure, with its explanation.
    #[error("{0}")]
    Failed(String),
    /// The call asked the client a question ([`ToolContext::elicit`],
    /// [`ToolContext::sample`]) that the client will answer with its retry (2026-07-28):
    /// return it with `?`; the server answers `input_required`, and the retry runs the
    /// handler again with the answer available.
    #[error("input is required from the client; the call ends here and is retried with the answer")]
    InputRequired,
}

impl ToolError {
    /// A failure with this explanation.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }
}

impl From<ToolError> for ToolOutput {
    fn from(error: ToolError) -> Self {
        let mut output = ToolOutput::error(error.to_string());
        if let ToolError::Delegation {
            upstream,
            error:
                DelegationError::ConsentRequired {
                    url,
                    elicitation_id,
                    ..
                },
        } = error
        {
            output.url_elicitation = Some(Box::new(UrlElicitation {
                elicitation_id,
                url,
                message: format!(
                    "Grant this server access to the {:?} upstream in Keycard, then retry the call.",
                    sanitize(&upstream)
                ),
            }));
        }
        output
    }
}

impl From<serde_json::Error> for ToolError {
    fn from(error: serde_json::Error) -> Self {
        Self::Failed(format!("unexpected JSON: {error}"))
    }
}

impl From<http::Error> for ToolError {
    fn from(error: http::Error) -> Self {
        Self::Failed(format!("cannot build the upstream request: {error}"))
    }
}

/// The message for a failed delegation to `upstream`: what happened and what to do.
pub fn delegation_message(upstream: &str, error: &DelegationError) -> String {
    let up = sanitize(upstream);
    match error {
        DelegationError::NoSubject => {
            "This tool acts on your behalf, but your access token has no subject (`sub`): \
             sign in as a user (not with a client-credentials/service token) and try again."
                .to_owned()
        }
        DelegationError::UnknownUpstream { .. }
        | DelegationError::OutsideUpstream { .. }
        | DelegationError::TestIdentity => format!("{error}."),
        DelegationError::Refused { error, description } => {
            let said = description
                .as_deref()
                .map(|d| format!(" (Keycard said: {})", sanitize(d)))
                .unwrap_or_default();
            match error.as_str() {
                "invalid_grant" => format!(
                    "You have not granted access to the {up:?} upstream in Keycard: sign in again and grant access{said}."
                ),
                "invalid_target" => format!(
                    "The {up:?} upstream is not a dependency of this application in Keycard Console: add it under the application's dependencies{said}."
                ),
                "invalid_client" | "unauthorized_client" => format!(
                    "The server's Keycard credentials are wrong: check KEYCARD_CLIENT_ID/KEYCARD_CLIENT_SECRET or KEYCARD_PRIVATE_KEY{said}."
                ),
                "invalid_scope" => format!(
                    "Keycard refused the scopes requested for the {up:?} upstream: check its scopes in Keycard Console and KEYCARD_UPSTREAMS{said}."
                ),
                other => format!(
                    "Keycard refused the token exchange for the {up:?} upstream ({}){said}.",
                    sanitize(other)
                ),
            }
        }
        DelegationError::ConsentRequired {
            url, description, ..
        } => {
            let said = description
                .as_deref()
                .map(|d| format!(" (Keycard said: {})", sanitize(d)))
                .unwrap_or_default();
            format!(
                "You have not granted access to the {up:?} upstream in Keycard: open {url} to grant access, then try again{said}."
            )
        }
        DelegationError::Unavailable(detail) => format!(
            "Keycard's token service is unavailable right now (for the {up:?} upstream: {}): try again in a moment.",
            sanitize(detail)
        ),
        DelegationError::Upstream(detail) => format!(
            "Could not reach the {up:?} upstream ({}): try again in a moment.",
            sanitize(detail)
        ),
    }
}

/// Longest excerpt of an upstream or STS message quoted back to the caller.
const EXCERPT_CHARS: usize = 160;

/// A short, single-line, printable excerpt: control characters dropped, length capped,
/// and anything that looks like a credential replaced. Use it before quoting anything an
/// upstream said.
pub fn sanitize(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<String> = flat
        .split_whitespace()
        .map(|w| {
            if looks_like_credential(w) {
                "[redacted]".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// JWT-shaped (`xxx.yyy.zzz`), GitHub token prefixes, or long opaque runs.
fn looks_like_credential(word: &str) -> bool {
    let w =
        word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-' && c != '.');
    let token_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | '+' | '/'))
    };
    let jwt_like = w.starts_with("eyJ") && w.matches('.').count() >= 2;
    let github = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
        .iter()
        .any(|p| w.starts_with(p));
    let opaque = w.len() >= 32 && token_chars(w) && w.chars().any(|c| c.is_ascii_digit());
    jwt_like || github || opaque
}

/// The tools a server exposes, in registration order.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Tool>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| &t.definition.name))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`; a tool with the same name is replaced in place.
    pub fn insert(&mut self, tool: Tool) {
        match self
            .tools
            .iter_mut()
            .find(|t| t.definition.name == tool.definition.name)
        {
            Some(slot) => *slot = tool,
            None => self.tools.push(tool),
        }
    }

    /// Keeps only the tools `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Tool) -> bool) {
        self.tools.retain(keep);
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.definition.name == name)
    }

    /// Every tool, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter()
    }

    /// The registered names, comma separated (for messages).
    pub fn names(&self) -> String {
        self.tools
            .iter()
            .map(|t| t.definition.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Calls the tool `name`; an unknown name is an `isError` output naming the tools.
    pub async fn call(&self, name: &str, ctx: ToolContext, args: Map<String, Value>) -> ToolOutput {
        match self.get(name) {
            Some(tool) => tool.call(ctx, args).await,
            None => ToolError::UnknownTool {
                name: name.to_owned(),
                available: self.names(),
            }
            .into(),
        }
    }
}
