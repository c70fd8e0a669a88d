//! `Clock` over `Date.now()` and the runtime's timers.

use std::time::Duration;

use keycard_core::ports::{BoxFuture, Clock, UnixMillis};
use worker::send::SendFuture;

/// The Workers clock. Inside workerd `Date.now()` only advances across I/O (a Spectre
/// mitigation), which is exactly the resolution token expiry needs.
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> UnixMillis {
        worker::Date::now().as_millis()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(SendFuture::new(worker::Delay::from(duration)))
    }
}
