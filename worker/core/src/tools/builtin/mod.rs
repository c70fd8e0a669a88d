//! The built-in tools, written with the same public API a server author uses:
//!
//! * [`whoami()`]: the verified caller, as structured output (no network call);
//! * [`github_user()`]: the seed guide's delegated-access example — the caller's profile
//!   from the default upstream (`KEYCARD_RESOURCE_URL`, e.g. `https://api.github.com`).

pub mod github_user;
pub mod whoami;

pub use github_user::github_user;
pub use whoami::whoami;
