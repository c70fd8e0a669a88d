//! Native implementations of the core's ports ([`keycard_core::ports`]).
//!
//! * [`SystemClock`]: the OS clock and `tokio::time::sleep`,
//! * [`ReqwestHttp`]: real outbound HTTP with reqwest,
//! * [`InProcessHttp`]: requests to registered origins (the embedded mock zones and their
//!   upstream APIs) go straight into their axum `Router`s without a socket; anything
//!   else falls back to reqwest,
//! * crypto is `keycard_core::ports::rust_crypto::RustCrypto` (pure-Rust RSA/ECDSA).

mod clock;
mod in_process;
mod reqwest_http;

use std::sync::Arc;

pub use clock::SystemClock;
pub use in_process::{InProcessError, InProcessHttp, origin_of};
pub use reqwest_http::{ReqwestHttp, ReqwestHttpError};

use keycard_core::ports::{HttpClient, Ports};

/// The native ports bundle: system clock, `http`, pure-Rust crypto.
pub fn native_ports(http: Arc<dyn HttpClient>) -> Ports {
    Ports {
        clock: Arc::new(SystemClock),
        http,
        crypto: Arc::new(keycard_core::ports::rust_crypto::RustCrypto::new()),
    }
}
