//! The system clock as a [`Clock`] port.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keycard_core::ports::{BoxFuture, Clock, UnixMillis};

/// Wall-clock time from the OS; `sleep` is `tokio::time::sleep` (needs a tokio runtime
/// with the time driver, which every emulator runtime has).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn now_is_recent_and_sleep_waits() {
        let clock = SystemClock;
        let before = clock.now_ms();
        assert!(before > 1_700_000_000_000, "{before}");
        clock.sleep(Duration::from_millis(5)).await;
        assert!(clock.now_ms() >= before + 4);
        assert_eq!(clock.now_secs(), clock.now_ms() / 1000);
    }
}
