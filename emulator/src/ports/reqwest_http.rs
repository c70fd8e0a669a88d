//! Real outbound HTTP through reqwest.

use bytes::Bytes;
use keycard_core::ports::{BoxFuture, HttpClient, HttpError};

/// Most redirects followed, all within the original origin.
const MAX_REDIRECTS: usize = 5;

/// An [`HttpClient`] over a pooled reqwest client. Redirects are followed only within the
/// origin of the original request (a redirect elsewhere is returned as-is, 3xx), and the
/// whole body is read before returning. Errors carry no URL (URLs may carry query data).
#[derive(Debug, Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
}

/// Why the reqwest client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReqwestHttpError {
    /// reqwest refused the configuration (e.g. no TLS backend).
    #[error("could not build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl ReqwestHttp {
    /// A client with same-origin redirects only and a connect timeout. The per-call
    /// timeout is the core's own (`KEYCARD_OUTBOUND_TIMEOUT_MS`).
    pub fn new() -> Result<Self, ReqwestHttpError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let origin_ok = attempt
                .previous()
                .first()
                .is_some_and(|first| same_origin(first, attempt.url()));
            if !origin_ok {
                attempt.stop()
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self { client })
    }

    /// The underlying reqwest client (shared connection pool).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request and reads the whole response.
    pub async fn execute(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| HttpError::Other(e.without_url().to_string()))?;
        let response = self.client.execute(request).await.map_err(map_error)?;
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
        let body = response.bytes().await.map_err(map_error)?;
        builder
            .body(body)
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

    #[test]
    fn origin_comparison_uses_default_ports() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(same_origin(&u("http://a.test/x"), &u("http://a.test:80/y")));
        assert!(!same_origin(&u("http://a.test/x"), &u("https://a.test/x")));
        assert!(!same_origin(&u("http://a.test/x"), &u("http://b.test/x")));
        assert!(!same_origin(
            &u("http://a.test:1/x"),
            &u("http://a.test:2/x")
        ));
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
