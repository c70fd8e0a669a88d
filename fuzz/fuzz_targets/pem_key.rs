//! The PEM / private-key loader (`KEYCARD_PRIVATE_KEY`): PKCS#8 passthrough, PKCS#1
//! wrapping, DER walking for the public half. Never panics, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = keycard_core::delegation::pem::parse_rsa_private_key(&text);
    let _ = keycard_core::delegation::pem::pem_to_pkcs8_der(&text);
});
