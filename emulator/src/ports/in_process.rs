//! Outbound HTTP that short-circuits to in-process axum routers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use keycard_core::ports::{BoxFuture, HttpClient, HttpError, MAX_RESPONSE_BYTES};
use tower::ServiceExt;

/// An [`HttpClient`] that sends requests whose origin (`scheme://host:port`) was
/// registered straight into that origin's axum [`Router`] with
/// `tower::ServiceExt::oneshot` (no socket, no serialisation beyond the body), and every
/// other request to a fallback client (normally [`super::ReqwestHttp`]). Requests sent
/// while an isolate serves a tagged request ([`crate::isolate::RequestTag`]) carry the
/// tag to the router as [`mock_keycard::CORRELATION_HEADER`].
#[derive(Clone)]
pub struct InProcessHttp {
    routes: Arc<HashMap<String, Router>>,
    fallback: Arc<dyn HttpClient>,
}

impl std::fmt::Debug for InProcessHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessHttp")
            .field("origins", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The origin of an absolute URL, normalised: lowercase scheme and host, explicit port.
/// `None` when the URL has no scheme or host.
pub fn origin_of(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let port = authority.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(format!(
        "{scheme}://{}:{port}",
        authority.host().to_ascii_lowercase()
    ))
}

/// Why an origin could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InProcessError {
    /// The URL given for the origin is not absolute.
    #[error("not an absolute http(s) URL: {0}")]
    NotAnOrigin(String),
}

impl InProcessHttp {
    /// No in-process origins yet; everything goes to `fallback`.
    pub fn new(fallback: Arc<dyn HttpClient>) -> Self {
        Self {
            routes: Arc::new(HashMap::new()),
            fallback,
        }
    }

    /// Routes requests to `url`'s origin into `router` (call before sharing the client).
    pub fn with_origin(mut self, url: &str, router: Router) -> Result<Self, InProcessError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| InProcessError::NotAnOrigin(url.to_owned()))?;
        let origin = origin_of(&uri).ok_or_else(|| InProcessError::NotAnOrigin(url.to_owned()))?;
        Arc::make_mut(&mut self.routes).insert(origin, router);
        Ok(self)
    }

    /// Whether requests to `uri` stay in-process.
    pub fn is_in_process(&self, uri: &http::Uri) -> bool {
        origin_of(uri).is_some_and(|o| self.routes.contains_key(&o))
    }

    async fn send_in_process(
        router: Router,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = request.map(axum::body::Body::from);
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| HttpError::Other(format!("in-process body: {e}")))?;
        Ok(http::Response::from_parts(parts, body))
    }
}

impl HttpClient for InProcessHttp {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        let router = origin_of(request.uri()).and_then(|o| self.routes.get(&o).cloned());
        match router {
            Some(router) => {
                let mut request = request;
                if let Some(tag) = crate::isolate::current_tag() {
                    request.headers_mut().insert(
                        mock_keycard::CORRELATION_HEADER,
                        http::HeaderValue::from(tag.0),
                    );
                }
                Box::pin(Self::send_in_process(router, request))
            }
            None => self.fallback.send(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    struct Refuse;
    impl HttpClient for Refuse {
        fn send(
            &self,
            _request: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
            Box::pin(async { Err(HttpError::Other("fallback".into())) })
        }
    }

    #[test]
    fn origins_are_normalised() {
        let o = |s: &str| origin_of(&s.parse().unwrap());
        assert_eq!(o("HTTP://Zone.Test/x"), Some("http://zone.test:80".into()));
        assert_eq!(o("https://z.test:8443"), Some("https://z.test:8443".into()));
        assert_eq!(o("/relative"), None);
    }

    #[tokio::test]
    async fn registered_origin_is_served_in_process_and_others_fall_back() {
        let router = Router::new().route("/user", get(|| async { "hello" }));
        let http = InProcessHttp::new(Arc::new(Refuse))
            .with_origin("http://127.0.0.1:9", router)
            .unwrap();
        let ok = http
            .send(
                http::Request::get("http://127.0.0.1:9/user")
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.body().as_ref(), b"hello");
        let other = http
            .send(
                http::Request::get("http://127.0.0.1:10/user")
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(other.unwrap_err(), HttpError::Other("fallback".into()));
        assert!(matches!(
            InProcessHttp::new(Arc::new(Refuse)).with_origin("nope", Router::new()),
            Err(InProcessError::NotAnOrigin(_))
        ));
    }
}
