//! Argument completion (`completion/complete`): suggestions for a prompt argument or a
//! resource-template variable while the user types it.
//!
//! A [`crate::prompts::PromptBuilder::complete`] or
//! [`crate::resources::ResourceTemplateBuilder::complete`] closure receives the caller's
//! [`ToolContext`] (so it may ask an upstream API on the user's behalf) and a
//! [`CompletionRequest`], and returns candidate values. The server answers at most
//! [`MAX_VALUES`] of them, with `total` and `hasMore` telling the client how many there
//! were. A prompt or template without a completer answers an empty list. The server
//! declares the `completions` capability as soon as one completer is registered.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::ports::BoxFuture;
use crate::tools::{ToolContext, ToolError};

/// Most values one `completion/complete` answer carries (the specification's limit).
pub const MAX_VALUES: usize = 100;

/// What the client is completing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// The argument (or template variable) being completed.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// Values of the other arguments already chosen (`context.arguments`, 2025-06-18 and
    /// later; empty before).
    pub context: BTreeMap<String, String>,
}

impl CompletionRequest {
    /// A request completing `argument` from `value`, with no context.
    pub fn new(argument: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            argument: argument.into(),
            value: value.into(),
            context: BTreeMap::new(),
        }
    }
}

/// A completer, object-safe.
pub(crate) type CompleteFn = dyn Fn(ToolContext, CompletionRequest) -> BoxFuture<'static, Result<Vec<String>, ToolError>>
    + Send
    + Sync;

/// Boxes a typed completer closure.
pub(crate) fn boxed<F, Fut>(completer: F) -> Arc<CompleteFn>
where
    F: Fn(ToolContext, CompletionRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<String>, ToolError>> + Send + 'static,
{
    Arc::new(move |ctx, request| Box::pin(completer(ctx, request)))
}

/// The `completion` member of a `completion/complete` result: at most [`MAX_VALUES`]
/// values, the total, and whether there were more.
pub(crate) fn to_json(mut values: Vec<String>) -> Value {
    let total = values.len();
    values.truncate(MAX_VALUES);
    json!({
        "values": values,
        "total": total,
        "hasMore": total > MAX_VALUES,
    })
}
