//! `HttpClient` over the Workers `fetch` API.

use bytes::Bytes;
use keycard_core::ports::{BoxFuture, HttpClient, HttpError};
use worker::send::SendFuture;

/// Outbound HTTP through `fetch`. Redirects are not followed: the core talks to the
/// zone and the upstream API directly and treats a 3xx as an answer.
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
    let headers = worker::Headers::new();
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|_| HttpError::Other(format!("header {name} is not visible ASCII")))?;
        headers
            .set(name.as_str(), value)
            .map_err(|e| HttpError::Other(format!("header {name}: {e}")))?;
    }
    let method = worker::Method::from(parts.method.as_str().to_owned());
    let mut init = worker::RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    if !body.is_empty() {
        let array = js_sys::Uint8Array::from(body.as_ref());
        init.with_body(Some(array.into()));
    }
    let uri = parts.uri.to_string();
    let req = worker::Request::new_with_init(&uri, &init)
        .map_err(|e| HttpError::Other(format!("cannot build request: {e}")))?;
    let mut resp = worker::Fetch::Request(req)
        .send()
        .await
        .map_err(|e| HttpError::Connect(e.to_string()))?;
    let status = resp.status_code();
    let mut builder = http::Response::builder().status(status);
    for (name, value) in resp.headers().entries() {
        builder = builder.header(name, value);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| HttpError::Connect(format!("reading body: {e}")))?;
    builder
        .body(Bytes::from(bytes))
        .map_err(|e| HttpError::Other(format!("bad response head: {e}")))
}
