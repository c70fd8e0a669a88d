//! The floor of `benches/run`: the cheapest Rust Worker built the way the real one is
//! (`worker-build --release`, its shim, and a synchronous `fetch` export like the one
//! `keycard_worker::entry!` generates) that answers mix 4 (`POST` → 401 with a challenge)
//! and mix 5 (`GET` → 200 JSON) with constant responses. Its CPU per request is the cost
//! of entering wasm at all.
//!
//! Until 2026-12-07 both the real Worker and this floor used `#[event(fetch)]` (an
//! `async` export: a promise, a microtask and an executor task per request); the results
//! in `docs/performance.md` before that date are against that floor.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::prelude::*;
// The worker crate's exports (its init state) are what the shim expects.
use worker as _;

/// workerd's `fetch` handler: the answer, without a future.
#[wasm_bindgen]
pub fn fetch(
    req: web_sys::Request,
    _env: JsValue,
    _ctx: JsValue,
) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", "application/json")?;
    let init = web_sys::ResponseInit::new();
    let post = req.method() == "POST";
    let body = if post {
        // Consumed, not waited for, as the real Worker does: workerd answers a POST whose
        // body is left unread markedly slower (2564–2621 req/s against 4383–4712 read,
        // `wrk -t1 -c10`, 2026-12-02).
        let _ = req.array_buffer()?;
        headers.set("www-authenticate", r#"Bearer resource_metadata="/""#)?;
        init.set_status(401);
        r#"{"error":"invalid_token"}"#
    } else {
        init.set_status(200);
        r#"{"resource":"/"}"#
    };
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init)
}
