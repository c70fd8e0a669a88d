//! [`respond`] and [`serve`]: the `fetch` handler, and the isolate-wide state.
//!
//! One [`Gateway`] per isolate, built from `env` and the app's
//! [`Server`](keycard_core::Server) at script startup ([`crate::warm_up`], from the `env`
//! `cloudflare:workers` exports) or else on the first request, then shared by every request
//! the isolate serves — concurrently, interleaved at every await. Its token cache is keyed
//! by the full verified identity (issuer, subject, client, audience, upstream resource,
//! scopes), so sharing it is safe; nothing else here holds per-user data.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use keycard_core::config::Inflight;
use keycard_core::http::body::Body;
use keycard_core::http::response;
use keycard_core::ports::Ports;
use keycard_core::session::SessionSettings;
use keycard_core::{Gateway, Zones};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Context, Env, Result};

use crate::session::DurableSessionStore;
use crate::{App, Vars};
use crate::{clock::WorkerClock, crypto::WebCrypto, http::FetchHttp, js, log};

/// The isolate-wide state. A static, because that is what a Worker isolate is: module
/// state that outlives the request and is shared by all of them.
static GATEWAY: OnceLock<Gateway> = OnceLock::new();

/// Answers one request of a Keycard-protected MCP server: the whole body of your
/// `#[event(fetch)]`.
///
/// `app` builds your [`Server`](keycard_core::Server) (name, version, tools): a `fn() ->
/// Server`, or a `fn(&Vars) -> Server` reading settings of its own ([`App`]). It runs once
/// per isolate, together with reading the `KEYCARD_*` configuration from `env` (`[vars]`
/// and secrets; see the repository README's configuration table): at script startup when
/// [`crate::warm_up`] ran (from the `env` that `cloudflare:workers` exports; the `env`
/// given here is then not read again), else on the first request. A configuration error is
/// answered as a 500 naming the variable and the fix, logged, and not cached, so fixing a
/// secret takes effect on the next request.
///
/// MCP sessions (`Mcp-Session-Id`) are on when `env` has the Durable Object binding
/// `MCP_SESSIONS` (class [`McpSession`](crate::McpSession)) and `KEYCARD_SESSIONS` is not
/// `off`; see [`crate::session`]. Without the binding the server is stateless.
///
/// Never fails for a bad request: anything the runtime hands over gets a deliberate
/// answer (a header the HTTP types refuse is a 400 `invalid_request`). The `Err` case is
/// a runtime failure (the body could not be read, a `Response` could not be built).
///
/// ```ignore
/// #[worker::event(fetch)]
/// async fn fetch(req: web_sys::Request, env: worker::Env, ctx: worker::Context)
///     -> worker::Result<web_sys::Response> {
///     keycard_worker::serve(req, env, ctx, || keycard_worker::core::Server::demo()).await
/// }
/// ```
pub async fn serve<M>(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
    app: impl App<M>,
) -> Result<web_sys::Response> {
    match gateway(&env, &app) {
        Ok(gateway) => answer(gateway, req, JsValue::UNDEFINED).await,
        Err(message) => config_error(&message),
    }
}

/// Answers one request without a future when it can: the `fetch` handler that
/// [`entry!`](crate::entry) exports. Returns the `Response` itself when the request needs
/// no await (metadata, a preflight, a refused token's 401), and otherwise a `Promise` of
/// it, driven from where the synchronous attempt stopped.
///
/// workerd accepts either from a `fetch` handler. Answering synchronously skips the
/// promise, the microtask and the wasm-bindgen executor task an `async` export costs per
/// request. It is the same request path as [`serve`]: one boxed future, polled once here
/// with a no-op waker, then by the executor. That relies on every future on the path
/// waking the waker of its latest poll, as the `Future` contract asks: `JsFuture` and
/// the core's do, and the host's timers ([`crate::WorkerClock`]) are written to
/// (`worker::Delay` keeps its first poll's waker, which would be this no-op one).
///
/// Like `#[event(fetch)]`, an `Err` of the request path (the body could not be read, a
/// `Response` could not be built) is logged and answered 500.
pub fn respond<M>(req: web_sys::Request, env: Env, _ctx: Context, app: impl App<M>) -> JsValue {
    let gateway = match gateway(&env, &app) {
        Ok(g) => g,
        Err(message) => return settle(config_error(&message)),
    };
    // A copy of a reusable answer (the protected-resource metadata), when there is one.
    let key = js::reused_or_key(&req);
    if !key.is_undefined() && !key.is_string() {
        return key;
    }
    let mut pending = answer(gateway, req, key);
    match pending
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(result) => settle(result),
        Poll::Pending => finish_later(pending),
    }
}

/// The `Promise` of a request whose first poll was pending, driven from there by
/// wasm-bindgen's executor. Never inlined: the warm-up (`crate::warm_up`) runs it at
/// startup on a future that awaits a resolved promise, so the first request that awaits
/// finds it, and the executor path below it, compiled.
#[inline(never)]
pub(crate) fn finish_later(pending: Answer) -> JsValue {
    wasm_bindgen_futures::future_to_promise(async move { Ok(settle(pending.await)) }).into()
}

/// The request path below configuration, as one boxed future: its `poll` is a single
/// compiled function that the requests ([`respond`], [`serve`]) and the warm-up
/// (`crate::warm_up`) share, so compiling it at startup serves the first request.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<web_sys::Response>>>>;

/// See [`Answer`]. Never inlined, for the same reason. `reuse_key` (from
/// [`js::reused_or_key`], or `undefined`) is where a reusable answer is remembered.
#[inline(never)]
pub(crate) fn answer(
    gateway: &'static Gateway,
    req: web_sys::Request,
    reuse_key: JsValue,
) -> Answer {
    Box::pin(async move {
        let (mut head, has_body) = match request_head(&req) {
            Ok(head) => head,
            Err(problem) => {
                return from_http(response::malformed_request(&problem).map(Body::Full), None);
            }
        };
        let request_id = log::request_id(
            head.headers()
                .get("cf-ray")
                .and_then(|v| v.to_str().ok())
                .map(std::rc::Rc::<str>::from),
        );
        // A request refused from its head (a 401 above all) is decided before its body is
        // copied into wasm memory or parsed.
        let body = if has_body {
            if let Some(mut answer) =
                log::with_request(&request_id, || gateway.answer_from_head(&mut head))
            {
                // workerd answers a POST whose body is left unread much faster when the
                // answer has no body (JS hello-world Workers under `wrk -t1 -c10`: 0.18 ms
                // of CPU per request against 0.32 with one; an empty Rust Worker that
                // reads the body first and answers with one, 0.22). A refused token's 401
                // says everything in its challenge, so it goes without a body and the
                // request body is not read. Any other answer keeps its body; it is built
                // first (so the first poll and the warm-up run its conversion), then the
                // request body is read to its end without being kept or copied into
                // wasm, then the answer is returned. A read left running after the answer
                // made workerd stall the connection's next request now and then (8 in
                // 1,500 `GET`s after a tokenless `POST`; `clients/ts/keepalive.mjs`).
                if response::strip_to_challenge(&mut answer) {
                    return from_http(answer.map(Body::Full), Some(request_id));
                }
                let response = from_http(answer.map(Body::Full), Some(request_id));
                // Never rejects; a failed read changes nothing about the answer.
                let _ = JsFuture::from(js::discard_body(&req)).await;
                return response;
            }
            read_body(&req, gateway.config().limits.max_body_bytes).await?
        } else {
            Bytes::new()
        };
        let response = log::in_request(
            request_id.clone(),
            gateway.handle_boxed(head.map(|()| body)),
        )
        .await;
        let reuse = response
            .extensions()
            .get::<keycard_core::http::Reusable>()
            .is_some();
        let key = if reuse {
            &reuse_key
        } else {
            &JsValue::UNDEFINED
        };
        from_http_keyed(response, Some(request_id), key)
    })
}

/// A request path's result as what a `fetch` handler returns: the `Response`, or for an
/// `Err` (logged) a bare 500, as `#[event(fetch)]` answers one.
fn settle(result: Result<web_sys::Response>) -> JsValue {
    match result {
        Ok(response) => response.into(),
        Err(e) => {
            worker::console_error!("{e}");
            let init = web_sys::ResponseInit::new();
            init.set_status(500);
            web_sys::Response::new_with_opt_str_and_init(Some("internal error"), &init)
                .map_or(JsValue::UNDEFINED, JsValue::from)
        }
    }
}

/// Builds the isolate's gateway during script startup, from the `env` that
/// `cloudflare:workers` exports, so the first request finds it built (and its code
/// compiled). A configuration error is left for the first request to build again and
/// answer (500, naming the variable); nothing here can throw.
pub(crate) fn build_at_startup<M>(env: &Env, app: &impl App<M>) {
    let _ = gateway(env, app);
}

/// Reads a setting from `env`: a `[vars]` entry or a secret (the `KEYCARD_*`
/// configuration, and [`Vars::get`]).
pub(crate) fn env_value(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

/// The isolate's gateway, built on first use.
fn gateway<M>(env: &Env, app: &impl App<M>) -> std::result::Result<&'static Gateway, String> {
    if let Some(g) = GATEWAY.get() {
        return Ok(g);
    }
    log::install(env_value(env, "KEYCARD_LOG").as_deref())?;
    // One zone from the classic variables, or every zone of `KEYCARD_ZONES`.
    let mut zones = Zones::from_env(|name| env_value(env, name)).map_err(|e| e.to_string())?;
    // workerd binds I/O to the request that started it: a request must never be woken by
    // another request's fetch (it would then run its own next fetch in that request's
    // context and hang when that request ends). Waiters re-check on their own timer.
    for config in zones.iter_mut() {
        config.inflight = Inflight::Poll {
            interval: Duration::from_millis(2),
        };
    }
    let ports = Ports {
        clock: Arc::new(WorkerClock),
        http: Arc::new(FetchHttp),
        crypto: Arc::new(WebCrypto),
    };
    let sessions = sessions(env)?;
    let server = app.server(&Vars::from_env(env));
    let mut built = Gateway::new(zones, ports, server).map_err(|e| e.to_string())?;
    if let Some((store, settings)) = sessions {
        built = built.with_sessions(Arc::new(store), settings);
    }
    // Single-threaded isolate: no other request can have raced us here.
    Ok(GATEWAY.get_or_init(|| built))
}

/// The Durable Object binding sessions live in.
const SESSIONS_BINDING: &str = "MCP_SESSIONS";

/// The `wrangler.toml` lines that bind [`SESSIONS_BINDING`] to the class.
const SESSIONS_TOML: &str = "[[durable_objects.bindings]]\n\
name = \"MCP_SESSIONS\"\n\
class_name = \"McpSession\"\n\n\
[[migrations]]\n\
tag = \"v1\"\n\
new_sqlite_classes = [\"McpSession\"]";

/// Whether sessions are on, and with what store and settings.
///
/// * `KEYCARD_SESSIONS` unset (or `auto`): on exactly when `env` has the Durable Object
///   binding `MCP_SESSIONS`;
/// * `KEYCARD_SESSIONS=off`: off (stateless), binding or not;
/// * `KEYCARD_SESSIONS=on`: on, and a configuration error without the binding;
/// * `KEYCARD_SESSION_TTL_SECS`: how long an unused session lives (default
///   [`SessionSettings::default`]'s).
fn sessions(
    env: &Env,
) -> std::result::Result<Option<(DurableSessionStore, SessionSettings)>, String> {
    let mode = env_value(env, "KEYCARD_SESSIONS").map(|m| m.trim().to_ascii_lowercase());
    let required = match mode.as_deref() {
        None | Some("" | "auto") => false,
        Some("on") => true,
        Some("off") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "KEYCARD_SESSIONS must be \"on\", \"off\" or unset (on when the Durable \
                 Object binding {SESSIONS_BINDING} exists), not {other:?}"
            ));
        }
    };
    let env_js: &JsValue = env.as_ref();
    let bound = js_sys::Reflect::get(env_js, &JsValue::from_str(SESSIONS_BINDING))
        .is_ok_and(|v| !v.is_undefined() && !v.is_null());
    if !bound {
        if required {
            return Err(format!(
                "KEYCARD_SESSIONS is \"on\" but the Worker has no Durable Object binding \
                 {SESSIONS_BINDING}. Add it to wrangler.toml:\n{SESSIONS_TOML}\n\
                 (your crate must depend on keycard-worker, which exports the McpSession \
                 class), or set KEYCARD_SESSIONS = \"off\" to serve statelessly"
            ));
        }
        return Ok(None);
    }
    let namespace = env.durable_object(SESSIONS_BINDING).map_err(|e| {
        format!(
            "{SESSIONS_BINDING} is bound but is not a Durable Object namespace ({e}). \
             Bind it to the McpSession class in wrangler.toml:\n{SESSIONS_TOML}\n\
             or set KEYCARD_SESSIONS = \"off\" to serve statelessly"
        )
    })?;
    let mut settings = SessionSettings::default();
    if let Some(ttl) = env_value(env, "KEYCARD_SESSION_TTL_SECS") {
        let secs = ttl
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                format!(
                    "KEYCARD_SESSION_TTL_SECS must be a whole number of seconds above 0 (how \
                 long an unused session lives; default {}), not {ttl:?}",
                    settings.idle_ttl.as_secs()
                )
            })?;
        settings.idle_ttl = Duration::from_secs(secs);
        // A short TTL must still be pushed forward by the requests that use it.
        settings.touch_every = settings.touch_every.min(settings.idle_ttl / 2);
    }
    Ok(Some((
        DurableSessionStore::new(namespace, SESSIONS_BINDING),
        settings,
    )))
}

/// A deployment error, shown to the deployer (it names the variable and the fix; it
/// never contains a secret's value).
fn config_error(message: &str) -> Result<web_sys::Response> {
    log::config_error(message);
    from_http(response::misconfigured(message).map(Body::Full), None)
}

/// The body, of which at most `max_body + 1` bytes are copied into wasm memory (which
/// never shrinks): enough for the core to answer 413.
async fn read_body(req: &web_sys::Request, max_body: usize) -> Result<Bytes> {
    let promise = req.array_buffer().map_err(worker::Error::from)?;
    let buffer = JsFuture::from(promise).await.map_err(worker::Error::from)?;
    let bytes = js_sys::Uint8Array::new(&buffer);
    let keep = u32::try_from(max_body.saturating_add(1)).unwrap_or(u32::MAX);
    Ok(Bytes::from(
        bytes.subarray(0, keep.min(bytes.length())).to_vec(),
    ))
}

/// The request's method, URI and headers as an `http` request without a body, and
/// whether its body is to be read; `Err` names what the HTTP types refused. Never
/// inlined, so the warm-up (`crate::warm_up`) compiles the very function requests run.
///
/// The head crosses as one string (see [`js::request_head`]) and is parsed straight
/// into the request's parts, each header name and value once.
#[inline(never)]
pub(crate) fn request_head(
    req: &web_sys::Request,
) -> std::result::Result<(http::Request<()>, bool), String> {
    let head = js::request_head(req);
    let mut lines = head.splitn(3, '\n');
    let (method, url, headers) = match (lines.next(), lines.next(), lines.next()) {
        (Some(m), Some(u), Some(h)) => (m, u, h),
        _ => return Err("the request head is malformed".into()),
    };
    let refused = |e: &dyn std::fmt::Display| format!("the request head was refused: {e}");
    let mut request = http::Request::new(());
    let map = request.headers_mut();
    // A failed reservation is only an early sign of what `try_append` then refuses.
    let _ = map.try_reserve(headers.bytes().filter(|b| *b == b'\n').count());
    for (name, value) in crate::lines::header_lines(headers) {
        let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
            return Err(format!("header name {name:?} is not a valid token"));
        };
        let Ok(value) = http::HeaderValue::from_str(value) else {
            // Never echo the value: it may be a credential.
            return Err(format!(
                "the value of header {name:?} contains a control character"
            ));
        };
        // More headers than a `HeaderMap` holds is a 400, as the builder answered it.
        map.try_append(header, value).map_err(|e| refused(&e))?;
    }
    // After the headers, so a request wrong in both is refused for its header, as before.
    *request.method_mut() = http::Method::from_bytes(method.as_bytes()).map_err(|e| refused(&e))?;
    *request.uri_mut() = http::Uri::try_from(url).map_err(|e| refused(&e))?;
    let has_body = !matches!(method, "GET" | "HEAD" | "OPTIONS");
    Ok((request, has_body))
}

/// The core's response as a JS `Response`, built in one boundary crossing. A streamed
/// body (an MCP call's SSE answer) becomes a `ReadableStream` pulling the core's stream
/// chunk by chunk (polled in request `log_id`'s log context, since the call keeps running
/// after this returns); when the client goes away workerd cancels it, which drops the
/// stream and with it the call. Never inlined, like [`request_head`].
#[inline(never)]
pub(crate) fn from_http(
    response: http::Response<Body<'static>>,
    log_id: Option<std::rc::Rc<str>>,
) -> Result<web_sys::Response> {
    from_http_keyed(response, log_id, &JsValue::UNDEFINED)
}

/// [`from_http`], remembering a full-bodied answer under `reuse_key` unless it is
/// `undefined` (see [`js::reused_or_key`]).
#[inline(never)]
fn from_http_keyed(
    response: http::Response<Body<'static>>,
    log_id: Option<std::rc::Rc<str>>,
    reuse_key: &JsValue,
) -> Result<web_sys::Response> {
    let (parts, body) = response.into_parts();
    // A stream is never remembered.
    let reuse_key = if matches!(body, Body::Stream(_)) {
        &JsValue::UNDEFINED
    } else {
        reuse_key
    };
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
    let body = match body {
        Body::Full(body) if body.is_empty() || matches!(status, 204 | 205 | 304) => {
            wasm_bindgen::JsValue::UNDEFINED
        }
        Body::Full(body) => js_sys::Uint8Array::from(body.as_ref()).into(),
        Body::Stream(stream) => {
            let id = log_id.unwrap_or_else(|| log::request_id(None));
            let chunks = log::stream_in_request(id, stream)
                .map(|chunk: Bytes| Ok(js_sys::Uint8Array::from(chunk.as_ref()).into()));
            wasm_streams::ReadableStream::from_stream(chunks)
                .into_raw()
                .into()
        }
    };
    js::respond(status, &lines, body, reuse_key).map_err(worker::Error::from)
}
