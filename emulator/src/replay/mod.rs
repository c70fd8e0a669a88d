//! `emulator replay`: drive a multi-user trace through reused isolates and prove that no
//! answer (and no upstream token) crosses between users.

pub mod callers;
pub mod driver;
pub mod faults;
pub mod generate;
pub mod histogram;
pub mod identity;
pub mod oracle;
pub mod remote;
pub mod report;
pub mod run;
pub mod trace;
pub mod zones;

pub use run::{NaiveCache, ReplayArgs, ReplayError, ReplayOutcome, SessionMode, run, run_suite};
