//! Test doubles for the ports (feature `testing`): a manual clock and a scripted HTTP
//! client that records every request. Used by the core's own tests and by the
//! integration tests; never by a production host.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::ports::{BoxFuture, Clock, HttpClient, HttpError, UnixMillis};

/// A clock that only moves when told to. `sleep` futures complete once the clock has been
/// advanced past their deadline.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
    sleepers: Mutex<Vec<Waker>>,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: UnixMillis) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicU64::new(now_ms),
            sleepers: Mutex::default(),
        })
    }

    /// Moves the clock forward and wakes every sleeper (each re-checks its deadline).
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.sleepers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in wakers {
            w.wake();
        }
    }

    /// Sets the clock to `now_ms` (forward or backward) and wakes every sleeper.
    pub fn set(&self, now_ms: UnixMillis) {
        self.now.store(now_ms, Ordering::SeqCst);
        self.advance(Duration::ZERO);
    }
}

struct ManualSleep {
    clock: Arc<ManualClock>,
    deadline: UnixMillis,
}

impl Future for ManualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.now_ms() >= self.deadline {
            return Poll::Ready(());
        }
        self.clock
            .sleepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cx.waker().clone());
        Poll::Pending
    }
}

/// A handle that implements [`Clock`] for an `Arc<ManualClock>`.
#[derive(Debug, Clone)]
pub struct SharedManualClock(pub Arc<ManualClock>);

impl Clock for SharedManualClock {
    fn now_ms(&self) -> UnixMillis {
        self.0.now.load(Ordering::SeqCst)
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = self.now_ms() + duration.as_millis() as u64;
        Box::pin(ManualSleep {
            clock: self.0.clone(),
            deadline,
        })
    }
}

impl ManualClock {
    fn now_ms(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }
}

type Handler =
    dyn Fn(&http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> + Send + Sync;

/// An HTTP client answering from a closure, recording every request it was given.
pub struct ScriptedHttp {
    handler: Box<Handler>,
    log: Mutex<VecDeque<http::Request<Bytes>>>,
}

impl std::fmt::Debug for ScriptedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedHttp")
            .field("requests", &self.request_count())
            .finish()
    }
}

impl ScriptedHttp {
    /// A client whose every response comes from `handler`.
    pub fn new(
        handler: impl Fn(&http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError>
        + Send
        + Sync
        + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            handler: Box::new(handler),
            log: Mutex::default(),
        })
    }

    /// A client that fails the test's expectations loudly if it is ever called.
    pub fn unreachable() -> Arc<Self> {
        Self::new(|req| {
            Err(HttpError::Other(format!(
                "unexpected outbound request to {}",
                req.uri()
            )))
        })
    }

    /// How many requests were sent.
    pub fn request_count(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// How many requests were sent to a URI containing `needle`.
    pub fn count_matching(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.uri().to_string().contains(needle))
            .count()
    }

    /// A copy of every request sent so far.
    pub fn requests(&self) -> Vec<http::Request<Bytes>> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

impl HttpClient for ScriptedHttp {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        let result = (self.handler)(&request);
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(request);
        Box::pin(async move { result })
    }
}

/// A JSON response with `status`.
pub fn json_response(status: u16, body: serde_json::Value) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap_or_default()
}
