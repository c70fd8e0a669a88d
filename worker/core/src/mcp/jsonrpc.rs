//! JSON-RPC 2.0 as MCP uses it: one message per POST body, no batches.
//!
//! [`parse`] classifies a body into a request, a notification or a (client-sent)
//! response, or fails with the exact JSON-RPC error: -32700 for bytes that are not JSON,
//! -32600 for JSON that is not a single valid message (including batches, removed in
//! 2025-06-18), -32602 for `params` that are not an object.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A request id: a string or a number (MCP forbids `null`), echoed verbatim.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct RequestId(Value);

impl RequestId {
    /// The id as a JSON value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

/// One parsed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request: an answer is owed.
    Request {
        /// Its id.
        id: RequestId,
        /// The method.
        method: String,
        /// `params`, when present.
        params: Option<Map<String, Value>>,
    },
    /// A notification: no answer (HTTP 202).
    Notification {
        /// The method.
        method: String,
        /// `params`, when present.
        params: Option<Map<String, Value>>,
    },
    /// A response (to a server-initiated request): acknowledged with 202, and handed to
    /// the call waiting for it when it belongs to a session.
    Response {
        /// The id of the server's request it answers.
        id: RequestId,
        /// The whole message (`result` or `error`).
        message: Map<String, Value>,
    },
}

/// A JSON-RPC error, with the code the MCP specification assigns to it. The `Display`
/// text is the error's `message`; it never contains a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// -32700: the body is not JSON.
    #[error("Parse error: {0}")]
    Parse(String),
    /// -32600: the JSON is not a single valid JSON-RPC message.
    #[error("Invalid Request: {0}")]
    InvalidRequest(String),
    /// -32601: the method does not exist (in this protocol version).
    #[error("Method not found: {0}")]
    MethodNotFound(String),
    /// -32602: the parameters are invalid.
    #[error("Invalid params: {0}")]
    InvalidParams(String),
    /// -32603: the server failed.
    #[error("Internal error: {0}")]
    Internal(String),
    /// -32603 from a handler (resource read, prompt, completion) that failed in words
    /// the caller can act on (an upstream refused, a delegation failed): the message is
    /// the handler's, never a token.
    #[error("{0}")]
    HandlerFailed(String),
    /// -32002 (2025-03-26 … 2025-11-25): no resource at this URI; `data.uri` names it.
    /// The 2026-07-28 revision answers -32602 instead (SEP-2164).
    #[error("Resource not found: {uri}")]
    ResourceNotFound {
        /// The URI asked for.
        uri: String,
    },
    /// -32020 (2026-07-28 `HeaderMismatch`): a mirrored header is missing, malformed or
    /// disagrees with the body.
    #[error("Header mismatch: {0}")]
    HeaderMismatch(String),
    /// -32042 (`URLElicitationRequiredError`, 2025-11-25 and later): the request can be
    /// retried once the user has completed the listed URL-mode elicitations (see
    /// [`super::elicitation`]). The message is the plain explanation.
    #[error("{message}")]
    UrlElicitationRequired {
        /// What the user must do, in words.
        message: String,
        /// The URL-mode elicitations (never empty).
        elicitations: Vec<super::elicitation::UrlElicitation>,
    },
    /// -32022 (2026-07-28 `UnsupportedProtocolVersionError`): `data` lists the supported
    /// versions.
    #[error("Unsupported protocol version: {requested:?}")]
    UnsupportedVersion {
        /// What the client asked for.
        requested: String,
    },
}

impl RpcError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::InvalidRequest(_) => -32600,
            Self::MethodNotFound(_) => -32601,
            Self::InvalidParams(_) => -32602,
            Self::Internal(_) | Self::HandlerFailed(_) => -32603,
            Self::ResourceNotFound { .. } => -32002,
            Self::HeaderMismatch(_) => -32020,
            Self::UnsupportedVersion { .. } => -32022,
            Self::UrlElicitationRequired { .. } => -32042,
        }
    }

    /// The error's `data` member, if any.
    pub fn data(&self) -> Option<Value> {
        match self {
            Self::UnsupportedVersion { requested } => Some(json!({
                "supported": super::version::ProtocolVersion::supported_strings(),
                "requested": requested,
            })),
            Self::ResourceNotFound { uri } => Some(json!({ "uri": uri })),
            Self::UrlElicitationRequired { elicitations, .. } => Some(json!({
                "elicitations": elicitations.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
            })),
            _ => None,
        }
    }
}

/// A success response.
pub fn success(id: &RequestId, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response. `id` is `null` when the request's id could not be determined
/// (JSON-RPC 2.0 §5).
pub fn failure(id: Option<&RequestId>, error: &RpcError) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), error.code().into());
    body.insert("message".into(), error.to_string().into());
    if let Some(data) = error.data() {
        body.insert("data".into(), data);
    }
    json!({
        "jsonrpc": "2.0",
        "id": id.map_or(Value::Null, |id| id.0.clone()),
        "error": body,
    })
}

/// Parses one POST body. On failure, the id is returned when it could be read so the
/// error response can echo it. A batch (a JSON array) is refused here; the 2025-03-26
/// era reads batches with [`parse_json`] and [`classify`].
pub fn parse(body: &[u8]) -> Result<Incoming, (Option<RequestId>, RpcError)> {
    classify(parse_json(body)?)
}

/// The refusal of a batch outside 2025-03-26.
pub fn batch_refused() -> RpcError {
    RpcError::InvalidRequest(
        "JSON-RPC batches are not supported (removed in MCP 2025-06-18): send one message per request".into(),
    )
}

/// The body as JSON (-32700 when it is not).
pub fn parse_json(body: &[u8]) -> Result<Value, (Option<RequestId>, RpcError)> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_eof() && body.iter().all(u8::is_ascii_whitespace) {
            "the request body is empty; expected one JSON-RPC message".to_owned()
        } else {
            format!("the request body is not valid JSON ({e})")
        };
        (None, RpcError::Parse(what))
    })
}

/// Classifies one JSON value as a message (an array is refused as a batch).
pub fn classify(value: Value) -> Result<Incoming, (Option<RequestId>, RpcError)> {
    let mut object = match value {
        Value::Object(o) => o,
        Value::Array(_) => return Err((None, batch_refused())),
        _ => {
            return Err((
                None,
                RpcError::InvalidRequest("the body must be a JSON-RPC message object".into()),
            ));
        }
    };

    let id = match object.remove("id") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(RequestId(v)),
        Some(Value::Null) => {
            return Err((
                None,
                RpcError::InvalidRequest("id must be a string or a number, not null".into()),
            ));
        }
        Some(_) => {
            return Err((
                None,
                RpcError::InvalidRequest("id must be a string or a number".into()),
            ));
        }
    };
    let invalid =
        |id: &Option<RequestId>, msg: &str| (id.clone(), RpcError::InvalidRequest(msg.into()));

    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&id, "jsonrpc must be \"2.0\""));
    }

    let method = match object.remove("method") {
        Some(Value::String(m)) if !m.is_empty() => m,
        Some(_) => return Err(invalid(&id, "method must be a non-empty string")),
        None => {
            let is_response = object.contains_key("result") ^ object.contains_key("error");
            return match id {
                Some(id) if is_response => Ok(Incoming::Response {
                    id,
                    message: object,
                }),
                _ => Err(invalid(
                    &id,
                    "expected a request (method and id), a notification (method) or a response (id and result or error)",
                )),
            };
        }
    };

    let params = match object.remove("params") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            return Err((
                id,
                RpcError::InvalidParams("params must be an object".into()),
            ));
        }
    };

    Ok(match id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method, params },
    })
}
