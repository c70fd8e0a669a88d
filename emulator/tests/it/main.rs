//! Integration tests of the emulator: one binary, one module per area.

// Test code: a panic on an unexpected error is the failure report.
#![allow(clippy::unwrap_used)]

mod helpers;
mod host;
mod replay;
mod serve;
