//! Resources: data a client reads by URI (`resources/list`, `resources/templates/list`,
//! `resources/read`).
//!
//! A [`Resource`] has a fixed URI; a [`ResourceTemplate`] serves every URI matching an
//! RFC 6570 level-1 template (`{var}` expressions) and receives the variables, typed
//! (`#[derive(Deserialize)]`; every variable is a string). Handlers get the same
//! [`ToolContext`] as tools — the verified caller, and upstream APIs called on their
//! behalf — so a resource can be delegated exactly like a tool.
//!
//! ```
//! use keycard_core::Server;
//! use keycard_core::resources::{Resource, ResourceTemplate};
//! use keycard_core::tools::{ToolContext, ToolError};
//!
//! #[derive(serde::Deserialize)]
//! struct Repo {
//!     owner: String,
//!     name: String,
//! }
//!
//! let server = Server::new("docs", "1.0.0")
//!     .resource(
//!         Resource::new("docs://readme")
//!             .name("readme")
//!             .mime_type("text/markdown")
//!             .handler(|_ctx: ToolContext| async move { Ok::<_, ToolError>("# Hello") }),
//!     )
//!     .resource_template(
//!         ResourceTemplate::new("github://repos/{owner}/{name}")
//!             .name("repository")
//!             .mime_type("application/json")
//!             .handler(|ctx: ToolContext, repo: Repo| async move {
//!                 // Delegated: the upstream sees a token Keycard issued for this caller.
//!                 let path = format!("/repos/{}/{}", repo.owner, repo.name);
//!                 let body: serde_json::Value = ctx.default_upstream().get_json(&path).await?;
//!                 Ok::<_, ToolError>(body)
//!             }),
//!     );
//! assert!(server.has_resources());
//! ```
//!
//! Handlers return anything [`IntoResourceContents`]: text (`String`, `&'static str`),
//! bytes (`Vec<u8>`, sent base64-encoded as a blob), a JSON value (text,
//! `application/json` unless the resource says otherwise), or [`ResourceContents`]
//! blocks. Failures are [`ResourceError`]s (a [`ToolError`] converts): a read is a
//! JSON-RPC request, so a failure is a JSON-RPC error, not an `isError` result.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::completion::{self, CompleteFn, CompletionRequest};
use crate::mcp::version::ProtocolVersion;
use crate::ports::BoxFuture;
use crate::tools::{ResourceContents, ToolContext, ToolError};

/// Why reading a resource failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// No resource at this URI (e.g. a template's variables name nothing). Answered as
    /// the "resource not found" error of the protocol version.
    #[error("resource not found: {0}")]
    NotFound(String),
    /// Any other failure, in words the user can act on (never a token or a secret).
    #[error("{0}")]
    Failed(String),
}

impl From<ToolError> for ResourceError {
    fn from(error: ToolError) -> Self {
        Self::Failed(error.to_string())
    }
}

/// What a resource handler may return.
pub trait IntoResourceContents {
    /// The contents of `uri`; `mime_type` is the resource's declared MIME type, used
    /// when the value does not carry its own.
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents>;
}

fn with_default_mime(contents: ResourceContents, mime: Option<&str>) -> ResourceContents {
    match (&contents, mime) {
        (
            ResourceContents::Text {
                mime_type: None, ..
            }
            | ResourceContents::Blob {
                mime_type: None, ..
            },
            Some(m),
        ) => contents.with_mime_type(m),
        _ => contents,
    }
}

impl IntoResourceContents for String {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        vec![with_default_mime(
            ResourceContents::text(uri, self),
            mime_type,
        )]
    }
}

impl IntoResourceContents for &'static str {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        self.to_owned().into_contents(uri, mime_type)
    }
}

impl IntoResourceContents for Vec<u8> {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        vec![with_default_mime(
            ResourceContents::blob(uri, self),
            mime_type,
        )]
    }
}

impl IntoResourceContents for Value {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        let text = ResourceContents::text(uri, self.to_string());
        vec![with_default_mime(
            text,
            Some(mime_type.unwrap_or("application/json")),
        )]
    }
}

impl IntoResourceContents for ResourceContents {
    fn into_contents(self, _uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        vec![with_default_mime(self, mime_type)]
    }
}

impl IntoResourceContents for Vec<ResourceContents> {
    fn into_contents(self, _uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
        self.into_iter()
            .map(|c| with_default_mime(c, mime_type))
            .collect()
    }
}

/// A handler, object-safe: the URI read and the template variables (empty for a
/// static resource).
type ReadFn = dyn Fn(
        ToolContext,
        String,
        BTreeMap<String, String>,
    ) -> BoxFuture<'static, Result<Vec<ResourceContents>, ResourceError>>
    + Send
    + Sync;

/// What a listing says about a resource or template.
#[derive(Debug, Clone, Default)]
struct Meta {
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    mime_type: Option<String>,
    size: Option<u64>,
    upstreams: Vec<String>,
}

impl Meta {
    fn to_json(&self, key: &str, uri: &str, version: ProtocolVersion) -> Value {
        let mut out = Map::new();
        out.insert(key.into(), uri.into());
        out.insert("name".into(), self.name.as_deref().unwrap_or(uri).into());
        if version.has_titles()
            && let Some(t) = &self.title
        {
            out.insert("title".into(), t.clone().into());
        }
        if let Some(d) = &self.description {
            out.insert("description".into(), d.clone().into());
        }
        if let Some(m) = &self.mime_type {
            out.insert("mimeType".into(), m.clone().into());
        }
        if let Some(s) = self.size {
            out.insert("size".into(), s.into());
        }
        Value::Object(out)
    }
}

macro_rules! meta_setters {
    () => {
        /// The programmatic name (`name`; the URI when not set).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.meta.name = Some(name.into());
            self
        }

        /// A display title (sent from protocol 2025-06-18 on).
        pub fn title(mut self, title: impl Into<String>) -> Self {
            self.meta.title = Some(title.into());
            self
        }

        /// What it is, for the user or model choosing context.
        pub fn description(mut self, description: impl Into<String>) -> Self {
            self.meta.description = Some(description.into());
            self
        }

        /// The MIME type of its contents (also the default of contents without one).
        pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
            self.meta.mime_type = Some(mime_type.into());
            self
        }

        /// Declares that the handler calls the upstream `name`; building the gateway
        /// fails with a configuration error naming it if it is not configured.
        pub fn upstream(mut self, name: impl Into<String>) -> Self {
            self.meta.upstreams.push(name.into());
            self
        }
    };
}

/// A resource at a fixed URI. Cheap to clone.
#[derive(Clone)]
pub struct Resource {
    uri: Arc<str>,
    meta: Arc<Meta>,
    read: Arc<ReadFn>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// A resource being described; finished by [`ResourceBuilder::handler`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceBuilder {
    uri: String,
    meta: Meta,
}

impl Resource {
    /// Starts the resource at `uri`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(uri: impl Into<String>) -> ResourceBuilder {
        ResourceBuilder {
            uri: uri.into(),
            meta: Meta::default(),
        }
    }

    /// Its URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Upstreams its handler declared.
    pub fn upstreams(&self) -> &[String] {
        &self.meta.upstreams
    }

    /// The `resources/list` entry in `version`.
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        self.meta.to_json("uri", &self.uri, version)
    }

    /// Reads it for the caller in `ctx`.
    pub async fn read(&self, ctx: ToolContext) -> Result<Vec<ResourceContents>, ResourceError> {
        (self.read)(ctx, self.uri.to_string(), BTreeMap::new()).await
    }
}

impl ResourceBuilder {
    meta_setters!();

    /// Its size in bytes, if known.
    pub fn size(mut self, size: u64) -> Self {
        self.meta.size = Some(size);
        self
    }

    /// Finishes the resource with an async handler of the caller's context.
    pub fn handler<F, Fut, R, E>(self, handler: F) -> Resource
    where
        F: Fn(ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoResourceContents + 'static,
        E: Into<ResourceError> + 'static,
    {
        let mime = self.meta.mime_type.clone();
        let read: Arc<ReadFn> = Arc::new(move |ctx, uri, _vars| {
            let future = handler(ctx);
            let mime = mime.clone();
            Box::pin(async move {
                match future.await {
                    Ok(r) => Ok(r.into_contents(&uri, mime.as_deref())),
                    Err(e) => Err(e.into()),
                }
            })
        });
        Resource {
            uri: self.uri.into(),
            meta: Arc::new(self.meta),
            read,
        }
    }
}

// ------------------------------------------------------------------ templates

/// An RFC 6570 level-1 URI template: literal text and `{var}` expressions.
///
/// A variable matches one or more characters a level-1 expansion can produce
/// (unreserved characters and percent-encoded octets, so never `/`, `?` or `#`); the
/// value is percent-decoded.
///
/// ```
/// use keycard_core::resources::UriTemplate;
///
/// let t = UriTemplate::parse("users://{id}/posts/{post}").unwrap();
/// let vars = t.matches("users://alice/posts/hello%20world").unwrap();
/// assert_eq!(vars["id"], "alice");
/// assert_eq!(vars["post"], "hello world");
/// assert!(t.matches("users://alice/posts/a/b").is_none());
/// assert!(UriTemplate::parse("search{?q}").is_err()); // level 3: not supported
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

impl UriTemplate {
    /// Parses a level-1 template; anything else (operators, modifiers, lists,
    /// unbalanced braces) is an error saying what.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            match c {
                '{' => {
                    let Some(end) = rest.find('}') else {
                        return Err(format!("unclosed `{{` in URI template {template:?}"));
                    };
                    let name = &rest[1..end];
                    let valid = !name.is_empty()
                        && !name.starts_with('.')
                        && !name.ends_with('.')
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if !valid {
                        return Err(format!(
                            "`{{{name}}}` in URI template {template:?} is not a level-1 expression `{{name}}`"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(name.to_owned()));
                    rest = &rest[end + 1..];
                }
                '}' => return Err(format!("unmatched `}}` in URI template {template:?}")),
                c => {
                    literal.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The variable names, in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The variables of `uri` when it matches (percent-decoded), else `None`.
    pub fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        let mut vars = BTreeMap::new();
        match_parts(&self.parts, uri.as_bytes(), &mut vars).then_some(vars)
    }
}

fn var_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%')
}

fn match_parts(parts: &[Part], input: &[u8], vars: &mut BTreeMap<String, String>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return input.is_empty();
    };
    match first {
        Part::Literal(lit) => input
            .strip_prefix(lit.as_bytes())
            .is_some_and(|after| match_parts(rest, after, vars)),
        Part::Var(name) => {
            let run = input.iter().take_while(|b| var_byte(**b)).count();
            for end in (1..=run).rev() {
                let Some(value) = percent_decode(&input[..end]) else {
                    continue;
                };
                if vars.get(name).is_some_and(|seen| *seen != value) {
                    continue;
                }
                let fresh = !vars.contains_key(name);
                if fresh {
                    vars.insert(name.clone(), value);
                }
                if match_parts(rest, &input[end..], vars) {
                    return true;
                }
                if fresh {
                    vars.remove(name);
                }
            }
            false
        }
    }
}

fn percent_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Resources served under a URI template. Cheap to clone.
#[derive(Clone)]
pub struct ResourceTemplate {
    template: Arc<str>,
    parsed: Result<UriTemplate, String>,
    meta: Arc<Meta>,
    read: Arc<ReadFn>,
    completer: Option<Arc<CompleteFn>>,
}

impl std::fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceTemplate")
            .field("uri_template", &self.template)
            .finish_non_exhaustive()
    }
}

/// A resource template being described; finished by [`ResourceTemplateBuilder::handler`].
#[must_use]
pub struct ResourceTemplateBuilder {
    template: String,
    meta: Meta,
    completer: Option<Arc<CompleteFn>>,
}

impl std::fmt::Debug for ResourceTemplateBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceTemplateBuilder")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl ResourceTemplate {
    /// Starts the template `uri_template` (RFC 6570 level 1, see [`UriTemplate`]). A
    /// template that does not parse is still listed but matches nothing; building the
    /// gateway refuses it with the parse error.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(uri_template: impl Into<String>) -> ResourceTemplateBuilder {
        ResourceTemplateBuilder {
            template: uri_template.into(),
            meta: Meta::default(),
            completer: None,
        }
    }

    /// The template text (`uriTemplate`).
    pub fn uri_template(&self) -> &str {
        &self.template
    }

    /// The parsed template, or why it does not parse.
    pub fn parsed(&self) -> Result<&UriTemplate, &str> {
        self.parsed.as_ref().map_err(String::as_str)
    }

    /// Upstreams its handler declared.
    pub fn upstreams(&self) -> &[String] {
        &self.meta.upstreams
    }

    /// Whether it has a completer.
    pub fn has_completer(&self) -> bool {
        self.completer.is_some()
    }

    /// The `resources/templates/list` entry in `version`.
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        self.meta.to_json("uriTemplate", &self.template, version)
    }

    /// The variables of `uri`, when this template matches it.
    pub fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        self.parsed.as_ref().ok()?.matches(uri)
    }

    /// Reads `uri` (which it must match, else [`ResourceError::NotFound`]).
    pub async fn read(
        &self,
        ctx: ToolContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, ResourceError> {
        match self.matches(uri) {
            Some(vars) => (self.read)(ctx, uri.to_owned(), vars).await,
            None => Err(ResourceError::NotFound(uri.to_owned())),
        }
    }

    /// Completes one of its variables (no completer: no values).
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

impl ResourceTemplateBuilder {
    meta_setters!();

    /// Suggests values for a variable (`completion/complete` with a `ref/resource`
    /// naming this template).
    pub fn complete<F, Fut>(mut self, completer: F) -> Self
    where
        F: Fn(ToolContext, CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>, ToolError>> + Send + 'static,
    {
        self.completer = Some(completion::boxed(completer));
        self
    }

    /// Finishes the template with an async handler of the caller's context and the
    /// variables, deserialized into `A` from an object of strings (use
    /// `BTreeMap<String, String>` to take them as they are). Variables that do not
    /// deserialize mean "no such resource".
    pub fn handler<F, Fut, A, R, E>(self, handler: F) -> ResourceTemplate
    where
        F: Fn(ToolContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        A: DeserializeOwned + 'static,
        R: IntoResourceContents + 'static,
        E: Into<ResourceError> + 'static,
    {
        let mime = self.meta.mime_type.clone();
        let read: Arc<ReadFn> = Arc::new(move |ctx, uri, vars| {
            let object: Map<String, Value> = vars
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let args = match serde_json::from_value::<A>(Value::Object(object)) {
                Ok(args) => args,
                Err(e) => {
                    tracing::debug!(%uri, error = %e, "template variables do not deserialize");
                    return Box::pin(std::future::ready(Err(ResourceError::NotFound(uri))));
                }
            };
            let future = handler(ctx, args);
            let mime = mime.clone();
            Box::pin(async move {
                match future.await {
                    Ok(r) => Ok(r.into_contents(&uri, mime.as_deref())),
                    Err(e) => Err(e.into()),
                }
            })
        });
        ResourceTemplate {
            parsed: UriTemplate::parse(&self.template),
            template: self.template.into(),
            meta: Arc::new(self.meta),
            read,
            completer: self.completer,
        }
    }
}

#[cfg(test)]
mod tests;
