//! The wasm host: entry point and port adapters.

mod clock;
mod crypto;
mod entry;
mod http;
mod js;
