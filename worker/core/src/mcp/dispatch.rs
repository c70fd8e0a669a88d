//! The MCP methods, per era.
//!
//! | method | legacy (2025-03-26 … 2025-11-25) | modern (2026-07-28) |
//! |---|---|---|
//! | `initialize` | version negotiation, capabilities, `serverInfo` | -32601 (no handshake) |
//! | `ping` | `{}` | -32601 |
//! | `server/discover` | -32601 | versions, capabilities, `serverInfo`, instructions |
//! | `tools/list` | `{tools}` | `{tools, ttlMs, cacheScope}` + `resultType` |
//! | `tools/call` | `CallToolResult`; unknown tool → `isError: true` | the same + `resultType`; unknown tool → -32602 |
//!
//! The unknown-tool rule differs on purpose: the project's issue (and the legacy SDKs'
//! behaviour) asks for an `isError` result the model can read, while the 2026-07-28 tools
//! page lists "Unknown tool" under protocol errors with code -32602.

use serde_json::{Map, Value, json};

use super::Endpoint;
use super::jsonrpc::RpcError;
use super::version::{Era, META_SERVER_INFO, ProtocolVersion};
use crate::auth::identity::Identity;
use crate::delegation::UpstreamAccess;
use crate::tools::ToolContext;
/// How long clients may cache `tools/list` and `server/discover` results (ms).
pub const LIST_TTL_MS: u64 = 300_000;
/// How long clients may cache `server/discover` results (ms).
pub const DISCOVER_TTL_MS: u64 = 3_600_000;

/// Answers one request; `Ok` is the `result` member.
pub async fn dispatch(
    server: &Endpoint,
    version: ProtocolVersion,
    method: &str,
    params: Map<String, Value>,
    identity: Identity,
    access: UpstreamAccess,
) -> Result<Value, RpcError> {
    match (version.era(), method) {
        (Era::Legacy, "initialize") => initialize(server, &params),
        (Era::Legacy, "ping") => Ok(json!({})),
        (Era::Modern, "server/discover") => Ok(complete(discover(server))),
        (era, "tools/list") => {
            if params.contains_key("cursor") {
                return Err(RpcError::InvalidParams(
                    "invalid cursor: this server lists every tool in one page and never issues cursors".into(),
                ));
            }
            let tools: Vec<Value> = server
                .server
                .tools()
                .iter()
                .map(|t| t.definition().to_json(version.has_structured_tools()))
                .collect();
            Ok(match era {
                Era::Legacy => json!({ "tools": tools }),
                Era::Modern => complete(json!({
                    "tools": tools,
                    "ttlMs": LIST_TTL_MS,
                    "cacheScope": "public",
                })),
            })
        }
        (era, "tools/call") => {
            let (name, args) = call_params(&params)?;
            let tools = server.server.tools();
            if era == Era::Modern && tools.get(name).is_none() {
                return Err(RpcError::InvalidParams(format!(
                    "Unknown tool: {name} (available: {})",
                    tools.names()
                )));
            }
            tracing::debug!(tool = name, "tools/call");
            let ctx = ToolContext::live(identity, access, version);
            let output = tools.call(name, ctx, args).await;
            let result = output.to_result(version);
            Ok(match era {
                Era::Legacy => result,
                Era::Modern => complete(result),
            })
        }
        (_, other) => Err(RpcError::MethodNotFound(format!(
            "{other} (protocol version {}; this server offers {})",
            version.as_str(),
            match version.era() {
                Era::Legacy => "initialize, ping, tools/list, tools/call",
                Era::Modern => "server/discover, tools/list, tools/call",
            }
        ))),
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
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": server_info(server, negotiated.has_structured_tools()),
        "instructions": instructions(server),
    }))
}

fn discover(server: &Endpoint) -> Value {
    let info = server_info(server, true);
    json!({
        "supportedVersions": ProtocolVersion::supported_strings(),
        "capabilities": { "tools": { "listChanged": false } },
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
