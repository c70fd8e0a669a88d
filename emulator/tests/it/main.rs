//! Integration tests of the emulator: one binary, one module per area.

// Test code: a panic on an unexpected error is the failure report.
#![allow(clippy::unwrap_used)]

mod faults;
mod hardening;
mod harness;
mod helpers;
mod host;
mod oauth_client;
mod replay;
mod secret_hygiene;
mod serve;
mod upstreams;
