//! The Cloudflare Worker: a thin wasm host around `keycard-core`. Pending.
