//! Cross-crate tests of the Keycard MCP core live in the `it` test binary
//! (`tests/it/main.rs`); their shared fake zone, latency script and oracle are in
//! `tests/it/support/`. This library is intentionally empty.
