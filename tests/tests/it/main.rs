//! Cross-crate tests of the Keycard MCP core: the no-leak property of the isolate-wide
//! token cache under arbitrary interleavings (and its mutation check against naive
//! caches), a model-based test of the cache, and an end-to-end call through the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_tokens;
mod cache_model;
mod gateway_e2e;
mod leak_property;
mod naive_caches;
mod support;
