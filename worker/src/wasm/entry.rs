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
use worker::{Context, Env, Request, Response, Result, event};

use super::{clock::WorkerClock, crypto::WebCrypto, http::FetchHttp};

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
fn config_error(message: &str) -> Result<Response> {
    worker::console_error!("keycard worker misconfigured: {message}");
    let body = serde_json::json!({
        "error": "server_misconfigured",
        "error_description": message,
    });
    Ok(Response::from_json(&body)?.with_status(500))
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let gateway = match gateway(&env) {
        Ok(g) => g,
        Err(message) => return config_error(&message),
    };
    let request = into_http(&mut req).await?;
    let response = gateway.handle(request).await;
    from_http(response)
}

async fn into_http(req: &mut Request) -> Result<http::Request<Bytes>> {
    let url = req.url()?;
    let mut builder = http::Request::builder()
        .method(req.method().as_ref())
        .uri(url.as_str());
    for (name, value) in req.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = match req.method() {
        worker::Method::Get | worker::Method::Head | worker::Method::Options => Vec::new(),
        _ => req.bytes().await.unwrap_or_default(),
    };
    builder
        .body(Bytes::from(body))
        .map_err(|e| worker::Error::RustError(format!("bad request head: {e}")))
}

fn from_http(response: http::Response<Bytes>) -> Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = worker::Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers.append(name.as_str(), v)?;
        }
    }
    let out = if body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(body.to_vec())?
    };
    Ok(out.with_status(parts.status.as_u16()).with_headers(headers))
}
