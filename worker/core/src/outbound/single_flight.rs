//! Single flight: when several requests need the same outbound fetch at once (issuer
//! discovery, a JWKS refresh, a token exchange for one cache key), one request runs it and
//! the others wait for its outcome.
//!
//! Each owner (the discovery cache, the keyring, the token cache) keeps its own state
//! behind its own `std` mutex and decides, under that lock, what a request should do — a
//! [`Step`]. [`Waiter::run`] carries the decision out *after* the lock is released, so no
//! lock is ever held across an await:
//!
//! * [`Step::Done`]: the answer is at hand (a cache hit, a final refusal);
//! * [`Step::Wait`]: wait for a fetch (one this request just started, or one in flight that
//!   it joins in [`Inflight::Await`] mode) — for at most the time left in the request's
//!   [`Budget`];
//! * [`Step::Retry`]: [`Inflight::Poll`] mode — sleep on this request's own timer and look
//!   again, never polling another request's future (workerd binds I/O to the request that
//!   started it).
//!
//! [`Waiter::join`] is the one rule for a request that finds a fetch in flight: join it
//! (`Await`), or look again later (`Poll`) while it has waited less than the wait limit
//! and its budget is not spent — after that it stops waiting and starts its own fetch.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::Shared;

use crate::config::Inflight;
use crate::outbound::budget::Budget;
use crate::ports::{BoxFuture, Clock};

/// A fetch shared by every request that waits for it.
pub type Flight<T> = Shared<BoxFuture<'static, T>>;

/// Makes `fetch` shareable. It runs when first polled, under the budget of the request
/// that started it (whatever that request's own limits are, they are baked into `fetch`).
pub fn start<T: Clone>(fetch: impl Future<Output = T> + Send + 'static) -> Flight<T> {
    fetch.boxed().shared()
}

/// What a request should do next, decided under its owner's lock.
pub enum Step<R, T> {
    /// The answer is at hand.
    Done(R),
    /// Wait for this fetch.
    Wait(Flight<T>),
    /// Look again after this long (poll mode).
    Retry(Duration),
}

/// How [`Waiter::run`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<R, T> {
    /// A [`Step::Done`] answer.
    Done(R),
    /// The awaited fetch's output.
    Fetched(T),
    /// The request's budget ran out while it waited for the fetch.
    OutOfTime,
}

/// One request's side of single flight: the owner's waiting policy, the request's
/// [`Budget`] and how long it has waited so far.
pub struct Waiter<'a> {
    clock: &'a dyn Clock,
    mode: Inflight,
    limit: Duration,
    budget: Budget,
    waited: Duration,
}

impl std::fmt::Debug for Waiter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("mode", &self.mode)
            .field("limit", &self.limit)
            .field("budget", &self.budget)
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl<'a> Waiter<'a> {
    /// A waiter that, in poll mode, looks again for at most `limit` (and never past
    /// `budget`) before starting its own fetch.
    pub fn new(clock: &'a dyn Clock, mode: Inflight, limit: Duration, budget: Budget) -> Self {
        Self {
            clock,
            mode,
            limit,
            budget,
            waited: Duration::ZERO,
        }
    }

    /// Under the owner's lock, a fetch is in flight: how to wait for it. `None` means stop
    /// waiting — the caller starts a fetch of its own (the owner may have been cancelled).
    pub fn join<R, T>(&self, flight: &Flight<T>) -> Option<Step<R, T>> {
        match self.mode {
            Inflight::Await => Some(Step::Wait(flight.clone())),
            Inflight::Poll { interval }
                if self.waited < self.limit && !self.budget.is_spent(self.clock) =>
            {
                Some(Step::Retry(interval))
            }
            Inflight::Poll { .. } => None,
        }
    }

    /// How long this request has waited in poll mode so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Looks (with `look`, which takes and releases the owner's lock) until it answers or
    /// hands over a fetch to wait for; that wait is bounded by the budget.
    pub async fn run<R, T: Clone>(
        mut self,
        mut look: impl FnMut(&Self) -> Step<R, T>,
    ) -> Outcome<R, T> {
        loop {
            match look(&self) {
                Step::Done(answer) => return Outcome::Done(answer),
                Step::Retry(interval) => {
                    self.clock.sleep(interval).await;
                    self.waited = self.waited.saturating_add(interval);
                }
                Step::Wait(flight) => {
                    return match self.budget.wait(self.clock, flight).await {
                        Some(output) => Outcome::Fetched(output),
                        None => Outcome::OutOfTime,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, SharedManualClock};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const MS: Duration = Duration::from_millis(1);

    /// A tiny owner: a value cache with one in-flight slot, the shape every real owner has.
    #[derive(Default)]
    struct Owner {
        state: Mutex<(Option<u32>, Option<Flight<u32>>)>,
        fetches: AtomicUsize,
    }

    impl Owner {
        async fn get(
            self: &Arc<Self>,
            clock: &SharedManualClock,
            mode: Inflight,
            budget: Budget,
            fetch_ms: u64,
        ) -> Outcome<u32, u32> {
            let waiter = Waiter::new(clock, mode, 100 * MS, budget);
            waiter
                .run(|w| {
                    let mut state = self.state.lock().unwrap();
                    if let Some(v) = state.0 {
                        return Step::Done(v);
                    }
                    if let Some(flight) = &state.1
                        && let Some(step) = w.join(flight)
                    {
                        return step;
                    }
                    let n = self.fetches.fetch_add(1, Ordering::SeqCst) as u32 + 1;
                    let sleep = clock.sleep(Duration::from_millis(fetch_ms));
                    let owner = self.clone();
                    let flight = start(async move {
                        sleep.await;
                        let mut state = owner.state.lock().unwrap();
                        state.0 = Some(n);
                        state.1 = None;
                        n
                    });
                    state.1 = Some(flight.clone());
                    Step::Wait(flight)
                })
                .await
        }
    }

    async fn tick(clock: &ManualClock, steps: usize) {
        for _ in 0..steps {
            tokio::task::yield_now().await;
            clock.advance(MS);
        }
    }

    #[tokio::test]
    async fn await_mode_joins_one_fetch() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let owner = Arc::new(Owner::default());
        let (a, b, c, ()) = futures::join!(
            owner.get(&clock, Inflight::Await, Budget::UNLIMITED, 10),
            owner.get(&clock, Inflight::Await, Budget::UNLIMITED, 10),
            owner.get(&clock, Inflight::Await, Budget::UNLIMITED, 10),
            tick(&manual, 20)
        );
        assert_eq!(
            [a, b, c],
            [
                Outcome::Fetched(1),
                Outcome::Fetched(1),
                Outcome::Fetched(1)
            ]
        );
        assert_eq!(owner.fetches.load(Ordering::SeqCst), 1);
        assert_eq!(
            owner
                .get(&clock, Inflight::Await, Budget::UNLIMITED, 10)
                .await,
            Outcome::Done(1)
        );
    }

    #[tokio::test]
    async fn poll_mode_looks_again_instead_of_awaiting() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let owner = Arc::new(Owner::default());
        let poll = Inflight::Poll { interval: 2 * MS };
        let (a, b, ()) = futures::join!(
            owner.get(&clock, poll, Budget::UNLIMITED, 10),
            owner.get(&clock, poll, Budget::UNLIMITED, 10),
            tick(&manual, 30)
        );
        // The starter awaits its own fetch; the other found the filled value.
        assert_eq!((a, b), (Outcome::Fetched(1), Outcome::Done(1)));
        assert_eq!(owner.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn poll_mode_stops_waiting_at_the_limit() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let owner = Arc::new(Owner::default());
        let poll = Inflight::Poll { interval: 10 * MS };
        // A stuck fetch (1 s) is in flight; a waiter gives up after the 100 ms limit and
        // starts its own, which finishes first.
        let mut stuck = Box::pin(owner.get(&clock, poll, Budget::UNLIMITED, 1000));
        assert!(futures::poll!(&mut stuck).is_pending());
        let (late, ()) = futures::join!(
            owner.get(&clock, poll, Budget::UNLIMITED, 5),
            tick(&manual, 150)
        );
        assert_eq!(late, Outcome::Fetched(2));
        assert_eq!(owner.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn poll_mode_stops_waiting_when_the_budget_is_spent() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let owner = Arc::new(Owner::default());
        let poll = Inflight::Poll { interval: 10 * MS };
        let mut stuck = Box::pin(owner.get(&clock, poll, Budget::UNLIMITED, 1000));
        assert!(futures::poll!(&mut stuck).is_pending());
        // 30 ms of budget, well under the 100 ms wait limit: after it, this request stops
        // waiting, starts its own fetch, and that fetch is cut by the spent budget.
        let budget = Budget::starting_now(&clock, 30 * MS);
        let (late, ()) = futures::join!(owner.get(&clock, poll, budget, 5), tick(&manual, 60));
        assert_eq!(late, Outcome::OutOfTime);
        assert_eq!(owner.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_joined_wait_is_bounded_by_the_joiners_budget() {
        let manual = ManualClock::new(0);
        let clock = SharedManualClock(manual.clone());
        let owner = Arc::new(Owner::default());
        let mut slow = Box::pin(owner.get(&clock, Inflight::Await, Budget::UNLIMITED, 1000));
        assert!(futures::poll!(&mut slow).is_pending());
        let budget = Budget::starting_now(&clock, 20 * MS);
        let (joined, ()) = futures::join!(
            owner.get(&clock, Inflight::Await, budget, 1000),
            tick(&manual, 30)
        );
        assert_eq!(joined, Outcome::OutOfTime);
        assert_eq!(owner.fetches.load(Ordering::SeqCst), 1);
    }
}
