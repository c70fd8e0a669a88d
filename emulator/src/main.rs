//! `emulator` binary. Pending.
fn main() {}
