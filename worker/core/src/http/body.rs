//! [`Body`]: what [`crate::Gateway::handle_streaming`] answers with — a whole body, or
//! a stream of chunks a host forwards as they come (an MCP call answered with
//! `text/event-stream`).
//!
//! The core does no I/O: a host drives the stream (workerd: a `ReadableStream` body;
//! axum: `Body::from_stream`). Dropping the stream drops the work behind it, which is
//! how a client that closes the connection cancels its call.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// A response body: whole, or streamed.
///
/// ```
/// use keycard_core::http::body::Body;
///
/// use futures::FutureExt;
///
/// let body = Body::from(bytes::Bytes::from_static(b"{}"));
/// assert!(!body.is_stream());
/// let whole = body.collect().now_or_never().unwrap();
/// assert_eq!(&whole[..], b"{}");
/// ```
pub enum Body<'a> {
    /// The whole body, known when the response head is.
    Full(Bytes),
    /// Chunks to send as they come; the response ends when the stream does.
    Stream(BodyStream<'a>),
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(bytes) => f.debug_tuple("Full").field(&bytes.len()).finish(),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl From<Bytes> for Body<'_> {
    fn from(bytes: Bytes) -> Self {
        Self::Full(bytes)
    }
}

impl<'a> Body<'a> {
    /// The whole body: a [`Body::Full`] as it is, a [`Body::Stream`] read to its end.
    pub async fn collect(self) -> Bytes {
        match self {
            Self::Full(bytes) => bytes,
            Self::Stream(mut stream) => {
                let mut all = BytesMut::new();
                while let Some(chunk) = stream.next().await {
                    all.extend_from_slice(&chunk);
                }
                all.freeze()
            }
        }
    }

    /// Whether the body is streamed.
    pub fn is_stream(&self) -> bool {
        matches!(self, Self::Stream(_))
    }
}

/// The chunks of a streamed [`Body`], in order. It borrows the gateway that produced it
/// (`'a`), so a host keeps the gateway alive (a static in workerd, the isolate's `Rc` in
/// the emulator) while it forwards the chunks.
pub struct BodyStream<'a>(Pin<Box<dyn Stream<Item = Bytes> + Send + 'a>>);

impl<'a> BodyStream<'a> {
    /// Wraps a stream of chunks.
    pub fn new(stream: impl Stream<Item = Bytes> + Send + 'a) -> Self {
        Self(Box::pin(stream))
    }
}

impl Stream for BodyStream<'_> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.0.as_mut().poll_next(cx)
    }
}
