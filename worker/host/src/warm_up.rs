//! [`warm_up`]: compile the request paths during script startup.

use keycard_core::Server;
use wasm_bindgen::JsCast;

use crate::{App, Vars};

/// Prepares the isolate during script startup, so its first request costs about what a
/// warm one does. [`entry!`](crate::entry) calls it; with your own `#[event(start)]`,
/// call it there with the same `app` you give [`serve`](crate::serve):
///
/// ```ignore
/// #[worker::event(start)]
/// fn start() {
///     keycard_worker::warm_up(app);
/// }
/// ```
///
/// Cloudflare can start an isolate while the TLS handshake is still in flight, which
/// hides startup time from the user but not the first request. Two things move out of
/// the first request:
///
/// * **building the gateway**: from the `env` that `cloudflare:workers` exports to
///   startup, the real configuration is read and the isolate's gateway built (a
///   configuration error is left for the first request, which answers it);
/// * **compiling the request paths**: V8 compiles a wasm function on its first call, so
///   [`keycard_core::warm_up`] drives a throw-away gateway against an in-memory stand-in
///   zone through them, and the host's own request future with it. That never calls your
///   handlers and never touches the network, timers or randomness (all forbidden at
///   startup); the stand-in gateway is kept (a few kilobytes) but never serves a request.
///
/// `app` is called twice: for the real gateway and for the stand-in, both with the
/// Worker's settings (an `app` taking [`Vars`] reads the same values its requests would;
/// where the runtime exports no `env` to startup, such an app is not called here at all).
pub fn warm_up<M, A: App<M>>(app: A) {
    let env = crate::js::startup_env();
    let env = (!env.is_undefined() && !env.is_null()).then(|| env.unchecked_into::<worker::Env>());
    // The real gateway first, where the runtime lets startup read `env`.
    if let Some(env) = &env {
        crate::serve::build_at_startup(env, &app);
    }
    let vars = match &env {
        Some(env) => Vars::from_env(env),
        // No settings to give an app that reads them: its stand-in is not built (it
        // might refuse empty settings), and the first request compiles the paths.
        None if A::READS_VARS => return,
        None => Vars::default(),
    };
    // The stand-in runs with logging off: its synthetic requests (and its zone, which
    // has no upstreams) are not this Worker's, and the subscriber `build_at_startup`
    // installed would report them as if they were.
    tracing_core::dispatcher::with_default(&tracing_core::Dispatch::none(), || {
        stand_in(app.server(&vars));
    });
}

/// The stand-in gateway's part of [`warm_up`].
fn stand_in(server: Server) {
    let Ok(gateway) = keycard_core::warm_up::stand_in_gateway(server) else {
        return;
    };
    // Kept for the isolate's life (a few kilobytes, once): the host's request future
    // borrows its gateway for `'static`, as the real one is borrowed from a static.
    let gateway: &'static keycard_core::Gateway = Box::leak(Box::new(gateway));
    // Nothing to report (logging is off here); the core's unit tests check that every
    // step completes.
    let _report = keycard_core::warm_up::drive(gateway);
    // The host's own request path (`crate::serve::answer`, the very future requests
    // poll), on requests built in memory (allowed at startup): the metadata GET runs to
    // its `Response`; the POSTs without a token and with a refused one are answered from
    // their head; the one with the stand-in's token runs up to reading its body, where a
    // request's first poll would return to workerd; the POST without a token is sent
    // without a body (see `request`). Pending futures are dropped and never polled
    // again. Nothing here can throw or trap, and no handler of yours runs.
    let origin = keycard_core::warm_up::STAND_IN_ORIGIN;
    let bearer = keycard_core::warm_up::stand_in_bearer();
    let requests = [
        ("GET", "/.well-known/oauth-protected-resource/mcp", None),
        ("POST", "/mcp", None),
        ("POST", "/mcp", Some(bearer.as_str())),
        ("POST", "/mcp", Some("Bearer warm.up.refused")),
    ];
    for (method, path, authorization) in requests {
        if let Some(request) = request(method, &format!("{origin}{path}"), authorization) {
            // Looked up (a miss) but never remembered: the stand-in's answers are not
            // this Worker's.
            let _ = crate::js::reused_or_key(&request);
            let mut pending =
                crate::serve::answer(gateway, request, wasm_bindgen::JsValue::UNDEFINED);
            let _ = pending
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        }
    }
    // A request that awaits a promise and then answers, finished as `respond` finishes
    // one: compiles the await of a JS promise and the executor that resumes it (startup's
    // microtasks run it; nothing is returned to anyone). Its answer has no body: a
    // `Response` with a body built in a microtask after startup is an operation workerd
    // disallows outside a handler (it logs an error).
    let _ = crate::serve::finish_later(Box::pin(async {
        let resolved = js_sys::Promise::resolve(&wasm_bindgen::JsValue::UNDEFINED);
        let _ = wasm_bindgen_futures::JsFuture::from(resolved).await;
        let response =
            keycard_core::http::response::no_content().map(keycard_core::http::body::Body::Full);
        crate::serve::from_http(response, None)
    }));
}

/// A request as a client sends it (a POST with a token carries a small JSON-RPC body).
fn request(method: &str, url: &str, authorization: Option<&str>) -> Option<web_sys::Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().ok()?;
    headers
        .set("accept", "application/json, text/event-stream")
        .ok()?;
    headers.set("mcp-protocol-version", "2025-11-25").ok()?;
    if method == "POST" {
        headers.set("content-type", "application/json").ok()?;
    }
    // A tokenless POST goes without a body: its 401 reads the request body to the end
    // before answering, and reading a body is what workerd disallows at startup (it logs
    // an error). With no body that read returns at once and the path is the same.
    if method == "POST" && authorization.is_some() {
        init.set_body(&wasm_bindgen::JsValue::from_str(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        ));
    }
    if let Some(value) = authorization {
        headers.set("authorization", value).ok()?;
    }
    init.set_headers(&headers);
    web_sys::Request::new_with_str_and_init(url, &init).ok()
}
