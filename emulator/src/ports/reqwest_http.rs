//! Real outbound HTTP through reqwest.

use bytes::{Bytes, BytesMut};
use keycard_core::ports::{BoxFuture, HttpClient, HttpError, MAX_RESPONSE_BYTES};

/// An [`HttpClient`] over a pooled reqwest client, behaving as the Worker's `fetch` does:
/// no redirect is followed (a 3xx is returned as it came, like `redirect: "manual"`), and
/// the body is read whole, up to [`MAX_RESPONSE_BYTES`] (more is an error, never a
/// truncated body). Errors carry no URL (URLs may carry query data).
#[derive(Debug, Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
    max_body: usize,
}

/// Why the reqwest client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReqwestHttpError {
    /// reqwest refused the configuration (e.g. no TLS backend).
    #[error("could not build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

impl ReqwestHttp {
    /// A client that follows no redirect, with a connect timeout. The per-call timeout is
    /// the core's own (`KEYCARD_OUTBOUND_TIMEOUT_MS`).
    pub fn new() -> Result<Self, ReqwestHttpError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            client,
            max_body: MAX_RESPONSE_BYTES,
        })
    }

    /// The same client with another body cap (tests).
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// The underlying reqwest client (shared connection pool).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request and reads the whole response (at most the body cap).
    pub async fn execute(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| HttpError::Other(e.without_url().to_string()))?;
        let mut response = self.client.execute(request).await.map_err(map_error)?;
        let too_large = || {
            HttpError::Other(format!(
                "the response body exceeds the {}-byte limit",
                self.max_body
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(too_large());
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(
                response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if body.len().saturating_add(chunk.len()) > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body.freeze())
            .map_err(|e| HttpError::Other(e.to_string()))
    }
}

fn map_error(error: reqwest::Error) -> HttpError {
    let error = error.without_url();
    if error.is_timeout() {
        HttpError::Timeout
    } else if error.is_connect() || error.is_request() || error.is_body() {
        HttpError::Connect(error.to_string())
    } else {
        HttpError::Other(error.to_string())
    }
}

impl HttpClient for ReqwestHttp {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        Box::pin(self.execute(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    fn get(url: String) -> http::Request<Bytes> {
        http::Request::get(url).body(Bytes::new()).unwrap()
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed_like_the_workers_manual_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reached = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = reached.clone();
        let router = axum::Router::new()
            .route(
                "/same",
                axum::routing::get(|| async {
                    (http::StatusCode::FOUND, [(http::header::LOCATION, "/to")])
                }),
            )
            .route(
                "/elsewhere",
                axum::routing::get(|| async {
                    (
                        http::StatusCode::TEMPORARY_REDIRECT,
                        [(http::header::LOCATION, "http://127.0.0.1:9/steal")],
                    )
                }),
            )
            .route(
                "/to",
                axum::routing::get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "reached" }
                }),
            );
        let base = serve(router).await;
        let http = ReqwestHttp::new().unwrap();
        let same = http.execute(get(format!("{base}/same"))).await.unwrap();
        assert_eq!(same.status(), 302);
        assert_eq!(same.headers()[http::header::LOCATION], "/to");
        let elsewhere = http
            .execute(get(format!("{base}/elsewhere")))
            .await
            .unwrap();
        assert_eq!(elsewhere.status(), 307);
        assert_eq!(reached.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_an_error_never_truncated() {
        let router = axum::Router::new()
            .route("/sized", axum::routing::get(|| async { "x".repeat(1000) }))
            .route(
                "/streamed",
                axum::routing::get(|| async {
                    let chunks =
                        (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 100])));
                    axum::body::Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let base = serve(router).await;
        for path in ["/sized", "/streamed"] {
            let exact = ReqwestHttp::new().unwrap().with_max_body(1000);
            let ok = exact.execute(get(format!("{base}{path}"))).await.unwrap();
            assert_eq!(ok.body().len(), 1000, "{path}");
            let capped = ReqwestHttp::new().unwrap().with_max_body(999);
            let err = capped
                .execute(get(format!("{base}{path}")))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, HttpError::Other(m) if m.contains("999-byte limit")),
                "{path}: {err:?}"
            );
        }
        assert_eq!(
            ReqwestHttp::new().unwrap().max_body,
            keycard_core::ports::MAX_RESPONSE_BYTES
        );
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let http = ReqwestHttp::new().unwrap();
        let request = http::Request::get(format!("http://127.0.0.1:{port}/x"))
            .body(Bytes::new())
            .unwrap();
        let err = http.execute(request).await.unwrap_err();
        assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    }
}
