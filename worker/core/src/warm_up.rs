//! Runs the request paths once, with no I/O, so a host can do it during script startup.
//!
//! Why: V8 compiles a wasm function lazily, on its first call. Without a warm-up, the
//! first request an isolate serves pays for compiling every function on its path
//! (measured in local workerd: ~11–12 ms of a 14 ms first-request premium), and that is
//! the cost a user feels, because Cloudflare can start an isolate during the TLS
//! handshake (hiding *startup*) but not its first request. [`warm_up`] moves that
//! compilation into startup: it drives a throw-away [`Gateway`] through the paths a
//! first request takes (CORS preflight, protected-resource metadata, 401 challenges,
//! bearer verification, `initialize`, `tools/list`, the `tools/call` dispatch) against an
//! in-memory stand-in for a Keycard zone.
//!
//! What it never does:
//! * **No I/O and no clock read.** The throw-away gateway's ports are in-memory: a fixed
//!   clock, an HTTP client that answers discovery and JWKS from constants, and a crypto
//!   port that only accepts this module's own marker signature. Nothing leaves the
//!   isolate, so it is allowed at startup (where workerd forbids I/O and timers).
//! * **No user code.** Your tools, resources and prompts are listed, never called: the
//!   `tools/call` it sends names a tool that cannot exist, so only the dispatch runs.
//! * **No shared state.** The gateway, its keyring and its token cache are dropped when it
//!   returns; the gateway that serves real requests is built separately, from the real
//!   configuration, on the first request.
//!
//! Every future is polled to completion with a no-op waker (all ports answer at once);
//! a request that would still be pending is dropped, never waited for, so [`warm_up`]
//! always returns promptly.
//!
//! ```
//! use keycard_core::{Server, warm_up::warm_up};
//!
//! let report = warm_up(Server::demo());
//! assert!(report.completed >= 8, "{report:?}");
//! ```

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::auth::jwk::Jwk;
use crate::config::Zones;
use crate::http::Gateway;
use crate::ports::{
    BoxFuture, Clock, Crypto, CryptoError, HttpClient, HttpError, JwsAlg, Ports, SecretBytes,
    SigningKey, UnixMillis, VerifyingKey,
};
use crate::server::Server;

/// The stand-in zone (a reserved name: RFC 6761 `.invalid` never resolves).
const ISSUER: &str = "https://warm-up.invalid";
/// The origin the throw-away gateway believes it serves.
const ORIGIN: &str = "https://mcp.warm-up.invalid";
/// The only signature the stand-in crypto accepts (64 bytes, the length of an ES256
/// signature; the array type checks the length at compile time).
const SIGNATURE: &[u8; 64] = b"keycard-core warm-up marker; only the warm-up gateway accepts it";
/// A fixed "now" (2026-01-01T00:00:00Z): the core reads time only through the clock port.
const NOW_MS: UnixMillis = 1_767_225_600_000;
/// Polls per request before giving up on it (every port answers on the first poll).
const MAX_POLLS: usize = 64;

/// What [`warm_up`] did: how many synthetic requests ran to completion with the expected
/// status. A host may log it; tests assert it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WarmUpReport {
    /// Requests that completed with the status their path should produce.
    pub completed: usize,
    /// Requests that completed with another status, or did not complete (a bug in this
    /// module, never a failure of the Worker: the real gateway is unaffected).
    pub unexpected: usize,
    /// The first unexpected step: its name and the status it got (`None`: it did not
    /// complete).
    pub first_unexpected: Option<(&'static str, Option<u16>)>,
}

/// Drives a throw-away gateway serving `server` through the first-request paths, with no
/// I/O, no clock read and without calling any of `server`'s handlers. See the module
/// documentation for why and what exactly runs.
pub fn warm_up(server: Server) -> WarmUpReport {
    match stand_in_gateway(server) {
        Ok(gateway) => drive(&gateway),
        Err(_) => WarmUpReport {
            unexpected: 1,
            first_unexpected: Some(("configuration", None)),
            ..WarmUpReport::default()
        },
    }
}

/// The throw-away gateway [`warm_up`] drives: `server` behind the in-memory stand-in zone
/// (fixed clock, constant discovery and JWKS, a crypto port that accepts only
/// [`stand_in_bearer`]'s marker signature), serving [`STAND_IN_ORIGIN`]. For a host that
/// also runs its *own* request path through it at startup (the wasm host does: its
/// request conversion and entry future), then calls [`drive`]. Never give it to real
/// requests: it trusts a constant signature.
pub fn stand_in_gateway(server: Server) -> Result<Gateway, crate::ConfigError> {
    gateway(server)
}

/// The origin the stand-in gateway serves (`https://mcp.warm-up.invalid`).
pub const STAND_IN_ORIGIN: &str = ORIGIN;

/// An `Authorization` value the stand-in gateway accepts: a bearer token its zone
/// "signed" for [`STAND_IN_ORIGIN`] with the marker signature.
pub fn stand_in_bearer() -> String {
    format!("Bearer {}", token())
}

/// [`warm_up`]'s requests, through `gateway` (one built by [`stand_in_gateway`]).
pub fn drive(gateway: &Gateway) -> WarmUpReport {
    let mut report = WarmUpReport::default();
    let token = token();
    let bearer = format!("Bearer {token}");
    let steps: [(&str, Request<Bytes>, StatusCode); 10] = [
        (
            "preflight",
            request(Method::OPTIONS, "/mcp", None, ""),
            StatusCode::NO_CONTENT,
        ),
        (
            "prm /mcp",
            request(
                Method::GET,
                "/.well-known/oauth-protected-resource/mcp",
                None,
                "",
            ),
            StatusCode::OK,
        ),
        (
            "prm",
            request(
                Method::GET,
                "/.well-known/oauth-protected-resource",
                None,
                "",
            ),
            StatusCode::OK,
        ),
        (
            "no token",
            request(Method::POST, "/mcp", None, INITIALIZE),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad token",
            request(Method::POST, "/mcp", Some("Bearer not-a-jwt"), INITIALIZE),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "initialize",
            request(Method::POST, "/mcp", Some(&bearer), INITIALIZE),
            StatusCode::OK,
        ),
        (
            "initialized",
            request(Method::POST, "/mcp", Some(&bearer), INITIALIZED),
            StatusCode::ACCEPTED,
        ),
        (
            "tools/list",
            request(Method::POST, "/mcp", Some(&bearer), TOOLS_LIST),
            StatusCode::OK,
        ),
        (
            "tools/call",
            request(Method::POST, "/mcp", Some(&bearer), TOOLS_CALL),
            StatusCode::OK,
        ),
        (
            "as metadata",
            request(
                Method::GET,
                "/.well-known/oauth-authorization-server",
                None,
                "",
            ),
            StatusCode::OK,
        ),
    ];
    for (name, request, expected) in steps {
        // As the wasm host does: the head first (a refused request ends there), then the
        // whole request through the boxed path.
        let (parts, body) = request.into_parts();
        let mut head = Request::from_parts(parts, ());
        let status = match gateway.answer_from_head(&mut head) {
            Some(answer) => Some(answer.status()),
            None => {
                run_to_completion(gateway.handle_boxed(head.map(|()| body))).map(|r| r.status())
            }
        };
        if status == Some(expected) {
            report.completed += 1;
        } else {
            report.unexpected += 1;
            report
                .first_unexpected
                .get_or_insert((name, status.map(|s| s.as_u16())));
        }
    }
    report
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"warm-up","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
/// A tool name no server can register (it is not a valid MCP tool name), so the dispatch
/// runs and no handler does.
const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":" warm-up ","arguments":{}}}"#;

fn gateway(server: Server) -> Result<Gateway, crate::ConfigError> {
    // `Zones::from_env`, as the hosts read their configuration.
    let zones = Zones::from_env(|name| {
        let value = match name {
            "KEYCARD_ISSUER" => ISSUER,
            "KEYCARD_RESOURCE_URL" => "https://api.warm-up.invalid",
            "KEYCARD_CLIENT_ID" => "warm-up",
            "KEYCARD_CLIENT_SECRET" => "warm-up",
            _ => return None,
        };
        Some(value.to_owned())
    })?;
    let ports = Ports {
        clock: Arc::new(FixedClock),
        http: Arc::new(StandInZone),
        crypto: Arc::new(MarkerCrypto),
    };
    Gateway::new(zones, ports, server)
}

fn request(method: Method, path: &str, bearer: Option<&str>, body: &'static str) -> Request<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{ORIGIN}{path}"))
        .header(http::header::HOST, &ORIGIN["https://".len()..])
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    if let Some(bearer) = bearer {
        builder = builder.header(http::header::AUTHORIZATION, bearer);
    }
    builder
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap_or_default()
}

/// A compact JWS the stand-in zone "signed": well-formed claims for the throw-away
/// gateway's resource, and the marker signature only [`MarkerCrypto`] accepts.
fn token() -> String {
    let header = r#"{"alg":"ES256","kid":"warm-up","typ":"at+jwt"}"#;
    let now = NOW_MS / 1000;
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": "warm-up",
        "aud": ORIGIN,
        "client_id": "warm-up",
        "scope": "mcp:tools",
        "iat": now,
        "exp": now + 3600,
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(SIGNATURE.as_slice())
    )
}

/// Polls `future` with a no-op waker until it is ready, at most [`MAX_POLLS`] times.
fn run_to_completion<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}

/// Always [`NOW_MS`]; its sleeps never end (every port answers first).
struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> UnixMillis {
        NOW_MS
    }
    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

/// Answers the issuer's RFC 8414 metadata and its JWKS from constants; 404 otherwise.
struct StandInZone;

impl HttpClient for StandInZone {
    fn send(&self, request: Request<Bytes>) -> BoxFuture<'_, Result<Response<Bytes>, HttpError>> {
        let body = match request.uri().path() {
            "/.well-known/oauth-authorization-server" => serde_json::json!({
                "issuer": ISSUER,
                "jwks_uri": format!("{ISSUER}/jwks"),
                "token_endpoint": format!("{ISSUER}/token"),
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "response_types_supported": ["code"],
            })
            .to_string(),
            "/jwks" => serde_json::json!({ "keys": [{
                "kty": "EC", "crv": "P-256", "kid": "warm-up", "alg": "ES256", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode([1u8; 32]),
                "y": URL_SAFE_NO_PAD.encode([2u8; 32]),
            }]})
            .to_string(),
            _ => String::new(),
        };
        let status = if body.is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body))
            .map_err(|e| HttpError::Other(e.to_string()));
        Box::pin(std::future::ready(response))
    }
}

/// Accepts exactly [`SIGNATURE`]; signs nothing and draws no randomness.
struct MarkerCrypto;

struct MarkerKey;

impl VerifyingKey for MarkerKey {
    fn verify<'a>(
        &'a self,
        _message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, CryptoError>> {
        Box::pin(std::future::ready(Ok(signature == SIGNATURE.as_slice())))
    }
}

impl Crypto for MarkerCrypto {
    fn import_verifying_key<'a>(
        &'a self,
        _alg: JwsAlg,
        _jwk: &'a Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
        Box::pin(std::future::ready(Ok(
            Arc::new(MarkerKey) as Arc<dyn VerifyingKey>
        )))
    }

    fn import_signing_key<'a>(
        &'a self,
        _pkcs8_der: &'a SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
        Box::pin(std::future::ready(Err(CryptoError::Failed(
            "the warm-up gateway signs nothing".into(),
        ))))
    }

    fn fill_random(&self, _buf: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::Failed(
            "the warm-up gateway draws no randomness".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_completes_with_its_expected_status() {
        let report = warm_up(Server::demo());
        assert_eq!(
            report,
            WarmUpReport {
                completed: 10,
                unexpected: 0,
                first_unexpected: None
            }
        );
    }

    #[test]
    fn no_handler_runs() {
        use crate::tools::{Tool, ToolContext};
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        struct NoArgs {}
        let server =
            Server::new("t", "0").tool(Tool::new("count").description("counts its calls").handler(
                |_ctx: ToolContext, _args: NoArgs| async {
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, crate::tools::ToolError>("called".to_owned())
                },
            ));
        let report = warm_up(server);
        assert_eq!(report.unexpected, 0, "{report:?}");
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_marker_crypto_refuses_any_other_signature() {
        let key = MarkerKey;
        let ok = run_to_completion(key.verify(b"m", SIGNATURE.as_slice())).unwrap();
        let forged = run_to_completion(key.verify(b"m", b"anything else")).unwrap();
        assert_eq!((ok, forged), (Ok(true), Ok(false)));
    }
}
