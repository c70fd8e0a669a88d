//! `emulator replay`: drive a multi-user trace through reused isolates and prove that no
//! answer (and no upstream token) crosses between users.

pub mod driver;
pub mod generate;
pub mod histogram;
pub mod identity;
pub mod oracle;
pub mod report;
pub mod trace;
