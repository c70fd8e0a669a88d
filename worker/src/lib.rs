//! # keycard-worker
//!
//! The production Cloudflare Worker: a thin wasm host around [`keycard_core`]. Everything
//! interesting happens in the core; this crate only adapts the Workers runtime to the
//! core's ports:
//!
//! * `wasm::entry`: the `#[event(fetch)]` entry and the isolate-wide [`keycard_core::Gateway`]
//!   (a static, built on the first request from `env`),
//! * `wasm::http`: outbound HTTP through `fetch`,
//! * `wasm::clock`: `Date.now()` and `setTimeout`,
//! * `wasm::crypto`: WebCrypto (SubtleCrypto) for RS256/PS256/ES256 verification and
//!   RS256 signing (~0.024 ms per RS256 verify inside workerd, against ~0.94 ms for
//!   pure-Rust RSA compiled to wasm).
//!
//! Compiled for `wasm32-unknown-unknown` only; on a native target the crate is empty so
//! `cargo test --workspace` stays native.

#[cfg(target_arch = "wasm32")]
mod wasm;
