//! The floor of `benches/run`: the cheapest Rust Worker, built like the real one
//! (`worker-build --release`, the same `#[event(fetch)]` signature, glue and shim), that
//! answers mix 4 (`POST` → 401 with a challenge) and mix 5 (`GET` → 200 JSON) with
//! constant responses. Its CPU per request is the cost of entering wasm at all.
#![cfg(target_arch = "wasm32")]

use worker::{Context, Env, Result, event};

#[event(fetch)]
async fn fetch(req: web_sys::Request, _env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", "application/json")?;
    let init = web_sys::ResponseInit::new();
    if req.method() == "POST" {
        // Reading the body is the cheaper way to answer a POST in workerd: this Worker
        // leaving a 100-byte body unread served 2564–2621 req/s, reading it 4383–4712
        // (`wrk -t1 -c10`, 2026-12-02), so the floor reads it, as the real Worker does.
        let _ = wasm_bindgen_futures::JsFuture::from(req.array_buffer()?).await?;
    }
    let body = if req.method() == "POST" {
        headers.set("www-authenticate", r#"Bearer resource_metadata="/""#)?;
        init.set_status(401);
        r#"{"error":"invalid_token"}"#
    } else {
        init.set_status(200);
        r#"{"resource":"/"}"#
    };
    init.set_headers(&headers);
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(body),
        &init,
    )?)
}
