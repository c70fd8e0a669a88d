//! Rules every outbound call follows: one time [`budget`] per request, and
//! [`single_flight`] sharing of a fetch among the requests that need it at once.

pub mod budget;
pub mod single_flight;

pub use budget::Budget;
