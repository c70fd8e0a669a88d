//! OAuth metadata: the issuers' RFC 8414 documents this server reads ([`discovery`]) and
//! the RFC 9728 protected-resource metadata it publishes ([`metadata`]).

pub mod discovery;
pub mod metadata;
