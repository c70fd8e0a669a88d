//! The MCP methods, per era.
//!
//! | method | legacy (2025-03-26 … 2025-11-25) | modern (2026-07-28) |
//! |---|---|---|
//! | `initialize` | version negotiation, capabilities, `serverInfo` | -32601 (no handshake) |
//! | `ping` | `{}` | -32601 |
//! | `logging/setLevel` | `{}` (acknowledged, see below) | -32601 (removed in 2026-07-28) |
//! | `server/discover` | -32601 | versions, capabilities, `serverInfo`, instructions |
//! | `tools/list` | `{tools, nextCursor?}` | the same + `ttlMs`, `cacheScope`, `resultType` |
//! | `tools/call` | `CallToolResult`; unknown tool → `isError: true`; missing upstream consent → -32042 (2025-11-25, URL mode declared in `_meta` or at the session's `initialize`, see [`super::elicitation`]) | the same + `resultType`; unknown tool → -32602; missing consent → -32042 when URL mode is declared |
//! | `resources/list`, `resources/templates/list` | `{resources\|resourceTemplates, nextCursor?}` | the same + `ttlMs`, `cacheScope`, `resultType` |
//! | `resources/read` | `{contents}`; unknown URI → -32002 with `data.uri` | the same + `ttlMs: 0`, `cacheScope: "private"`, `resultType`; unknown URI → -32602 (SEP-2164) |
//! | `prompts/list` | `{prompts, nextCursor?}` | the same + `ttlMs`, `cacheScope`, `resultType` |
//! | `prompts/get` | `{description?, messages}`; unknown prompt or bad arguments → -32602 | the same + `resultType` |
//! | `completion/complete` | `{completion: {values, total, hasMore}}`; unknown reference → -32602 | the same + `resultType` |
//!
//! Resource, prompt and completion methods exist only when the server registers
//! resources, prompts or completers (the capabilities `initialize` and `server/discover`
//! declare follow the same rule, all with `listChanged: false`); otherwise they are
//! -32601. List cursors are described in [`super::pagination`].
//!
//! The unknown-tool rule differs on purpose: the project's issue (and the legacy SDKs'
//! behaviour) asks for an `isError` result the model can read, while the 2026-07-28 tools
//! page lists "Unknown tool" under protocol errors with code -32602.
//!
//! **Logging.** Both eras declare the `logging` capability: handlers send
//! `notifications/message` through [`ToolContext::log`] on the SSE answer to their call
//! (see [`super::notify`]). The legacy eras answer `logging/setLevel` with `{}` after
//! checking the level; within an MCP session (`Mcp-Session-Id`, when the host keeps
//! sessions) the session remembers it for its later calls, and without one nothing
//! carries it to a later call. Legacy calls log at the level their own
//! `_meta["io.modelcontextprotocol/logLevel"]` names, else at the session's level, else
//! at `info` and above. The
//! 2026-07-28 revision removed `logging/setLevel` (-32601 there): a call logs only when
//! its `_meta` names a level, as that revision requires.

use serde_json::{Map, Value, json};

use super::Endpoint;
use super::elicitation;
use super::jsonrpc::RpcError;
use super::pagination;
use super::version::{Era, META_SERVER_INFO, ProtocolVersion};
use crate::auth::identity::Identity;
use crate::completion::{self, CompletionRequest};
use crate::delegation::UpstreamAccess;
use crate::prompts::PromptError;
use crate::resources::ResourceError;
use crate::tools::{ToClient, ToolContext, ToolError};
/// How long clients may cache `tools/list` and `server/discover` results (ms).
pub const LIST_TTL_MS: u64 = 300_000;
/// How long clients may cache `server/discover` results (ms).
pub const DISCOVER_TTL_MS: u64 = 3_600_000;

/// The levels `logging/setLevel` accepts (RFC 5424 severities).
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Answers one request; `Ok` is the `result` member. `to_client` carries the handler's
/// notifications (see [`super::notify`]) and questions (see [`crate::tools::input`]).
pub(crate) async fn dispatch(
    server: &Endpoint,
    version: ProtocolVersion,
    method: &str,
    params: Map<String, Value>,
    identity: Identity,
    access: UpstreamAccess,
    to_client: ToClient,
) -> Result<Value, RpcError> {
    let era = version.era();
    let s = &server.server;
    let ctx = move || ToolContext::live(identity, access, version, to_client);
    match (era, method) {
        (Era::Legacy, "initialize") => initialize(server, &params),
        (Era::Legacy, "ping") => Ok(json!({})),
        (Era::Legacy, "logging/setLevel") => set_level(&params),
        (Era::Modern, "server/discover") => Ok(complete(discover(server))),
        (_, "tools/list") => {
            let tools: Vec<_> = s.tools().iter().collect();
            let (range, next) = pagination::page("tools", tools.len(), params.get("cursor"))?;
            let tools: Vec<Value> = tools[range]
                .iter()
                .map(|t| t.definition().to_json(version.has_structured_tools()))
                .collect();
            Ok(listed(era, "tools", tools, next))
        }
        (era, "tools/call") => {
            let (name, args) = call_params(&params)?;
            let tools = s.tools();
            if era == Era::Modern && tools.get(name).is_none() {
                return Err(RpcError::InvalidParams(format!(
                    "Unknown tool: {name} (available: {})",
                    tools.names()
                )));
            }
            tracing::debug!(tool = name, "tools/call");
            let ctx = ctx();
            let mut output = tools.call(name, ctx.clone(), args).await;
            if let Some(asked) = ctx.input_required() {
                return Ok(asked);
            }
            if let Some(elicitation) = output.url_elicitation.take()
                && (elicitation::accepts_url_elicitation(version, &params)
                    || (elicitation::has_url_mode(version)
                        && ctx.session_declares_url_elicitation()))
            {
                return Err(RpcError::UrlElicitationRequired {
                    message: output.all_text(),
                    elicitations: vec![*elicitation],
                });
            }
            let result = output.to_result(version);
            Ok(match era {
                Era::Legacy => result,
                Era::Modern => complete(result),
            })
        }
        (_, "resources/list") if s.has_resources() => {
            let all = s.resources();
            let (range, next) = pagination::page("resources", all.len(), params.get("cursor"))?;
            let items = all[range].iter().map(|r| r.to_json(version)).collect();
            Ok(listed(era, "resources", items, next))
        }
        (_, "resources/templates/list") if s.has_resources() => {
            let all = s.resource_templates();
            let (range, next) =
                pagination::page("resources/templates", all.len(), params.get("cursor"))?;
            let items = all[range].iter().map(|t| t.to_json(version)).collect();
            Ok(listed(era, "resourceTemplates", items, next))
        }
        (_, "resources/read") if s.has_resources() => {
            let uri = string_param(&params, "uri")?;
            tracing::debug!(uri, "resources/read");
            let ctx = ctx();
            let read = if let Some(r) = s.resources().iter().find(|r| r.uri() == uri) {
                r.read(ctx.clone()).await
            } else if let Some(t) = s
                .resource_templates()
                .iter()
                .find(|t| t.matches(uri).is_some())
            {
                t.read(ctx.clone(), uri).await
            } else {
                Err(ResourceError::NotFound(uri.to_owned()))
            };
            if let Some(asked) = ctx.input_required() {
                return Ok(asked);
            }
            let contents = read.map_err(|e| resource_error(e, era))?;
            let contents: Vec<Value> = contents.iter().map(|c| c.to_json()).collect();
            Ok(match era {
                Era::Legacy => json!({ "contents": contents }),
                Era::Modern => complete(json!({
                    "contents": contents,
                    "ttlMs": 0,
                    "cacheScope": "private",
                })),
            })
        }
        (_, "prompts/list") if s.has_prompts() => {
            let all = s.prompts();
            let (range, next) = pagination::page("prompts", all.len(), params.get("cursor"))?;
            let items = all[range].iter().map(|p| p.to_json(version)).collect();
            Ok(listed(era, "prompts", items, next))
        }
        (_, "prompts/get") if s.has_prompts() => {
            let name = string_param(&params, "name")?;
            let Some(prompt) = s.prompts().iter().find(|p| p.name() == name) else {
                return Err(RpcError::InvalidParams(format!(
                    "Unknown prompt: {name} (available: {})",
                    s.prompts()
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let args = match params.get("arguments") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(a)) => a.clone(),
                Some(_) => {
                    return Err(RpcError::InvalidParams(
                        "params.arguments must be an object of strings".into(),
                    ));
                }
            };
            tracing::debug!(prompt = name, "prompts/get");
            let ctx = ctx();
            let output = prompt.get(ctx.clone(), args).await;
            if let Some(asked) = ctx.input_required() {
                return Ok(asked);
            }
            let output = output.map_err(|e| match e {
                PromptError::InvalidArguments(m) => RpcError::InvalidParams(m),
                other => RpcError::HandlerFailed(other.to_string()),
            })?;
            let result = output.to_json(version);
            Ok(match era {
                Era::Legacy => result,
                Era::Modern => complete(result),
            })
        }
        (_, "completion/complete") if s.has_completions() => {
            let values = complete_argument(server, &params, ctx()).await?;
            let result = json!({ "completion": completion::to_json(values) });
            Ok(match era {
                Era::Legacy => result,
                Era::Modern => complete(result),
            })
        }
        (_, other) => Err(RpcError::MethodNotFound(format!(
            "{other} (protocol version {}; this server offers {})",
            version.as_str(),
            offered(server, era).join(", ")
        ))),
    }
}

/// The methods this server answers in `era`.
fn offered(server: &Endpoint, era: Era) -> Vec<&'static str> {
    let s = &server.server;
    let mut methods = match era {
        Era::Legacy => vec!["initialize", "ping", "logging/setLevel"],
        Era::Modern => vec!["server/discover"],
    };
    methods.extend(["tools/list", "tools/call"]);
    if s.has_resources() {
        methods.extend([
            "resources/list",
            "resources/templates/list",
            "resources/read",
        ]);
    }
    if s.has_prompts() {
        methods.extend(["prompts/list", "prompts/get"]);
    }
    if s.has_completions() {
        methods.push("completion/complete");
    }
    methods
}

/// The capabilities declared in `era`: what is registered, nothing more.
fn capabilities(server: &Endpoint, era: Era) -> Value {
    let s = &server.server;
    let mut caps = Map::new();
    caps.insert("tools".into(), json!({ "listChanged": false }));
    // Both eras: calls may send notifications/message (2026-07-28: when the request's
    // _meta names a log level), and the revisions require declaring it.
    caps.insert("logging".into(), json!({}));
    if s.has_resources() {
        // Subscriptions live in a session (legacy revisions; 2026-07-28 removed them).
        let subscribe = era == Era::Legacy && server.has_sessions();
        caps.insert(
            "resources".into(),
            if subscribe {
                json!({ "listChanged": false, "subscribe": true })
            } else {
                json!({ "listChanged": false })
            },
        );
    }
    if s.has_prompts() {
        caps.insert("prompts".into(), json!({ "listChanged": false }));
    }
    if s.has_completions() {
        caps.insert("completions".into(), json!({}));
    }
    Value::Object(caps)
}

/// A list result: `{key: items, nextCursor?}`, plus the modern cache hints.
fn listed(era: Era, key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = Map::new();
    out.insert(key.into(), Value::Array(items));
    if let Some(cursor) = next {
        out.insert("nextCursor".into(), cursor.into());
    }
    if era == Era::Modern {
        out.insert("ttlMs".into(), LIST_TTL_MS.into());
        out.insert("cacheScope".into(), "public".into());
        return complete(Value::Object(out));
    }
    Value::Object(out)
}

fn resource_error(error: ResourceError, era: Era) -> RpcError {
    match (error, era) {
        (ResourceError::NotFound(uri), Era::Legacy) => RpcError::ResourceNotFound { uri },
        (ResourceError::NotFound(uri), Era::Modern) => {
            RpcError::InvalidParams(format!("Resource not found: {uri}"))
        }
        (other, _) => RpcError::HandlerFailed(other.to_string()),
    }
}

fn set_level(params: &Map<String, Value>) -> Result<Value, RpcError> {
    match params.get("level").and_then(Value::as_str) {
        Some(level) if LOG_LEVELS.contains(&level) => Ok(json!({})),
        _ => Err(RpcError::InvalidParams(format!(
            "params.level must be one of {}",
            LOG_LEVELS.join(", ")
        ))),
    }
}

fn string_param<'p>(params: &'p Map<String, Value>, key: &str) -> Result<&'p str, RpcError> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::InvalidParams(format!("params.{key} must be a string")))
}

/// `completion/complete`: finds the prompt or template the reference names and asks its
/// completer.
async fn complete_argument(
    server: &Endpoint,
    params: &Map<String, Value>,
    ctx: ToolContext,
) -> Result<Vec<String>, RpcError> {
    let s = &server.server;
    let reference = params
        .get("ref")
        .and_then(Value::as_object)
        .ok_or_else(|| RpcError::InvalidParams("params.ref must be an object".into()))?;
    let argument = params
        .get("argument")
        .and_then(Value::as_object)
        .ok_or_else(|| RpcError::InvalidParams("params.argument must be an object".into()))?;
    let name = string_param(argument, "name")
        .map_err(|_| RpcError::InvalidParams("params.argument.name must be a string".into()))?;
    let value = string_param(argument, "value")
        .map_err(|_| RpcError::InvalidParams("params.argument.value must be a string".into()))?;
    let mut request = CompletionRequest::new(name, value);
    if let Some(Value::Object(args)) = params.get("context").and_then(|c| c.get("arguments")) {
        request.context = args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
    }
    let failed = |e: ToolError| RpcError::HandlerFailed(e.to_string());
    match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let wanted = string_param(reference, "name")
                .map_err(|_| RpcError::InvalidParams("params.ref.name must be a string".into()))?;
            let prompt = s
                .prompts()
                .iter()
                .find(|p| p.name() == wanted)
                .ok_or_else(|| RpcError::InvalidParams(format!("Unknown prompt: {wanted}")))?;
            prompt.complete(ctx, request).await.map_err(failed)
        }
        Some("ref/resource") => {
            let wanted = string_param(reference, "uri")
                .map_err(|_| RpcError::InvalidParams("params.ref.uri must be a string".into()))?;
            let template = s
                .resource_templates()
                .iter()
                .find(|t| t.uri_template() == wanted)
                .ok_or_else(|| {
                    RpcError::InvalidParams(format!("Unknown resource template: {wanted}"))
                })?;
            template.complete(ctx, request).await.map_err(failed)
        }
        _ => Err(RpcError::InvalidParams(
            "params.ref.type must be \"ref/prompt\" or \"ref/resource\"".into(),
        )),
    }
}

fn initialize(server: &Endpoint, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let requested = match params.get("protocolVersion") {
        Some(Value::String(v)) => v.as_str(),
        Some(_) => {
            return Err(RpcError::InvalidParams(
                "params.protocolVersion must be a string".into(),
            ));
        }
        None => {
            return Err(RpcError::InvalidParams(
                "params.protocolVersion is required".into(),
            ));
        }
    };
    // Echo a supported legacy version; otherwise answer the latest legacy one and let the
    // client decide whether it can speak it.
    let negotiated = ProtocolVersion::parse(requested)
        .filter(|v| v.era() == Era::Legacy)
        .unwrap_or(ProtocolVersion::LATEST_LEGACY);
    Ok(json!({
        "protocolVersion": negotiated.as_str(),
        "capabilities": capabilities(server, Era::Legacy),
        "serverInfo": server_info(server, negotiated.has_structured_tools()),
        "instructions": instructions(server),
    }))
}

fn discover(server: &Endpoint) -> Value {
    let info = server_info(server, true);
    json!({
        "supportedVersions": ProtocolVersion::supported_strings(),
        "capabilities": capabilities(server, Era::Modern),
        "serverInfo": info,
        "instructions": instructions(server),
        "ttlMs": DISCOVER_TTL_MS,
        "cacheScope": "public",
        "_meta": { META_SERVER_INFO: info },
    })
}

fn server_info(server: &Endpoint, with_title: bool) -> Value {
    let mut info = Map::new();
    info.insert("name".into(), server.server.name().into());
    if with_title {
        let title = server
            .server
            .title_text()
            .unwrap_or(&server.config.resource_name);
        info.insert("title".into(), title.into());
    }
    info.insert("version".into(), server.server.version().into());
    Value::Object(info)
}

fn instructions(server: &Endpoint) -> String {
    match server.server.instructions_text() {
        Some(text) => text.to_owned(),
        None => format!(
            "{}: an MCP server protected by Keycard. Tools: {}. Every call acts as the signed-in user; \
             tools that reach an upstream API use a token Keycard issues for that user.",
            server.config.resource_name,
            server.server.tools().names()
        ),
    }
}

/// Adds `resultType: "complete"` (every modern result carries it).
fn complete(mut result: Value) -> Value {
    if let Value::Object(map) = &mut result {
        map.insert("resultType".into(), "complete".into());
    }
    result
}

fn call_params(params: &Map<String, Value>) -> Result<(&str, Map<String, Value>), RpcError> {
    let name = match params.get("name") {
        Some(Value::String(n)) => n.as_str(),
        _ => {
            return Err(RpcError::InvalidParams(
                "params.name must be a string naming the tool".into(),
            ));
        }
    };
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => {
            return Err(RpcError::InvalidParams(
                "params.arguments must be an object".into(),
            ));
        }
    };
    Ok((name, args))
}
