//! [`warm_up`]: compile the request paths during script startup.

use keycard_core::Server;

/// Runs your server's request paths once, with no I/O, so that V8 compiles their wasm
/// code while the isolate starts instead of during its first request. Call it from
/// `#[event(start)]` with the same `app` you give [`serve`](crate::serve):
///
/// ```ignore
/// #[worker::event(start)]
/// fn start() {
///     keycard_worker::warm_up(app);
/// }
/// ```
///
/// Cloudflare can start an isolate while the TLS handshake is still in flight, which
/// hides startup time from the user but not the first request; without this, the first
/// request pays for compiling every wasm function on its path. What runs is
/// [`keycard_core::warm_up::warm_up`]: a throw-away gateway against an in-memory
/// stand-in zone, which never calls your handlers, never touches the network, timers or
/// randomness (all forbidden at startup), and is dropped before the first request. `app`
/// is called once here and again on the first request (for the real gateway).
pub fn warm_up(app: impl FnOnce() -> Server) {
    // Nothing to report to: no subscriber is installed before the first request (the
    // level comes from `env`, which startup does not have). The core's unit tests check
    // that every step completes.
    let _report = keycard_core::warm_up::warm_up(app());
    // The host's own synchronous steps, on a request and a response built in memory
    // (allowed at startup): reading the head across the boundary and parsing it, and
    // building the JS `Response`. Failures are ignored: nothing here can throw or trap.
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if let Ok(headers) = web_sys::Headers::new() {
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("accept", "application/json, text/event-stream");
        let _ = headers.set("authorization", "Bearer warm-up");
        init.set_headers(&headers);
    }
    if let Ok(request) =
        web_sys::Request::new_with_str_and_init("https://mcp.warm-up.invalid/mcp", &init)
    {
        let _ = crate::serve::request_head(&request);
    }
    let response = keycard_core::http::response::malformed_request("warm-up")
        .map(keycard_core::http::body::Body::Full);
    let _ = crate::serve::from_http(response, None);
}
