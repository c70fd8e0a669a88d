//! Integration tests of the emulator: one binary, one module per area.

mod helpers;
mod host;
mod replay;
mod serve;
