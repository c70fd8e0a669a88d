//! What a tool returns: [`ToolOutput`] (the MCP `CallToolResult`), and [`IntoToolOutput`],
//! which lets a handler return a `String`, a [`Content`] block, a list of blocks, [`Json`]
//! structured output (with its output schema derived) or a whole [`ToolOutput`].

use serde::Serialize;
use serde_json::{Map, Value};

use super::content::Content;
use crate::mcp::elicitation::UrlElicitation;
use crate::mcp::version::ProtocolVersion;

/// A tool's result: content blocks, optional structured content, and whether it is an
/// error the model should see (`isError`).
///
/// ```
/// use keycard_core::tools::{Content, ToolOutput};
///
/// let chart = ToolOutput::text("Sales went up 12% this quarter.")
///     .with(Content::image(vec![0x89, b'P', b'N', b'G'], "image/png"));
/// assert_eq!(chart.content.len(), 2);
/// assert!(!chart.is_error);
///
/// let refused = ToolOutput::error("The report is not ready yet: try again in a minute.");
/// assert!(refused.is_error);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolOutput {
    /// Content blocks, in order.
    pub content: Vec<Content>,
    /// `structuredContent` (checked against the tool's output schema when it has one).
    pub structured: Option<Value>,
    /// `isError`.
    pub is_error: bool,
    /// Set when the error can be fixed by the user visiting a page (a delegated call
    /// whose user has not consented upstream): `tools/call` answers clients that declare
    /// URL-mode elicitation with -32042 instead of this result (see
    /// [`crate::mcp::elicitation`]); others get the `isError` text.
    pub url_elicitation: Option<Box<UrlElicitation>>,
}

impl ToolOutput {
    /// A plain text result.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(text)],
            ..Self::default()
        }
    }

    /// A result of these blocks.
    pub fn content(blocks: impl IntoIterator<Item = Content>) -> Self {
        Self {
            content: blocks.into_iter().collect(),
            ..Self::default()
        }
    }

    /// A structured result; its serialized JSON also goes in a text block, as the spec
    /// recommends for clients that do not read `structuredContent`.
    pub fn structured(value: Value) -> Self {
        Self {
            content: vec![Content::text(
                serde_json::to_string(&value).unwrap_or_default(),
            )],
            structured: Some(value),
            ..Self::default()
        }
    }

    /// A tool execution error (`isError: true`) with an actionable message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(message)],
            is_error: true,
            ..Self::default()
        }
    }

    /// Puts a short human summary before the other content blocks.
    #[must_use]
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.content.insert(0, Content::text(summary));
        self
    }

    /// Appends a content block.
    #[must_use]
    pub fn with(mut self, block: impl Into<Content>) -> Self {
        self.content.push(block.into());
        self
    }

    /// The text of every text block, joined by newlines (for tests and logs).
    pub fn all_text(&self) -> String {
        self.content
            .iter()
            .filter_map(Content::as_text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The MCP `CallToolResult` JSON in `version`: `structuredContent` only from
    /// 2025-06-18 on; blocks as [`Content::to_json`] renders them there.
    pub fn to_result(&self, version: ProtocolVersion) -> Value {
        let content: Vec<Value> = self.content.iter().map(|c| c.to_json(version)).collect();
        let mut result = Map::new();
        result.insert("content".into(), Value::Array(content));
        if version.has_structured_tools()
            && let Some(structured) = &self.structured
        {
            result.insert("structuredContent".into(), structured.clone());
        }
        result.insert("isError".into(), Value::Bool(self.is_error));
        Value::Object(result)
    }
}

/// Structured output: `T` is serialized as `structuredContent` (and as JSON text for
/// older clients), and the tool's `outputSchema` is derived from `T`.
///
/// `T` must serialize to a JSON object (the MCP schema requires an object there before
/// 2026-07-28).
///
/// ```
/// use keycard_core::tools::{Json, Tool, ToolContext, ToolError};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Sum {
///     total: i64,
/// }
///
/// let tool = Tool::new("sum")
///     .description("Adds 2 and 2.")
///     .handler(|_ctx: ToolContext, _: keycard_core::tools::NoArgs| async move {
///         Ok::<_, ToolError>(Json(Sum { total: 4 }))
///     });
/// assert!(tool.definition().output_schema().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// What a tool handler may return (inside `Ok`).
pub trait IntoToolOutput {
    /// The result.
    fn into_tool_output(self) -> ToolOutput;

    /// The `outputSchema` this type implies (only [`Json`] has one).
    fn output_schema() -> Option<Value> {
        None
    }
}

impl IntoToolOutput for ToolOutput {
    fn into_tool_output(self) -> ToolOutput {
        self
    }
}

impl IntoToolOutput for String {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::text(self)
    }
}

impl IntoToolOutput for &'static str {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::text(self)
    }
}

impl IntoToolOutput for Content {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::content([self])
    }
}

impl IntoToolOutput for Vec<Content> {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::content(self)
    }
}

impl<T: Serialize + schemars::JsonSchema> IntoToolOutput for Json<T> {
    fn into_tool_output(self) -> ToolOutput {
        match serde_json::to_value(&self.0) {
            Ok(value) => ToolOutput::structured(value),
            Err(e) => ToolOutput::error(format!("the tool's result could not be serialized: {e}")),
        }
    }

    fn output_schema() -> Option<Value> {
        Some(super::schema::schema_for::<T>())
    }
}
