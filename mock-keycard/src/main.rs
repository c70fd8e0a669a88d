//! `mock-keycard` binary. Pending.
fn main() {}
