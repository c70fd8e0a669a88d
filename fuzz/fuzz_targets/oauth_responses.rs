//! What the zone sends back: token-exchange responses (RFC 6749 §5.1/§5.2), RFC 8414
//! metadata and JWK sets. Any status and body yields a typed result, never a panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (200u16 + u16::from(*s) % 400, rest),
        None => (200, data),
    };
    let response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::copy_from_slice(body))
        .expect("valid status");
    let _ = keycard_core::delegation::exchange::parse_response(&response);
    let _ = keycard_core::oauth::discovery::parse_metadata("https://zone.keycard.cloud", body);
    let _ = keycard_core::auth::jwks::parse_jwks(body);
});
