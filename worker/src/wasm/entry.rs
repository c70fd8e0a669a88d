//! The `#[event(fetch)]` entry and the isolate-wide state.
//!
//! One [`Gateway`] per isolate, built on the first request from `env` and then shared by
//! every request the isolate serves — concurrently, interleaved at every await. Its token
//! cache is keyed by the full identity (issuer, subject, client, resource, scopes), so
//! sharing it is safe; nothing else here holds per-user data.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use keycard_core::config::Inflight;
use keycard_core::ports::Ports;
use keycard_core::tools::ToolRegistry;
use keycard_core::{Config, Gateway};
use wasm_bindgen_futures::JsFuture;
use worker::{Context, Env, Result, event};

use super::{clock::WorkerClock, crypto::WebCrypto, http::FetchHttp, js};

/// The isolate-wide state. A static, because that is what a Worker isolate is: module
/// state that outlives the request and is shared by all of them.
static GATEWAY: OnceLock<Gateway> = OnceLock::new();

/// Reads a `KEYCARD_*` value from `env`: a `[vars]` entry or a secret.
fn env_value(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

/// The isolate's gateway, built on first use. A configuration error is returned (and
/// not cached), so fixing a secret takes effect without waiting for a new isolate.
fn gateway(env: &Env) -> std::result::Result<&'static Gateway, String> {
    if let Some(g) = GATEWAY.get() {
        return Ok(g);
    }
    let mut config = Config::from_env(|name| env_value(env, name)).map_err(|e| e.to_string())?;
    // workerd binds I/O to the request that started it: a request must never be woken by
    // another request's fetch (it would then run its own next fetch in that request's
    // context and hang when that request ends). Waiters re-check on their own timer.
    config.inflight = Inflight::Poll {
        interval: Duration::from_millis(2),
    };
    let ports = Ports {
        clock: Arc::new(WorkerClock),
        http: Arc::new(FetchHttp),
        crypto: Arc::new(WebCrypto),
    };
    let built =
        Gateway::new(config, ports, ToolRegistry::with_defaults()).map_err(|e| e.to_string())?;
    // Single-threaded isolate: no other request can have raced us here.
    Ok(GATEWAY.get_or_init(|| built))
}

/// A deployment error, shown to the deployer (it names the variable and the fix; it
/// never contains a secret's value).
fn config_error(message: &str) -> Result<web_sys::Response> {
    worker::console_error!("keycard worker misconfigured: {message}");
    from_http(keycard_core::http::response::misconfigured(message))
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let gateway = match gateway(&env) {
        Ok(g) => g,
        Err(message) => return config_error(&message),
    };
    let request = into_http(&req, gateway.config().limits.max_body_bytes).await?;
    let response = gateway.handle(request).await;
    from_http(response)
}

/// The request as the core takes it: its head in one boundary crossing
/// ([`js::request_head`]), and the body. At most `max_body + 1` bytes of the body are
/// copied into wasm memory (which never shrinks), enough for the core to answer 413.
async fn into_http(req: &web_sys::Request, max_body: usize) -> Result<http::Request<Bytes>> {
    let head = String::from_utf8(js::request_head(req).to_vec())
        .map_err(|_| worker::Error::RustError("request head is not UTF-8".into()))?;
    let mut lines = head.splitn(3, '\n');
    let (method, url, headers) = match (lines.next(), lines.next(), lines.next()) {
        (Some(m), Some(u), Some(h)) => (m, u, h),
        _ => return Err(worker::Error::RustError("malformed request head".into())),
    };
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in js::header_lines(headers) {
        builder = builder.header(name, value);
    }
    let body = match method {
        "GET" | "HEAD" | "OPTIONS" => Bytes::new(),
        _ => {
            let promise = req.array_buffer().map_err(worker::Error::from)?;
            let buffer = JsFuture::from(promise).await.map_err(worker::Error::from)?;
            let bytes = js_sys::Uint8Array::new(&buffer);
            let keep = u32::try_from(max_body.saturating_add(1)).unwrap_or(u32::MAX);
            Bytes::from(bytes.subarray(0, keep.min(bytes.length())).to_vec())
        }
    };
    builder
        .body(body)
        .map_err(|e| worker::Error::RustError(format!("bad request head: {e}")))
}

/// The core's response as a JS `Response`, built in one boundary crossing.
fn from_http(response: http::Response<Bytes>) -> Result<web_sys::Response> {
    let (parts, body) = response.into_parts();
    let mut lines = String::with_capacity(parts.headers.len() * 48);
    for (name, value) in &parts.headers {
        // The core only produces visible-ASCII header values.
        if let Ok(v) = value.to_str() {
            lines.push_str(name.as_str());
            lines.push(':');
            lines.push_str(v);
            lines.push('\n');
        }
    }
    let status = parts.status.as_u16();
    let null_body = body.is_empty() || matches!(status, 204 | 205 | 304);
    let body = (!null_body).then(|| js_sys::Uint8Array::from(body.as_ref()));
    js::respond(status, &lines, body).map_err(worker::Error::from)
}
