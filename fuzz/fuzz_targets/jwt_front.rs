//! The JWT front half: size, structure, header allowlist and every claim rule. Any input
//! must yield `Ok` or a typed error, never a panic.
#![no_main]

use keycard_core::SecretString;
use keycard_core::auth::jwt::{ClaimRules, check_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let issuers = vec!["https://zone.keycard.cloud".to_string()];
    let rules = ClaimRules {
        max_token_bytes: 64 * 1024,
        trusted_issuers: &issuers,
        resource_id: "https://worker.example.workers.dev",
        now_secs: 1_800_000_000,
        leeway_secs: 30,
    };
    let _ = check_token(&SecretString::new(text.to_owned()), &rules);
    let _ = keycard_core::auth::bearer::parse_authorization(text);
});
