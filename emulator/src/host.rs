//! The axum front: every request, any method and path, goes to an isolate.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri, header};

use crate::isolate::IsolatePool;

/// What the front needs: the isolates and the request body limit.
#[derive(Debug, Clone)]
pub struct HostState {
    /// The isolates serving requests.
    pub pool: Arc<IsolatePool>,
    /// Largest request body accepted, in bytes; larger → 413 before any isolate sees it.
    pub max_body_bytes: usize,
    /// The origin used when a request has no `Host` header (`http://<listen address>`).
    pub default_origin: String,
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The body exceeded the limit or could not be read.
    #[error("request body too large or unreadable")]
    Body,
    /// The absolute URI could not be rebuilt from `Host` and the path.
    #[error("bad Host header or request target")]
    Uri,
    /// The isolate failed.
    #[error(transparent)]
    Isolate(#[from] crate::isolate::IsolateError),
}

impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            Self::Body => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Uri => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::Isolate(_) => (StatusCode::SERVICE_UNAVAILABLE, "isolate_unavailable"),
        };
        tracing::warn!(%status, reason = %self, "request not forwarded");
        let body = serde_json::json!({ "error": error, "error_description": self.to_string() });
        (status, axum::Json(body)).into_response()
    }
}

/// The front router: a single fallback forwarding everything to the isolates.
pub fn app(state: HostState) -> Router {
    Router::new().fallback(forward).with_state(state)
}

/// Rebuilds the absolute request URI (`http://<Host><path?query>`), as a Worker sees it.
pub fn absolute_uri(
    uri: &Uri,
    headers: &http::HeaderMap,
    default_origin: &str,
) -> Result<Uri, HostError> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(uri.clone());
    }
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let origin = match headers.get(header::HOST).map(HeaderValue::to_str) {
        Some(Ok(host)) => {
            let authority: http::uri::Authority = host.parse().map_err(|_| HostError::Uri)?;
            format!("http://{authority}")
        }
        Some(Err(_)) => return Err(HostError::Uri),
        None => default_origin.trim_end_matches('/').to_owned(),
    };
    format!("{origin}{path}")
        .parse()
        .map_err(|_| HostError::Uri)
}

async fn forward(State(state): State<HostState>, request: Request) -> Result<Response, HostError> {
    let (mut parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| HostError::Body)?;
    parts.uri = absolute_uri(&parts.uri, &parts.headers, &state.default_origin)?;
    let request = http::Request::from_parts(parts, body);
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = state.pool.dispatch_streaming(request).await?;
    tracing::info!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_secs_f64() * 1e3, "request");
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uri_from_host_header() {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8787"));
        let uri: Uri = "/mcp?x=1".parse().unwrap();
        assert_eq!(
            absolute_uri(&uri, &headers, "http://fallback:1").unwrap(),
            "http://127.0.0.1:8787/mcp?x=1"
        );
        assert_eq!(
            absolute_uri(&uri, &http::HeaderMap::new(), "http://fallback:1/").unwrap(),
            "http://fallback:1/mcp?x=1"
        );
        headers.insert(header::HOST, HeaderValue::from_static("bad host/evil"));
        assert!(matches!(
            absolute_uri(&uri, &headers, "http://x"),
            Err(HostError::Uri)
        ));
    }
}
