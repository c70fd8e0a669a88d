//! The floor of `benches/run`: the cheapest Rust Worker built the way the real one is
//! (`worker-build --release`, its shim, and a synchronous `fetch` export like the one
//! `keycard_worker::entry!` generates) that answers mix 4 (`POST` → 401 with a challenge,
//! as the real Worker answers a refused token) and mix 5 (`GET` → 200 JSON) with constant
//! responses. Its CPU per request is the cost
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
    let init = web_sys::ResponseInit::new();
    let post = req.method() == "POST";
    let body = if post {
        // As the real Worker answers a refused token: a 401 whose challenge says it all,
        // no body, and the request body left unread (workerd answers that combination
        // fastest; see `keycard_core::http::response::strip_to_challenge`).
        headers.set(
            "www-authenticate",
            r#"Bearer error="invalid_token", resource_metadata="/""#,
        )?;
        init.set_status(401);
        None
    } else {
        headers.set("content-type", "application/json")?;
        init.set_status(200);
        Some(r#"{"resource":"/"}"#)
    };
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}
