//! THE mapping from every outcome of a request to its HTTP status and body. No other
//! module of the core names a status: they return typed outcomes and errors, and the
//! functions here turn them into responses.
//!
//! Two body shapes:
//!
//! * **OAuth-style** (RFC 6749 §5.2 / RFC 6750): `{"error": "...", "error_description": "..."}`
//!   for everything outside an MCP message — authentication, routing, limits, metadata,
//!   configuration;
//! * **JSON-RPC** for the MCP endpoint: a JSON-RPC error object (transport refusals carry no
//!   `id` and code -32000; message errors carry the code of [`RpcError`]).
//!
//! | outcome | status | body |
//! |---|---|---|
//! | success (metadata, health, JWKS, MCP result) | 200 | the document / JSON-RPC result |
//! | notification or client response accepted | 202 | empty |
//! | CORS preflight | 204 | empty |
//! | no `Authorization` / bad token / unknown key | 401 + `WWW-Authenticate` | OAuth |
//! | malformed `Authorization` | 400 + `WWW-Authenticate` | OAuth |
//! | missing scope | 403 + `WWW-Authenticate` | OAuth |
//! | signing keys unobtainable | 503 + `Retry-After` | OAuth |
//! | headers over `KEYCARD_MAX_HEADER_BYTES` | 431 | OAuth |
//! | request URI not absolute | 400 | OAuth |
//! | request origin not in `KEYCARD_PUBLIC_ORIGINS` | 421 | OAuth (`misdirected_request`) |
//! | a singleton header sent twice, outside `/mcp` | 400 | OAuth (`invalid_request`) |
//! | unknown path | 404 | OAuth |
//! | wrong method on a metadata path | 405 + `Allow` | OAuth |
//! | issuer metadata unobtainable (AS-metadata proxy) | 502 | OAuth |
//! | deployment misconfigured | 500 | OAuth (`server_misconfigured`) |
//! | MCP transport refusal ([`TransportError`]) | 405 / 403 / 406 / 413 / 400 / 415 | JSON-RPC |
//! | ↳ a singleton header sent twice on `/mcp` ([`TransportError::DuplicateHeader`]) | 400 | JSON-RPC |
//! | MCP message error ([`RpcError`]) | see [`rpc_status`] | JSON-RPC |
//! | 2025-03-26 batch | 200 (202 when it holds no request) | array of JSON-RPC responses |

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::error::{
    AuthError, ErrorKind, challenge, error_body_bytes, sanitized_description,
};
use crate::auth::jwks::KeyringError;
use crate::mcp::jsonrpc::{self, RequestId, RpcError};
use crate::mcp::transport::TransportError;
use crate::mcp::version::Era;

/// A JSON response with `Content-Type: application/json`.
fn json_with(status: StatusCode, body: &Value) -> Response<Bytes> {
    bytes_with(
        status,
        Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    )
}

fn bytes_with(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 200 `text/event-stream`: an MCP call answered with its notifications and then its
/// JSON-RPC response, streamed (see [`crate::mcp::notify`]). Not cached, not buffered by
/// proxies that honor `X-Accel-Buffering`.
pub fn event_stream(
    events: crate::http::body::BodyStream<'_>,
) -> Response<crate::http::body::Body<'_>> {
    let mut response = Response::new(crate::http::body::Body::Stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// An OAuth-style error body.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response<Bytes> {
    json_with(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

/// 200 with a JSON document.
pub fn ok_json(body: &Value) -> Response<Bytes> {
    json_with(StatusCode::OK, body)
}

/// 200 with an already serialised JSON document.
pub fn ok_json_bytes(body: Bytes) -> Response<Bytes> {
    bytes_with(StatusCode::OK, body)
}

/// `202 Accepted` with an empty body (notifications and client responses).
pub fn accepted() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// `204 No Content` (the CORS preflight; [`crate::http::cors`] adds its headers).
pub fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// 404 for a request naming a session that does not exist for it (never opened,
/// expired, deleted, another zone's or another identity's — one answer for all): the
/// client starts a new one with `initialize`. JSON-RPC error -32001 "Session not found",
/// as the official SDKs answer.
pub fn session_not_found() -> Response<Bytes> {
    json_with(
        StatusCode::NOT_FOUND,
        &serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32001, "message": "Session not found: send initialize without Mcp-Session-Id to start a new session" },
        }),
    )
}

/// 503 when the session store did not answer (the request is not guessed at).
pub fn session_store_unavailable(error: &crate::session::SessionStoreError) -> Response<Bytes> {
    tracing::warn!(error = %error, "session store unavailable");
    let mut response = json_with(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32603, "message": "the session store is unavailable; retry shortly" },
        }),
    );
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    response
}

/// The HTTP status of an authentication failure.
pub fn auth_status(err: &AuthError) -> StatusCode {
    match err.kind() {
        ErrorKind::NoCredentials | ErrorKind::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An authentication failure: status, RFC 6750 challenge (with `resource_metadata` and
/// the full required `scope`), `Retry-After` for 503, `Cache-Control: no-store`. Logs 5xx
/// causes at `warn` and client errors at `debug`; never the token.
pub fn auth_error(
    err: &AuthError,
    resource_metadata_url: &str,
    required_scopes: &[String],
) -> Response<Bytes> {
    let status = auth_status(err);
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), error = %err, "authentication unavailable");
    } else {
        tracing::debug!(status = status.as_u16(), error = %err, "authentication refused");
    }
    // Sanitized once, for the body and the challenge.
    let description = sanitized_description(err);
    let mut response = bytes_with(status, Bytes::from(error_body_bytes(err, &description)));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut challenge_says_all = false;
    if let Some(text) = challenge(err, &description, resource_metadata_url, required_scopes)
        && let Ok(value) = HeaderValue::from_str(&text)
    {
        headers.insert(header::WWW_AUTHENTICATE, value);
        // A refused token's challenge repeats the body's `error` and `error_description`
        // (both come from `err.code()` and the sanitized description; the test
        // `a_refused_tokens_401_loses_only_what_its_challenge_repeats` checks every error).
        challenge_says_all = err.kind() == ErrorKind::InvalidToken;
    }
    if let AuthError::Keyring(KeyringError::Unavailable {
        retry_after_secs, ..
    }) = err
    {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    if challenge_says_all {
        response.extensions_mut().insert(ChallengeSaysAll);
    }
    response
}

/// Marks a 401 whose `WWW-Authenticate` challenge carries everything its body says: the
/// same `error` and `error_description` (RFC 6750 §3). Set by [`auth_error`] when it
/// builds the answer (a refused token's challenge does; a missing token's does not), read
/// by [`strip_to_challenge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChallengeSaysAll;

/// Drops `response`'s body (and its `Content-Type`/`Content-Length`) when it is a 401
/// whose `WWW-Authenticate` challenge already carries everything the body says: the same
/// `error` and `error_description` (RFC 6750 §3; a refused token's challenge does, a
/// missing token's does not). Returns whether it did; any other response is left as it is.
/// The decision was made when [`auth_error`] built the answer, so this costs no parsing;
/// it is meant for that answer as built (a mark survives later edits of the challenge or
/// the body, so strip before changing either).
///
/// For a host that answers before reading the request's body: the wasm host sends a
/// refused token's 401 this way, because workerd answers a `POST` whose body is left
/// unread much faster when the answer has no body (measured with JS hello-world Workers
/// under `wrk -t1 -c10`: 0.18 ms of CPU per request without a body against 0.32 ms with
/// one; an empty Rust Worker that reads the request body and answers with a body,
/// 0.22 ms; see `docs/performance.md`).
///
/// ```
/// use keycard_core::auth::error::AuthError;
/// use keycard_core::http::response::{auth_error, strip_to_challenge};
///
/// let prm = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
/// let scopes = ["mcp:tools".to_owned()];
/// let mut refused = auth_error(&AuthError::BadSignature, prm, &scopes);
/// assert!(strip_to_challenge(&mut refused));
/// assert!(refused.body().is_empty());
/// assert!(refused.headers().get("content-type").is_none());
/// let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
/// assert!(challenge.contains(r#"error="invalid_token""#));
///
/// // Without a token the body says more than the challenge: it stays.
/// use keycard_core::auth::bearer::BearerError;
/// let mut missing = auth_error(&AuthError::Bearer(BearerError::Missing), prm, &scopes);
/// assert!(!strip_to_challenge(&mut missing));
/// assert!(!missing.body().is_empty());
/// ```
pub fn strip_to_challenge(response: &mut Response<Bytes>) -> bool {
    if response.status() != StatusCode::UNAUTHORIZED
        || response.extensions().get::<ChallengeSaysAll>().is_none()
    {
        return false;
    }
    *response.body_mut() = Bytes::new();
    response.headers_mut().remove(header::CONTENT_TYPE);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    true
}

/// The HTTP status of an MCP transport refusal.
pub fn transport_status(err: &TransportError) -> StatusCode {
    match err {
        TransportError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        TransportError::ForbiddenOrigin(_) => StatusCode::FORBIDDEN,
        TransportError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        TransportError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        TransportError::BadContentLength | TransportError::DuplicateHeader(_) => {
            StatusCode::BAD_REQUEST
        }
        TransportError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    }
}

/// An MCP transport refusal: a JSON-RPC error without `id` (code -32000, the
/// implementation-defined server error the SDKs use for transport refusals); 405 carries
/// `Allow`.
pub fn transport_error(err: &TransportError) -> Response<Bytes> {
    let body = json!({
        "jsonrpc": "2.0",
        "error": { "code": -32000, "message": err.to_string() },
    });
    let mut response = json_with(transport_status(err), &body);
    if matches!(err, TransportError::MethodNotAllowed(_)) {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    }
    response
}

/// The HTTP status carrying a JSON-RPC error in `era`: -32700, -32600, -32020 and -32022
/// are 400 in every era; in the 2026-07-28 era -32601 is 404 and -32602 is 400, as its
/// transport page requires; in the legacy era those two travel with 200, like the
/// reference SDKs, and so does -32002 (resource not found, legacy only). -32603 is 500
/// when the server itself failed ([`RpcError::Internal`]) and 200 when a resource,
/// prompt or completion handler reported a failure ([`RpcError::HandlerFailed`]: the
/// request was served, the answer is an error), in both eras, like the Python SDK's
/// status table. -32042 (URL elicitation required) is 200 too: the call was served and
/// its answer is "consent first".
pub fn rpc_status(error: &RpcError, era: Era) -> StatusCode {
    match (error, era) {
        (RpcError::Internal(_), _) => StatusCode::INTERNAL_SERVER_ERROR,
        (RpcError::HandlerFailed(_) | RpcError::UrlElicitationRequired { .. }, _) => StatusCode::OK,
        (RpcError::MethodNotFound(_), Era::Modern) => StatusCode::NOT_FOUND,
        (
            RpcError::MethodNotFound(_)
            | RpcError::InvalidParams(_)
            | RpcError::ResourceNotFound { .. },
            Era::Legacy,
        ) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A JSON-RPC error response in `era` (`id` null when it could not be read).
pub fn rpc_error(id: Option<&RequestId>, error: &RpcError, era: Era) -> Response<Bytes> {
    json_with(rpc_status(error, era), &jsonrpc::failure(id, error))
}

/// The answer to a 2025-03-26 JSON-RPC batch: 200 with the array of responses (one per
/// request, in order; none for notifications and client responses), or 202 with no body
/// when there is none. Errors inside a batch travel in its entries, whatever their code.
pub fn rpc_batch(responses: Vec<Value>) -> Response<Bytes> {
    if responses.is_empty() {
        return accepted();
    }
    json_with(StatusCode::OK, &Value::Array(responses))
}

/// A JSON-RPC success response.
pub fn rpc_result(id: &RequestId, result: Value) -> Response<Bytes> {
    json_with(StatusCode::OK, &jsonrpc::success(id, result))
}

/// 431: the request headers total more than `limit` bytes.
pub fn headers_too_large(limit: usize) -> Response<Bytes> {
    oauth_error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_header_fields_too_large",
        &format!("the request headers total more than {limit} bytes"),
    )
}

/// 400: the request URI has no scheme and authority (a host bug, not a client's).
pub fn not_absolute() -> Response<Bytes> {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the request URI must be absolute (scheme and host)",
    )
}

/// 400: the host could not turn the request into an HTTP request (e.g. a header value
/// with a control character that the runtime let through). `description` names the part.
pub fn malformed_request(description: &str) -> Response<Bytes> {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// 421 Misdirected Request (RFC 9110 §15.5.20): the request's origin (from its URI, i.e.
/// the client's `Host` or absolute-form target on a native host) is not one this server
/// answers for (`KEYCARD_PUBLIC_ORIGINS`). Nothing (resource id, metadata, audience) is
/// derived from it. `served` are the configured public origins (public by definition).
pub fn misdirected(origin: &str, served: &[String]) -> Response<Bytes> {
    let shown: String = origin.chars().take(200).collect();
    oauth_error(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected_request",
        &format!(
            "this server does not answer for origin {shown:?}; it serves {} (KEYCARD_PUBLIC_ORIGINS)",
            served.join(", ")
        ),
    )
}

/// 400: a header that must appear at most once (see
/// [`crate::mcp::transport::SINGLETON_HEADERS`]) was sent more than once, on a path
/// outside `/mcp` (where the refusal is a JSON-RPC [`TransportError::DuplicateHeader`]).
pub fn duplicate_header(name: &str) -> Response<Bytes> {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!("the {name} header must appear at most once"),
    )
}

/// 404 with an explanation.
pub fn not_found(description: &str) -> Response<Bytes> {
    oauth_error(StatusCode::NOT_FOUND, "not_found", description)
}

/// 405 with `Allow`.
pub fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut response = oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this path only answers {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 502: a document this server proxies (the issuer's RFC 8414 metadata) could not be had.
pub fn bad_gateway(description: &str) -> Response<Bytes> {
    oauth_error(
        StatusCode::BAD_GATEWAY,
        "temporarily_unavailable",
        description,
    )
}

/// 500: the deployment is misconfigured. `message` names the variable and the fix (it
/// never contains a secret's value: see [`crate::ConfigError`]).
pub fn misconfigured(message: &str) -> Response<Bytes> {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_misconfigured",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_tokens_401_loses_only_what_its_challenge_repeats() {
        let scopes = ["mcp:tools".to_owned()];
        let prm = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
        let mut stripped = 0;
        for err in crate::auth::error::tests::every_error() {
            let full = auth_error(&err, prm, &scopes);
            let mut bare = full.clone();
            let did = strip_to_challenge(&mut bare);
            // Stripped exactly when a 401's challenge repeats the body's error and
            // description word for word.
            let said = body(&full);
            let repeats = full.status() == StatusCode::UNAUTHORIZED
                && full
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .is_some_and(|c| {
                        let c = c.to_str().unwrap();
                        ["error", "error_description"].iter().all(|field| {
                            c.contains(&format!("{field}=\"{}\"", said[field].as_str().unwrap()))
                        })
                    });
            assert_eq!(did, repeats, "{err:?}");
            if !did {
                assert_eq!(bare.body(), full.body(), "{err:?}");
                assert_eq!(bare.headers(), full.headers(), "{err:?}");
                continue;
            }
            stripped += 1;
            assert_eq!(bare.status(), full.status());
            assert!(bare.body().is_empty());
            for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
                assert!(bare.headers().get(&name).is_none(), "{name}");
            }
            let mut rest = full.headers().clone();
            rest.remove(header::CONTENT_TYPE);
            rest.remove(header::CONTENT_LENGTH);
            assert_eq!(bare.headers(), &rest, "{err:?}");
        }
        assert!(stripped > 0, "no refused token was stripped");
        // Any other status and any response not built by `auth_error` are left alone.
        let mut other = not_found("x");
        assert!(!strip_to_challenge(&mut other));
        assert!(!other.body().is_empty());
    }

    fn body(response: &Response<Bytes>) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn oauth_shaped_errors() {
        for (response, status, code) in [
            (
                headers_too_large(10),
                431,
                "request_header_fields_too_large",
            ),
            (not_absolute(), 400, "invalid_request"),
            (not_found("no route for /x"), 404, "not_found"),
            (
                method_not_allowed("GET, OPTIONS"),
                405,
                "method_not_allowed",
            ),
            (bad_gateway("down"), 502, "temporarily_unavailable"),
            (
                misconfigured("KEYCARD_ISSUER is not set"),
                500,
                "server_misconfigured",
            ),
        ] {
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = body(&response);
            assert_eq!(body["error"], code);
            assert!(
                body["error_description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty())
            );
        }
        assert_eq!(
            method_not_allowed("GET, OPTIONS").headers()[header::ALLOW],
            "GET, OPTIONS"
        );
    }

    #[test]
    fn empty_bodied_answers() {
        assert_eq!(accepted().status(), StatusCode::ACCEPTED);
        assert!(accepted().body().is_empty());
        assert_eq!(no_content().status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn batches_are_200_or_202() {
        assert_eq!(rpc_batch(Vec::new()).status(), StatusCode::ACCEPTED);
        assert!(rpc_batch(Vec::new()).body().is_empty());
        let answer = rpc_batch(vec![json!({"jsonrpc": "2.0", "id": 1, "result": {}})]);
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(
            body(&answer),
            json!([{"jsonrpc": "2.0", "id": 1, "result": {}}])
        );
    }

    #[test]
    fn rpc_statuses_per_era() {
        let cases = [
            (RpcError::Parse("x".into()), 400, 400),
            (RpcError::InvalidRequest("x".into()), 400, 400),
            (RpcError::MethodNotFound("x".into()), 200, 404),
            (RpcError::InvalidParams("x".into()), 200, 400),
            (RpcError::Internal("x".into()), 500, 500),
            (RpcError::HandlerFailed("x".into()), 200, 200),
            (RpcError::ResourceNotFound { uri: "x".into() }, 200, 400),
            (RpcError::HeaderMismatch("x".into()), 400, 400),
            (
                RpcError::UnsupportedVersion {
                    requested: "1".into(),
                },
                400,
                400,
            ),
        ];
        for (error, legacy, modern) in cases {
            assert_eq!(
                rpc_status(&error, Era::Legacy).as_u16(),
                legacy,
                "{error:?}"
            );
            assert_eq!(
                rpc_status(&error, Era::Modern).as_u16(),
                modern,
                "{error:?}"
            );
            let response = rpc_error(None, &error, Era::Modern);
            assert_eq!(body(&response)["error"]["code"], error.code());
        }
    }

    #[test]
    fn transport_refusals_are_json_rpc() {
        let err = TransportError::MethodNotAllowed("GET".into());
        let response = transport_error(&err);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST, OPTIONS");
        let body = body(&response);
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["error"]["code"], -32000);
        assert!(body.get("id").is_none());
    }
}
