//! `Clock` over `Date.now()` and the runtime's timers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use keycard_core::ports::{BoxFuture, Clock, UnixMillis};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use worker::send::SendFuture;

/// The Workers clock. Inside workerd `Date.now()` only advances across I/O (a Spectre
/// mitigation), which is exactly the resolution token expiry needs.
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> UnixMillis {
        worker::Date::now().as_millis()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(SendFuture::new(Sleep::new(duration)))
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// What the timer callback and the future share.
#[derive(Default)]
struct Shared {
    fired: bool,
    /// The waker of the latest poll.
    waker: Option<Waker>,
}

/// A `setTimeout` as a future that wakes the waker of its *latest* poll (`worker::Delay`
/// keeps the first poll's). That matters because `crate::respond` polls every request
/// once with a no-op waker before an executor drives it: a timer first polled then would
/// otherwise wake nobody, and the request would wait forever (a single-flight waiter's
/// retry) or lose its timeout. The timer is cleared when the future is dropped first.
struct Sleep {
    ms: f64,
    shared: Rc<RefCell<Shared>>,
    timer: Option<(JsValue, Closure<dyn FnMut()>)>,
}

impl Sleep {
    fn new(duration: Duration) -> Self {
        #[allow(clippy::cast_precision_loss)] // milliseconds far below 2^53
        let ms = duration.as_millis() as f64;
        Self {
            ms,
            shared: Rc::default(),
            timer: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut shared = this.shared.borrow_mut();
            if shared.fired {
                return Poll::Ready(());
            }
            if !shared
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                shared.waker = Some(cx.waker().clone());
            }
        }
        if this.timer.is_none() {
            let shared = this.shared.clone();
            let callback = Closure::<dyn FnMut()>::new(move || {
                let waker = {
                    let mut shared = shared.borrow_mut();
                    shared.fired = true;
                    shared.waker.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            let id = set_timeout(callback.as_ref().unchecked_ref(), this.ms);
            this.timer = Some((id, callback));
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((id, _callback)) = self.timer.take()
            && !self.shared.borrow().fired
        {
            clear_timeout(&id);
        }
    }
}
