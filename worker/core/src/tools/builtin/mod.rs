//! The built-in tools, written with the same public API a server author uses:
//!
//! * [`whoami()`]: the verified caller, as structured output (no network call);
//! * [`github_user()`]: the seed guide's delegated-access example — the caller's profile
//!   from the default upstream (`KEYCARD_RESOURCE_URL`, e.g. `https://api.github.com`);
//! * [`my_day()`]: two upstreams at once (`github` and `calendar`), returning what it could
//!   get with per-upstream errors (not in [`crate::Server::demo`]).

pub mod github_user;
pub mod my_day;
pub mod whoami;

pub use github_user::github_user;
pub use my_day::my_day;
pub use whoami::whoami;
