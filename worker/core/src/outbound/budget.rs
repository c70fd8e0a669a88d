//! The per-request outbound time budget (`KEYCARD_REQUEST_BUDGET_MS`).
//!
//! [`crate::Gateway::handle`] starts one [`Budget`] per request from the [`Clock`]: a
//! deadline shared by every outbound call made while serving that request (issuer
//! discovery, the JWKS fetch, the token exchange, the upstream call and its retry). Each
//! call is given `min(KEYCARD_OUTBOUND_TIMEOUT_MS, time left)`; once the budget is spent a
//! call fails at once as a timeout, without being sent, and the usual error paths answer
//! (503 for verification, `isError` for a tool). So a request never spends more than its
//! budget waiting on the network, however many calls and retries it makes.
//!
//! The budget is a plain value passed down the call chain; there is no global or
//! task-local state. Work shared between concurrent requests (a single-flight discovery,
//! JWKS or token-exchange fetch) runs under the budget of the request that started it;
//! the requests that join it wait for that outcome, and their own next outbound call is
//! again bounded by their own budget.

use std::future::Future;
use std::time::Duration;

use crate::ports::{Clock, UnixMillis, with_timeout};

/// A deadline for all outbound calls of one request. `Copy`, cheap to pass down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Unix milliseconds after which no outbound call may run; `None` = no budget.
    deadline_ms: Option<UnixMillis>,
}

impl Budget {
    /// No request-wide deadline: each call only has its own per-call timeout. For callers
    /// outside a request (tests, benchmarks, background use).
    pub const UNLIMITED: Self = Self { deadline_ms: None };

    /// A budget of `total` starting now on `clock`.
    pub fn starting_now(clock: &dyn Clock, total: Duration) -> Self {
        let total_ms = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
        Self {
            deadline_ms: Some(clock.now_ms().saturating_add(total_ms)),
        }
    }

    /// The deadline in Unix milliseconds, if there is one.
    pub fn deadline_ms(&self) -> Option<UnixMillis> {
        self.deadline_ms
    }

    /// This budget with its deadline moved `by` later: time a call spent waiting for its
    /// client (an elicitation or sampling answer) is not time spent on the network.
    #[must_use]
    pub fn extended(self, by: Duration) -> Self {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        Self {
            deadline_ms: self.deadline_ms.map(|d| d.saturating_add(by_ms)),
        }
    }

    /// Time left before the deadline (`None` when unlimited; zero when spent).
    pub fn remaining(&self, clock: &dyn Clock) -> Option<Duration> {
        self.deadline_ms
            .map(|deadline| Duration::from_millis(deadline.saturating_sub(clock.now_ms())))
    }

    /// Whether the deadline has passed: no outbound call may start any more.
    pub fn is_spent(&self, clock: &dyn Clock) -> bool {
        self.remaining(clock).is_some_and(|left| left.is_zero())
    }

    /// The timeout one outbound call gets: `per_call` capped by the time left.
    pub fn call_timeout(&self, clock: &dyn Clock, per_call: Duration) -> Duration {
        match self.remaining(clock) {
            Some(left) => per_call.min(left),
            None => per_call,
        }
    }

    /// Runs one outbound call `fut` under `min(per_call, time left)`. `None` means it
    /// timed out — or was not started at all because the budget is already spent (the
    /// future is then dropped unpolled: nothing is sent).
    pub async fn run<T>(
        &self,
        clock: &dyn Clock,
        per_call: Duration,
        fut: impl Future<Output = T>,
    ) -> Option<T> {
        if self.is_spent(clock) {
            return None;
        }
        with_timeout(clock, self.call_timeout(clock, per_call), fut).await
    }

    /// Awaits `fut` (typically a fetch shared with another request) for at most the time
    /// left; without a deadline it simply awaits. `None` when the budget ran out first.
    pub async fn wait<T>(&self, clock: &dyn Clock, fut: impl Future<Output = T>) -> Option<T> {
        match self.remaining(clock) {
            None => Some(fut.await),
            Some(left) if left.is_zero() => None,
            Some(left) => with_timeout(clock, left, fut).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, SharedManualClock};
    use futures::FutureExt as _;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn call_timeout_is_the_smaller_of_per_call_and_time_left() {
        let manual = ManualClock::new(1_000_000);
        let clock = SharedManualClock(manual.clone());
        let budget = Budget::starting_now(&clock, 25 * SEC);
        assert_eq!(budget.call_timeout(&clock, 10 * SEC), 10 * SEC);
        manual.advance(20 * SEC);
        assert_eq!(budget.call_timeout(&clock, 10 * SEC), 5 * SEC);
        assert!(!budget.is_spent(&clock));
        manual.advance(5 * SEC);
        assert!(budget.is_spent(&clock));
        assert_eq!(budget.call_timeout(&clock, 10 * SEC), Duration::ZERO);
        manual.advance(SEC);
        assert_eq!(budget.remaining(&clock), Some(Duration::ZERO));
    }

    #[test]
    fn unlimited_never_caps_nor_spends() {
        let clock = SharedManualClock(ManualClock::new(u64::MAX - 5));
        let budget = Budget::UNLIMITED;
        assert_eq!(budget.remaining(&clock), None);
        assert!(!budget.is_spent(&clock));
        assert_eq!(budget.call_timeout(&clock, 10 * SEC), 10 * SEC);
        // A huge budget saturates instead of overflowing.
        let huge = Budget::starting_now(&clock, Duration::MAX);
        assert_eq!(huge.deadline_ms(), Some(u64::MAX));
    }

    #[test]
    fn a_spent_budget_does_not_even_poll_the_call() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let budget = Budget::starting_now(&clock, SEC);
        manual.advance(SEC);
        let polled = std::sync::atomic::AtomicBool::new(false);
        let out = budget
            .run(&clock, 10 * SEC, async {
                polled.store(true, std::sync::atomic::Ordering::SeqCst);
                1
            })
            .now_or_never();
        assert_eq!(out, Some(None));
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_call_is_cut_at_the_deadline_not_at_its_own_timeout() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let budget = Budget::starting_now(&clock, 3 * SEC);
        let mut call = Box::pin(budget.run(&clock, 10 * SEC, futures::future::pending::<()>()));
        assert!((&mut call).now_or_never().is_none());
        manual.advance(3 * SEC - Duration::from_millis(1));
        assert!((&mut call).now_or_never().is_none());
        manual.advance(Duration::from_millis(1));
        assert_eq!((&mut call).now_or_never(), Some(None));
    }

    #[test]
    fn wait_is_bounded_by_the_time_left_only() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let budget = Budget::starting_now(&clock, 2 * SEC);
        let mut waiting = Box::pin(budget.wait(&clock, futures::future::pending::<()>()));
        assert!((&mut waiting).now_or_never().is_none());
        manual.advance(2 * SEC);
        assert_eq!((&mut waiting).now_or_never(), Some(None));
        assert_eq!(
            Budget::UNLIMITED.wait(&clock, async { 7 }).now_or_never(),
            Some(Some(7))
        );
        assert_eq!(budget.wait(&clock, async { 7 }).now_or_never(), Some(None));
    }
}
