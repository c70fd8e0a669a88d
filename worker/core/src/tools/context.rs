//! [`ToolContext`]: what a tool receives besides its arguments — the verified caller and
//! delegated access to the configured upstreams, bound to that caller.

#[cfg(any(test, feature = "testing"))]
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{ToolError, sanitize};
use crate::auth::identity::Identity;
use crate::config::DEFAULT_UPSTREAM;
#[cfg(any(test, feature = "testing"))]
use crate::delegation::DelegationError;
use crate::delegation::UpstreamAccess;
use crate::mcp::notify::{LogLevel, Notifier};
use crate::mcp::version::ProtocolVersion;
use crate::tools::builtin::github_user::USER_AGENT;
use crate::tools::input::{self, Ask, InputChannel, ToClient};
use crate::tools::{Elicited, Sampled, SamplingRequest};

/// The verified caller of one tool call, and the way to act for them upstream.
///
/// Owned and cheap to clone (one shared allocation per call), so a handler's `async move`
/// block can keep it. There is no way to put another identity into it: a context is built
/// by the server from the token that authenticated the request, and every upstream call
/// made through it uses that caller's delegated token.
#[derive(Clone)]
pub struct ToolContext {
    scope: Arc<Scope>,
}

struct Scope {
    identity: Identity,
    delegation: Delegation,
    version: ProtocolVersion,
    /// Where `log` and `progress` go: `None` when the call cannot notify.
    notifier: Option<Notifier>,
    /// How the call can ask its client for input (elicitation, sampling).
    input: InputChannel,
    /// Milliseconds spent waiting for the client's answers (they extend the budget).
    waited_ms: std::sync::atomic::AtomicU64,
}

enum Delegation {
    /// The real thing: the isolate's delegation, bound to this request's budget.
    Live(UpstreamAccess),
    /// A test double (feature `testing`).
    #[cfg(any(test, feature = "testing"))]
    Fake(HashMap<String, FakeUpstream>),
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("identity", &self.scope.identity)
            .field("protocol_version", &self.scope.version.as_str())
            .finish_non_exhaustive()
    }
}

impl ToolContext {
    /// The context of a call by `identity`, delegating through `access`.
    pub(crate) fn live(
        identity: Identity,
        access: UpstreamAccess,
        version: ProtocolVersion,
        to_client: ToClient,
    ) -> Self {
        let ToClient { notifier, input } = to_client;
        Self {
            scope: Arc::new(Scope {
                identity,
                delegation: Delegation::Live(access),
                version,
                notifier,
                input,
                waited_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Whether the call's session declared URL-mode elicitation at `initialize`.
    pub(crate) fn session_declares_url_elicitation(&self) -> bool {
        match &self.scope.input {
            InputChannel::Session(link) => link
                .capabilities
                .get("elicitation")
                .and_then(|e| e.get("url"))
                .is_some_and(serde_json::Value::is_object),
            _ => false,
        }
    }

    /// Tells the client that the resource `uri` changed
    /// (`notifications/resources/updated`), now, on the response stream of this call —
    /// when the call belongs to a session that subscribed to `uri` (legacy revisions,
    /// sessions on, `Accept` with `text/event-stream`). Returns whether it was sent.
    ///
    /// Call it from a tool that changed the resource, so the client reads it again. An
    /// update that happens outside any call of the session reaches nobody: this server
    /// keeps no standalone `GET` stream.
    pub fn resource_updated(&self, uri: &str) -> bool {
        let InputChannel::Session(link) = &self.scope.input else {
            return false;
        };
        match &self.scope.notifier {
            Some(n) if link.subscriptions.iter().any(|u| u == uri) => n.notify(
                "notifications/resources/updated",
                serde_json::json!({ "uri": uri }),
            ),
            _ => false,
        }
    }

    /// The 2026-07-28 `input_required` result, when this call asked questions that
    /// have no answer yet.
    pub(crate) fn input_required(&self) -> Option<serde_json::Value> {
        self.scope.input.input_required()
    }

    /// Asks the user to fill in a form whose fields are those of `T` (its JSON Schema,
    /// derived like a tool's arguments: a flat object of strings, numbers, integers,
    /// booleans and enums, as MCP form elicitation allows) with `message` as the
    /// explanation. The answer is `T` when the user accepts, or their refusal.
    ///
    /// Works in every revision that has elicitation (see [`crate::tools::input`] for
    /// how: a stateless round trip in 2026-07-28, the session in 2025-06-18/2025-11-25);
    /// fails with a [`ToolError`] saying why when the client cannot be asked. In
    /// 2026-07-28 the first ask ends the call ([`ToolError::InputRequired`]): propagate it
    /// with `?`, and keep side effects after the questions, since the handler runs again
    /// with the answer.
    ///
    /// Never ask for passwords, tokens or other secrets this way (the specification
    /// forbids it; use URL mode, as the consent flow does).
    ///
    /// ```
    /// use keycard_core::tools::{Elicited, ToolContext, ToolError};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Confirm {
    ///     /// Type the repository name again to confirm.
    ///     repository: String,
    /// }
    ///
    /// async fn delete_repo(ctx: ToolContext, repo: String) -> Result<String, ToolError> {
    ///     match ctx.elicit::<Confirm>(format!("Delete {repo}? This cannot be undone.")).await? {
    ///         Elicited::Accepted(c) if c.repository == repo => Ok(format!("deleted {repo}")),
    ///         Elicited::Accepted(_) => Err(ToolError::new("the names differ; nothing deleted")),
    ///         Elicited::Declined | Elicited::Cancelled => Ok("kept".into()),
    ///     }
    /// }
    /// ```
    pub async fn elicit<T>(&self, message: impl Into<String>) -> Result<Elicited<T>, ToolError>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        let schema = crate::tools::schema::input_schema_for::<T>();
        match self.elicit_with_schema(message, schema).await? {
            Elicited::Accepted(content) => {
                serde_json::from_value(serde_json::Value::Object(content))
                    .map(Elicited::Accepted)
                    .map_err(|e| {
                        ToolError::new(format!("the client's answer does not fit the form: {e}"))
                    })
            }
            Elicited::Declined => Ok(Elicited::Declined),
            Elicited::Cancelled => Ok(Elicited::Cancelled),
        }
    }

    /// Like [`ToolContext::elicit`] with a hand-written `requestedSchema` (a flat object
    /// schema; use it for defaults, titled enums and multi-select fields); the content
    /// comes back as a JSON object.
    pub async fn elicit_with_schema(
        &self,
        message: impl Into<String>,
        requested_schema: serde_json::Value,
    ) -> Result<Elicited<serde_json::Map<String, serde_json::Value>>, ToolError> {
        crate::tools::schema::check_form_schema(&requested_schema)
            .map_err(|reason| ToolError::new(format!("cannot ask the client: {reason}")))?;
        let mut params = serde_json::Map::new();
        if self.scope.version >= ProtocolVersion::V2025_11_25 {
            params.insert("mode".into(), "form".into());
        }
        params.insert("message".into(), message.into().into());
        params.insert("requestedSchema".into(), requested_schema);
        let result = self
            .scope
            .input
            .ask(
                self.scope.notifier.as_ref(),
                Ask::Form,
                serde_json::Value::Object(params),
                &self.scope.waited_ms,
            )
            .await?;
        input::elicited(&result)
    }

    /// Asks the client's model to complete a conversation (`sampling/createMessage`;
    /// the client decides whether, and with which model, usually after asking the user).
    /// Same availability rules as [`ToolContext::elicit`].
    ///
    /// ```
    /// use keycard_core::tools::{SamplingRequest, ToolContext, ToolError};
    ///
    /// async fn haiku(ctx: ToolContext, topic: String) -> Result<String, ToolError> {
    ///     let answer = ctx
    ///         .sample(SamplingRequest::new(100).user(format!("A haiku about {topic}.")))
    ///         .await?;
    ///     Ok(answer.text())
    /// }
    /// ```
    pub async fn sample(&self, request: SamplingRequest) -> Result<Sampled, ToolError> {
        let result = self
            .scope
            .input
            .ask(
                self.scope.notifier.as_ref(),
                Ask::Sampling,
                request.to_params(),
                &self.scope.waited_ms,
            )
            .await?;
        Sampled::from_result(&result)
    }

    /// Sends a log message (`notifications/message`) to the client, now, on the
    /// response stream of this call. `data` is any JSON (a string, an object…); it goes
    /// to the client as it is: never put a token or a secret in it.
    ///
    /// Returns whether the message was sent. It is not when the client cannot receive it
    /// — its `Accept` lacks `text/event-stream`, or (2026-07-28) its request named no log
    /// level — or when `level` is below the level that applies: the one the request's
    /// `_meta` names, else (legacy revisions) the one `logging/setLevel` set in the
    /// call's MCP session, else `info`. See [`crate::mcp::notify`].
    ///
    /// ```
    /// use keycard_core::tools::{LogLevel, ToolContext, ToolError};
    ///
    /// async fn sync_repos(ctx: ToolContext) -> Result<String, ToolError> {
    ///     ctx.log(LogLevel::Info, "listing repositories");
    ///     ctx.log(LogLevel::Debug, serde_json::json!({ "page": 1 }));
    ///     Ok("done".into())
    /// }
    /// ```
    pub fn log(&self, level: LogLevel, data: impl Into<serde_json::Value>) -> bool {
        match &self.scope.notifier {
            Some(n) => n.log(level, None, data.into()),
            None => false,
        }
    }

    /// Like [`ToolContext::log`], naming the `logger` (a component of your server).
    pub fn log_from(
        &self,
        logger: &str,
        level: LogLevel,
        data: impl Into<serde_json::Value>,
    ) -> bool {
        match &self.scope.notifier {
            Some(n) => n.log(level, Some(logger), data.into()),
            None => false,
        }
    }

    /// Reports progress (`notifications/progress`) to the client, now: `progress` so far
    /// out of `total` (when known), with an optional human-readable `message`.
    ///
    /// A no-op returning `false` when the request carried no `_meta.progressToken` or
    /// the client cannot receive notifications (its `Accept` lacks `text/event-stream`).
    /// `progress` must increase from one report to the next: a value not above the last
    /// one (or not finite) is dropped.
    ///
    /// ```
    /// use keycard_core::tools::{ToolContext, ToolError};
    ///
    /// async fn import(ctx: ToolContext, files: Vec<String>) -> Result<usize, ToolError> {
    ///     let total = files.len() as f64;
    ///     for (i, file) in files.iter().enumerate() {
    ///         // … import `file` …
    ///         ctx.progress((i + 1) as f64, Some(total), Some(&format!("imported {file}")));
    ///     }
    ///     Ok(files.len())
    /// }
    /// ```
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        match &self.scope.notifier {
            Some(n) => n.progress(progress, total, message),
            None => false,
        }
    }

    /// The caller, as its bearer token proved (issuer, subject, client, scopes, expiry).
    pub fn identity(&self) -> &Identity {
        &self.scope.identity
    }

    /// The protocol revision this call is answered in.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.scope.version
    }

    /// The upstream API called `name` (`KEYCARD_UPSTREAMS`), to call on the caller's
    /// behalf. An unknown name fails at [`Upstream::fetch`] with an error naming the
    /// configured ones.
    pub fn upstream<'a>(&'a self, name: &'a str) -> Upstream<'a> {
        Upstream { ctx: self, name }
    }

    /// The upstream of `KEYCARD_RESOURCE_URL` (named [`DEFAULT_UPSTREAM`]).
    pub fn default_upstream(&self) -> Upstream<'_> {
        self.upstream(DEFAULT_UPSTREAM)
    }

    /// Sends one request to each named upstream at once, on the caller's behalf, and
    /// returns every result, in the order given: partial success. The token exchanges and
    /// the calls run concurrently (each exchange cached under its own key: issuer,
    /// subject, client, audience, the upstream's resource and scopes), and one upstream
    /// failing (no consent, STS down, unknown name, unreachable) does not fail the others.
    /// Each error is an [`Upstream::fetch`] error: it names its upstream and the fix, never
    /// a token. As with [`Upstream::fetch`], any HTTP status is an `Ok` response.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use keycard_core::tools::{ToolContext, ToolError};
    ///
    /// async fn both(ctx: &ToolContext) -> Result<(), ToolError> {
    ///     let github = ctx.upstream("github").get("/user").body(Bytes::new())?;
    ///     let calendar = ctx.upstream("calendar").get("/events").body(Bytes::new())?;
    ///     for (name, result) in ctx.fetch_all([("github", github), ("calendar", calendar)]).await {
    ///         match result {
    ///             Ok(response) => println!("{name}: HTTP {}", response.status()),
    ///             Err(e) => println!("{name} failed: {e}"),
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn fetch_all<N: Into<String>>(
        &self,
        requests: impl IntoIterator<Item = (N, http::Request<Bytes>)>,
    ) -> Vec<(String, Result<http::Response<Bytes>, ToolError>)> {
        let calls = requests.into_iter().map(|(name, request)| {
            let name: String = name.into();
            async move {
                let result = self.upstream(&name).fetch(request).await;
                (name, result)
            }
        });
        futures::future::join_all(calls).await
    }

    /// `GET path` on each named upstream at once, parsed as JSON: the partial-success form
    /// of [`Upstream::get_json`], run concurrently like [`ToolContext::fetch_all`]. Returns
    /// `(upstream name, result)` in the order given; each error names its upstream and
    /// what to do.
    ///
    /// ```
    /// use keycard_core::tools::{ToolContext, ToolError};
    ///
    /// /// What could be fetched, and one message per upstream that could not.
    /// async fn overview(ctx: &ToolContext) -> (Vec<serde_json::Value>, Vec<String>) {
    ///     let mut got = Vec::new();
    ///     let mut errors = Vec::new();
    ///     let paths = [("github", "/user"), ("calendar", "/events")];
    ///     for (_, result) in ctx.get_json_all::<serde_json::Value>(paths).await {
    ///         match result {
    ///             Ok(value) => got.push(value),
    ///             Err(e) => errors.push(e.to_string()),
    ///         }
    ///     }
    ///     (got, errors)
    /// }
    /// ```
    pub async fn get_json_all<'p, T: serde::de::DeserializeOwned>(
        &self,
        paths: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Vec<(String, Result<T, ToolError>)> {
        let calls = paths.into_iter().map(|(name, path)| async move {
            let result = self.upstream(name).get_json::<T>(path).await;
            (name.to_owned(), result)
        });
        futures::future::join_all(calls).await
    }
}

/// One upstream API, seen from a tool call: requests sent through it carry a token
/// Keycard issued for the caller, for this upstream.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    ctx: &'a ToolContext,
    name: &'a str,
}

impl Upstream<'_> {
    /// Its name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Its base URL (no trailing slash), if it is configured.
    pub fn url(&self) -> Option<&str> {
        match &self.ctx.scope.delegation {
            Delegation::Live(access) => access.upstream_url(self.name),
            #[cfg(any(test, feature = "testing"))]
            Delegation::Fake(fakes) => fakes.get(self.name).map(|f| f.url.as_str()),
        }
    }

    /// A `GET` request for `path` under the base URL, accepting JSON.
    pub fn get(&self, path: &str) -> http::request::Builder {
        self.request(http::Method::GET, path)
            .header(http::header::ACCEPT, "application/json")
    }

    /// `GET path` (starting with `/`) with the caller's delegated token, parsed as JSON:
    /// the short path for a read-only delegated tool. A non-2xx answer is an error naming
    /// the upstream and its status (quoting at most a short, sanitized excerpt of the
    /// body's `message`); so is a body that is not the JSON `T` expects.
    ///
    /// ```
    /// use keycard_core::tools::{ToolContext, ToolError};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Repo { full_name: String }
    ///
    /// async fn repos(ctx: &ToolContext) -> Result<Vec<String>, ToolError> {
    ///     let repos: Vec<Repo> = ctx.default_upstream().get_json("/user/repos").await?;
    ///     Ok(repos.into_iter().map(|r| r.full_name).collect())
    /// }
    /// ```
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ToolError> {
        let request = self
            .get(path)
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Bytes::new())
            .map_err(|_| {
                ToolError::new(format!(
                    "the {} upstream's URL and {path:?} do not form a valid URL: check its base URL",
                    self.name
                ))
            })?;
        let response = self.fetch(request).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let said = serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(sanitize))
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(ToolError::new(format!(
                "the {} upstream answered HTTP {status} to GET {path}{said}",
                self.name
            )));
        }
        serde_json::from_slice(response.body()).map_err(|e| {
            ToolError::new(format!(
                "the {} upstream's answer to GET {path} is not the expected JSON ({e})",
                self.name
            ))
        })
    }

    /// A request for `path` (starting with `/`) under the base URL.
    pub fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        let base = self.url().unwrap_or_default();
        http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
    }

    /// Sends `request` (an absolute URI under the base URL) with the caller's delegated
    /// token for this upstream. Returns the upstream's response whatever its status; an
    /// error only when no response could be had, naming this upstream and the fix.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use keycard_core::tools::{ToolContext, ToolError};
    ///
    /// async fn star(ctx: &ToolContext, repo: &str) -> Result<bool, ToolError> {
    ///     let github = ctx.upstream("github");
    ///     let request = github
    ///         .request(http::Method::PUT, &format!("/user/starred/{repo}"))
    ///         .header("user-agent", "my-mcp-server")
    ///         .body(Bytes::new())
    ///         .map_err(|_| ToolError::new(format!("{repo:?} is not a valid owner/name")))?;
    ///     let response = github.fetch(request).await?; // the caller's token, never yours to see
    ///     Ok(response.status().is_success())
    /// }
    /// ```
    pub async fn fetch(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, ToolError> {
        let scope = &self.ctx.scope;
        let result = match &scope.delegation {
            Delegation::Live(access) => {
                let waited = scope.waited_ms.load(std::sync::atomic::Ordering::Relaxed);
                if waited == 0 {
                    access.fetch(self.name, &scope.identity, request).await
                } else {
                    // Time spent waiting for the client does not eat the request's budget.
                    let budget = access
                        .budget()
                        .extended(std::time::Duration::from_millis(waited));
                    access
                        .clone()
                        .with_budget(budget)
                        .fetch(self.name, &scope.identity, request)
                        .await
                }
            }
            #[cfg(any(test, feature = "testing"))]
            Delegation::Fake(fakes) => match fakes.get(self.name) {
                Some(fake) => (fake.answer)(&scope.identity, request),
                None => Err(DelegationError::UnknownUpstream {
                    name: self.name.to_owned(),
                    configured: {
                        let mut names: Vec<&str> = fakes.keys().map(String::as_str).collect();
                        names.sort_unstable();
                        names.join(", ")
                    },
                }),
            },
        };
        result.map_err(|error| ToolError::Delegation {
            upstream: self.name.to_owned(),
            error,
        })
    }
}

/// A fake upstream for unit tests of tools (feature `testing`): a base URL and a function
/// answering each request (or failing it as the delegation would).
#[cfg(any(test, feature = "testing"))]
#[derive(Clone)]
pub struct FakeUpstream {
    url: String,
    #[allow(clippy::type_complexity)]
    answer: Arc<
        dyn Fn(&Identity, http::Request<Bytes>) -> Result<http::Response<Bytes>, DelegationError>
            + Send
            + Sync,
    >,
}

#[cfg(any(test, feature = "testing"))]
impl FakeUpstream {
    /// An upstream at `url` answering with `answer` (which sees the caller and the request).
    pub fn new(
        url: impl Into<String>,
        answer: impl Fn(
            &Identity,
            http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, DelegationError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            answer: Arc::new(answer),
        }
    }
}

/// Builds a [`ToolContext`] for unit tests of a tool (feature `testing`): a test identity
/// and fake upstreams. It can never reach a real token cache.
///
/// ```
/// use keycard_core::Identity;
/// use keycard_core::tools::{FakeUpstream, ToolContext};
///
/// let ctx = ToolContext::for_tests(Identity::for_tests("https://zone.test", Some("alice"), "cli"))
///     .upstream("default", FakeUpstream::new("https://api.test", |_, _| {
///         Ok(http::Response::new(bytes::Bytes::from_static(b"{}")))
///     }))
///     .build();
/// assert_eq!(ctx.identity().subject(), Some("alice"));
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Clone)]
#[must_use]
pub struct TestContext {
    identity: Identity,
    upstreams: HashMap<String, FakeUpstream>,
    version: ProtocolVersion,
    answers: Option<Vec<serde_json::Value>>,
}

#[cfg(any(test, feature = "testing"))]
impl ToolContext {
    /// Starts a test context for `identity` (see [`TestContext`]).
    pub fn for_tests(identity: Identity) -> TestContext {
        TestContext {
            identity,
            upstreams: HashMap::new(),
            version: ProtocolVersion::V2025_11_25,
            answers: None,
        }
    }
}

#[cfg(any(test, feature = "testing"))]
impl TestContext {
    /// Adds a fake upstream called `name`.
    pub fn upstream(mut self, name: impl Into<String>, fake: FakeUpstream) -> Self {
        self.upstreams.insert(name.into(), fake);
        self
    }

    /// Answers in protocol `version` (default 2025-11-25).
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Scripts the client's answer to the next question the tool asks
    /// ([`ToolContext::elicit`], [`ToolContext::sample`]), in order: an `ElicitResult`
    /// (`{"action": "accept", "content": {…}}`) or a `CreateMessageResult`
    /// (`{"role": "assistant", "content": {"type": "text", "text": …}, "model": …}`).
    /// Without any, a question fails as it does for a client that cannot be asked.
    ///
    /// ```
    /// # #[cfg(feature = "testing")] {
    /// use keycard_core::auth::Identity;
    /// use keycard_core::tools::{Elicited, ToolContext};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Name {
    ///     name: String,
    /// }
    ///
    /// let identity = Identity::for_tests("https://zone.example", Some("alice"), "cli");
    /// let ctx = ToolContext::for_tests(identity)
    ///     .answer(serde_json::json!({ "action": "accept", "content": { "name": "Ada" } }))
    ///     .answer(serde_json::json!({ "action": "decline" }))
    ///     .build();
    /// tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    ///     let first = ctx.elicit::<Name>("Your name?").await.unwrap();
    ///     assert_eq!(first.accepted().map(|n| n.name).as_deref(), Some("Ada"));
    ///     assert_eq!(ctx.elicit::<Name>("Again?").await.unwrap().action(), "decline");
    ///     assert!(ctx.elicit::<Name>("Once more?").await.is_err(), "no answer left");
    /// });
    /// # }
    /// ```
    pub fn answer(mut self, answer: serde_json::Value) -> Self {
        self.answers.get_or_insert_with(Vec::new).push(answer);
        self
    }

    /// The context.
    pub fn build(self) -> ToolContext {
        ToolContext {
            scope: Arc::new(Scope {
                identity: self.identity,
                delegation: Delegation::Fake(self.upstreams),
                version: self.version,
                notifier: None,
                input: match self.answers {
                    Some(answers) => InputChannel::Scripted(std::sync::Mutex::new(answers.into())),
                    None => InputChannel::Unavailable(
                        "a test context without scripted answers has no client to ask (TestContext::answer)",
                    ),
                },
                waited_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }
}
