//! `HttpClient` over the Workers `fetch` API.

use bytes::Bytes;
use keycard_core::ports::{BoxFuture, HttpClient, HttpError, MAX_RESPONSE_BYTES};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::send::SendFuture;

use crate::js;

/// Outbound HTTP through `fetch`. Redirects are not followed: the core talks to the
/// zone and the upstream API directly and treats a 3xx as an answer. Response bodies
/// over [`MAX_RESPONSE_BYTES`] (16 MiB, as on the emulator) are an error, never a
/// truncated body or a wasm out-of-memory. The request and the whole response each
/// cross the wasm/JS boundary once.
pub struct FetchHttp;

impl HttpClient for FetchHttp {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        Box::pin(SendFuture::new(send(request)))
    }
}

async fn send(request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
    let (parts, body) = request.into_parts();
    let mut lines = String::with_capacity(parts.headers.len() * 64);
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|_| HttpError::Other(format!("header {name} is not visible ASCII")))?;
        lines.push_str(name.as_str());
        lines.push(':');
        lines.push_str(value);
        lines.push('\n');
    }
    let body = (!body.is_empty()).then(|| js_sys::Uint8Array::from(body.as_ref()));
    #[allow(clippy::cast_precision_loss)] // 16 MiB is exact in an f64
    let max = MAX_RESPONSE_BYTES as f64;
    let promise = js::fetch_all(
        &parts.uri.to_string(),
        parts.method.as_str(),
        &lines,
        body,
        max,
    )
    .map_err(|e| HttpError::Other(format!("cannot build request: {}", js::error_message(&e))))?;
    let result = JsFuture::from(promise)
        .await
        .map_err(|e| HttpError::Connect(js::error_message(&e)))?;
    let result: js_sys::Array = result.unchecked_into();
    let head = result.get(0).as_string().unwrap_or_default();
    let bytes = result
        .get(1)
        .dyn_into::<js_sys::Uint8Array>()
        .map_err(|_| HttpError::Connect("fetch returned no body".into()))?
        .to_vec();
    let (status, headers) = head
        .split_once('\n')
        .ok_or_else(|| HttpError::Connect("fetch returned no status".into()))?;
    let mut builder = http::Response::builder().status(
        status
            .parse::<u16>()
            .map_err(|_| HttpError::Connect(format!("bad status {status:?}")))?,
    );
    for (name, value) in crate::lines::header_lines(headers) {
        builder = builder.header(name, value);
    }
    builder
        .body(Bytes::from(bytes))
        .map_err(|e| HttpError::Other(format!("bad response head: {e}")))
}
