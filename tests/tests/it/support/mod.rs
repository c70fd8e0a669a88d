//! Test support: the in-process fake zone and upstream, deterministic latency, tokens,
//! one isolate's wiring, and the leak property's scenarios and oracle.

pub mod fake_zone;
pub mod latency;
pub mod scenario;
pub mod tokens;
pub mod world;
