//! The isolate model: N single-threaded "isolates", each owning its own [`Gateway`].
//!
//! A Cloudflare Worker isolate is one thread that serves many users' requests
//! concurrently, interleaving them at every `await`, with module-level state (here: the
//! whole [`Gateway`], including its token cache) shared by all of them. Each isolate here
//! is an OS thread running a current-thread tokio runtime and a `LocalSet`; requests
//! arrive over a channel and each one is spawned as its own task on that thread, so they
//! interleave exactly like a Worker's. A [`RoutePolicy`] picks the isolate per request.

use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use axum::body::Body;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response};
use keycard_core::Gateway;
use keycard_core::delegation::cache::CacheStats;
use keycard_core::http::body::Body as CoreBody;
use tokio::sync::{mpsc, oneshot};

/// A host's label for one request, attached as an `http` request extension before
/// [`IsolatePool::dispatch`]. While the isolate serves that request, the tag is the
/// task's [`current_tag`], and [`crate::ports::InProcessHttp`] forwards it to the embedded
/// zones as [`mock_keycard::CORRELATION_HEADER`], so the mock upstream's log says which
/// request made each upstream call (the leak harness's attribution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestTag(pub u64);

tokio::task_local! {
    static CURRENT_TAG: RequestTag;
}

/// The tag of the request the current task serves, if it has one.
pub fn current_tag() -> Option<RequestTag> {
    CURRENT_TAG.try_with(|tag| *tag).ok()
}

/// Requests queued per isolate before senders wait.
const QUEUE_DEPTH: usize = 4096;

/// How requests are spread over the isolates (`--route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutePolicy {
    /// Each isolate in turn.
    #[default]
    RoundRobin,
    /// A seeded pseudo-random isolate per request.
    Random,
    /// The same bearer token always reaches the same isolate (hash of `Authorization`).
    Sticky,
}

/// Why an isolate could not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolateError {
    /// `--isolates 0`.
    #[error("at least one isolate is required")]
    NoIsolates,
    /// The thread or its runtime could not be started.
    #[error("isolate {index} failed to start: {reason}")]
    Start {
        /// Which isolate.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The isolate stopped (its thread ended or panicked) before answering.
    #[error("isolate {0} is gone")]
    Gone(usize),
}

#[expect(
    clippy::large_enum_variant,
    reason = "Stats is rare; boxing would add an allocation to every request"
)]
enum Job {
    Request {
        request: Request<Bytes>,
        /// The response head as soon as it is known; a streamed body (an MCP call's SSE
        /// answer) is fed by the isolate while the call runs.
        reply: oneshot::Sender<Response<Body>>,
    },
    /// Read the isolate's token-cache counters.
    Stats(oneshot::Sender<CacheStats>),
}

/// A set of running isolates. Dropping the pool closes their queues; [`Self::shutdown`]
/// also waits for in-flight requests to finish.
pub struct IsolatePool {
    senders: Vec<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    policy: RoutePolicy,
    counter: AtomicU64,
    seed: u64,
}

impl std::fmt::Debug for IsolatePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatePool")
            .field("isolates", &self.senders.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// splitmix64: a cheap, well-mixed hash of a counter (the `random` policy).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl IsolatePool {
    /// Starts `count` isolates. `make_gateway(index)` runs on each isolate's own thread
    /// and builds that isolate's state. Returns once every isolate is ready.
    pub fn start<F>(
        count: usize,
        policy: RoutePolicy,
        seed: u64,
        make_gateway: F,
    ) -> Result<Self, IsolateError>
    where
        F: Fn(usize) -> Result<Gateway, String> + Send + Sync + 'static,
    {
        if count == 0 {
            return Err(IsolateError::NoIsolates);
        }
        let make_gateway = std::sync::Arc::new(make_gateway);
        let mut senders = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        let mut ready = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
            let make = make_gateway.clone();
            let thread = std::thread::Builder::new()
                .name(format!("isolate-{index}"))
                .spawn(move || run_isolate(index, rx, ready_tx, &*make))
                .map_err(|e| IsolateError::Start {
                    index,
                    reason: e.to_string(),
                })?;
            senders.push(tx);
            threads.push(thread);
            ready.push(ready_rx);
        }
        for (index, rx) in ready.into_iter().enumerate() {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(IsolateError::Start { index, reason }),
                Err(_) => {
                    return Err(IsolateError::Start {
                        index,
                        reason: "thread ended during start-up".into(),
                    });
                }
            }
        }
        Ok(Self {
            senders,
            threads,
            policy,
            counter: AtomicU64::new(0),
            seed,
        })
    }

    /// How many isolates run.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Always false: a pool has at least one isolate.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The routing policy.
    pub fn policy(&self) -> RoutePolicy {
        self.policy
    }

    /// Which isolate `request` goes to under the pool's policy.
    pub fn pick(&self, request: &Request<Bytes>) -> usize {
        let n = self.senders.len() as u64;
        let slot = match self.policy {
            RoutePolicy::RoundRobin => self.counter.fetch_add(1, Ordering::Relaxed),
            RoutePolicy::Random => {
                splitmix64(self.seed ^ self.counter.fetch_add(1, Ordering::Relaxed))
            }
            RoutePolicy::Sticky => {
                let mut hasher = std::hash::DefaultHasher::new();
                request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes())
                    .hash(&mut hasher);
                hasher.finish()
            }
        };
        (slot % n) as usize
    }

    /// Sends `request` (absolute URI) to an isolate and waits for its whole answer (a
    /// streamed answer is read to its end).
    pub async fn dispatch(&self, request: Request<Bytes>) -> Result<Response<Bytes>, IsolateError> {
        let index = self.pick(&request);
        self.dispatch_to(index, request).await
    }

    /// Sends `request` to isolate `index` (modulo the pool size); waits for its whole
    /// answer.
    pub async fn dispatch_to(
        &self,
        index: usize,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, IsolateError> {
        let (parts, body) = self
            .dispatch_streaming_to(index, request)
            .await?
            .into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| IsolateError::Gone(index % self.senders.len()))?;
        Ok(Response::from_parts(parts, body))
    }

    /// Sends `request` to an isolate; returns as soon as the response head is known. A
    /// streamed body carries an MCP call's notifications as they happen; dropping it (the
    /// client went away) drops the call in the isolate.
    pub async fn dispatch_streaming(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Body>, IsolateError> {
        let index = self.pick(&request);
        self.dispatch_streaming_to(index, request).await
    }

    async fn dispatch_streaming_to(
        &self,
        index: usize,
        request: Request<Bytes>,
    ) -> Result<Response<Body>, IsolateError> {
        let index = index % self.senders.len();
        let (reply, answer) = oneshot::channel();
        self.senders[index]
            .send(Job::Request { request, reply })
            .await
            .map_err(|_| IsolateError::Gone(index))?;
        answer.await.map_err(|_| IsolateError::Gone(index))
    }

    /// Every isolate's token-cache counters (entries held, exchanges, evictions,
    /// invalidations…), in isolate order.
    pub async fn cache_stats(&self) -> Result<Vec<CacheStats>, IsolateError> {
        let mut out = Vec::with_capacity(self.senders.len());
        for (index, sender) in self.senders.iter().enumerate() {
            let (reply, answer) = oneshot::channel();
            sender
                .send(Job::Stats(reply))
                .await
                .map_err(|_| IsolateError::Gone(index))?;
            out.push(answer.await.map_err(|_| IsolateError::Gone(index))?);
        }
        Ok(out)
    }

    /// Closes every queue and waits (on a blocking thread) for the isolates to drain.
    pub async fn shutdown(self) {
        let Self {
            senders, threads, ..
        } = self;
        drop(senders);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

fn run_isolate(
    index: usize,
    mut rx: mpsc::Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    make_gateway: &(dyn Fn(usize) -> Result<Gateway, String> + Send + Sync),
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("tokio runtime: {e}")));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    // Build the gateway inside the runtime: its constructor may spawn nothing, but ports
    // (the clock's sleeps) need the runtime's context.
    let gateway = {
        let _guard = runtime.enter();
        match make_gateway(index) {
            Ok(g) => Rc::new(g),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
    };
    let _ = ready.send(Ok(()));
    tracing::debug!(isolate = index, "isolate ready");
    local.block_on(&runtime, async move {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Request { request, reply } => {
                    let gateway = gateway.clone();
                    let tag = request.extensions().get::<RequestTag>().copied();
                    tokio::task::spawn_local(async move {
                        let handled = answer(&gateway, request, reply);
                        match tag {
                            Some(tag) => CURRENT_TAG.scope(tag, handled).await,
                            None => handled.await,
                        }
                    });
                }
                Job::Stats(reply) => {
                    let _ = reply.send(gateway.cache_stats());
                }
            }
        }
    });
    // The queue is closed: let the requests still in flight finish.
    runtime.block_on(local);
    tracing::debug!(isolate = index, "isolate stopped");
}

/// Answers `request` through `reply`: the head at once, then (a streamed body) each
/// chunk as the gateway produces it, until the stream ends or the client goes away.
async fn answer(
    gateway: &Gateway,
    request: Request<Bytes>,
    reply: oneshot::Sender<Response<Body>>,
) {
    let (parts, body) = gateway.handle_streaming(request).await.into_parts();
    match body {
        CoreBody::Full(bytes) => {
            let _ = reply.send(Response::from_parts(parts, Body::from(bytes)));
        }
        CoreBody::Stream(mut stream) => {
            let (mut tx, rx) =
                futures::channel::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(4);
            if reply
                .send(Response::from_parts(parts, Body::from_stream(rx)))
                .is_err()
            {
                return;
            }
            while let Some(chunk) = stream.next().await {
                if tx.send(Ok(chunk)).await.is_err() {
                    // The client is gone: dropping the stream stops the call.
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_spreads() {
        let buckets = (0..1000u64).fold([0usize; 4], |mut b, i| {
            b[(splitmix64(7 ^ i) % 4) as usize] += 1;
            b
        });
        assert!(buckets.iter().all(|&c| c > 200), "{buckets:?}");
    }
}
