//! A fake [`Delegated`] for tests: records every call and replays canned answers.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};

use crate::auth::identity::Identity;
use crate::delegation::{Delegated, DelegationError};
use crate::ports::BoxFuture;

/// What the fake saw: subject, method, URI and the request headers.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) subject: Option<String>,
    pub(crate) method: Method,
    pub(crate) uri: String,
    pub(crate) headers: HeaderMap,
}

/// A `Delegated` that records every call and replays canned answers.
#[derive(Default)]
pub(crate) struct FakeDelegated {
    seen: Mutex<Vec<Seen>>,
    answers: Mutex<VecDeque<Result<Response<Bytes>, DelegationError>>>,
}

impl FakeDelegated {
    pub(crate) fn answering(answer: Result<Response<Bytes>, DelegationError>) -> Self {
        let fake = Self::default();
        fake.answers.lock().unwrap().push_back(answer);
        fake
    }
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Delegated for FakeDelegated {
    fn upstream_url(&self) -> &str {
        "https://api.github.test"
    }
    fn fetch<'a>(
        &'a self,
        identity: &'a Identity,
        request: Request<Bytes>,
    ) -> BoxFuture<'a, Result<Response<Bytes>, DelegationError>> {
        self.seen.lock().unwrap().push(Seen {
            subject: identity.subject.clone(),
            method: request.method().clone(),
            uri: request.uri().to_string(),
            headers: request.headers().clone(),
        });
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(DelegationError::Upstream("no canned answer".into())));
        Box::pin(async move { answer })
    }
}

/// A canned upstream response.
pub(crate) fn upstream(status: u16, body: &str) -> Result<Response<Bytes>, DelegationError> {
    let mut r = Response::new(Bytes::from(body.to_owned()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(r)
}
