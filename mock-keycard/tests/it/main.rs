//! Integration tests for mock-keycard: one binary, one module per concern.

mod helpers;

mod access_es256;
mod audit;
mod authcode;
mod cli;
mod discovery;
mod exchange;
mod faults;
mod logs;
mod private_key_jwt;
mod redirect_uris;
mod signature_cache;
mod upstream;
mod upstream_es256;
