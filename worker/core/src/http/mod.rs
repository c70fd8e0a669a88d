//! The HTTP face of the server: routing ([`Gateway`]), CORS, canonical resource
//! identifiers, and THE mapping from every outcome to an HTTP status and body
//! ([`response`]).

pub mod body;
pub mod cors;
pub mod gateway;
pub mod resource;
pub mod response;

pub use gateway::Gateway;

#[cfg(test)]
mod head_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod zones_tests;
