//! Deterministic latency: a future that yields a scripted number of times.
//!
//! No sleeps and no timers: a response "takes" N polls. On a single-threaded executor the
//! interleaving of concurrent requests is then a pure function of the script, so a
//! proptest seed reproduces the exact same schedule.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Returns `Pending` (waking itself at once) `n` times, then completes.
#[derive(Debug)]
pub struct YieldTimes(pub u32);

impl Future for YieldTimes {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A cyclic script of yield counts, consumed one value per call to [`LatencyScript::next`].
#[derive(Debug, Default)]
pub struct LatencyScript {
    steps: Vec<u8>,
    cursor: AtomicUsize,
}

impl LatencyScript {
    /// A script repeating `steps` forever (no latency at all when empty).
    pub fn new(steps: Vec<u8>) -> Self {
        Self {
            steps,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next delay, as a future.
    pub fn next(&self) -> YieldTimes {
        if self.steps.is_empty() {
            return YieldTimes(0);
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.steps.len();
        YieldTimes(self.steps.get(i).copied().map_or(0, u32::from))
    }
}

#[test]
fn yield_times_is_pending_exactly_n_times() {
    use futures::task::noop_waker_ref;
    let mut cx = Context::from_waker(noop_waker_ref());
    let mut fut = YieldTimes(3);
    let mut pending = 0;
    while Pin::new(&mut fut).poll(&mut cx).is_pending() {
        pending += 1;
    }
    assert_eq!(pending, 3);

    let script = LatencyScript::new(vec![2, 0, 5]);
    let delays: Vec<u32> = (0..5).map(|_| script.next().0).collect();
    assert_eq!(delays, [2, 0, 5, 2, 0]);
    assert_eq!(LatencyScript::default().next().0, 0);
}
