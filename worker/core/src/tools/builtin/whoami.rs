//! `whoami`: the caller as the verified bearer token describes it. Reads nothing but the
//! [`Identity`] the verifier built; makes no network call.

use serde::Serialize;

use crate::auth::identity::Identity;
use crate::tools::{Json, NoArgs, Tool, ToolAnnotations, ToolContext, ToolError};

/// `whoami`'s structured result (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WhoamiOutput {
    /// `sub`; absent for tokens without a subject (service clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `iss`: the Keycard zone.
    pub issuer: String,
    /// The MCP client the user signed in through.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `aud`.
    pub audience: Vec<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `exp` as ISO 8601 UTC.
    pub expires_at_iso: String,
}

impl WhoamiOutput {
    /// The result for `identity`.
    pub fn of(identity: &Identity) -> Self {
        Self {
            subject: identity.subject().map(str::to_owned),
            issuer: identity.issuer().to_owned(),
            client_id: identity.client_id().to_owned(),
            scopes: identity.scopes().to_vec(),
            audience: identity.audience().to_vec(),
            expires_at: identity.expires_at(),
            expires_at_iso: iso8601_utc(identity.expires_at()),
        }
    }
}

/// The `whoami` tool: subject, issuer, client, scopes, audience and expiry of the caller's
/// token.
pub fn whoami() -> Tool {
    Tool::new("whoami")
        .title("Who am I?")
        .description(
            "Shows who you are signed in as: the subject, issuer, MCP client, scopes, audience and \
             expiry of the verified Keycard access token this request carried.",
        )
        .annotations(ToolAnnotations {
            read_only_hint: Some(true),
            idempotent_hint: Some(true),
            open_world_hint: Some(false),
            ..ToolAnnotations::default()
        })
        .handler(|ctx: ToolContext, _: NoArgs| async move {
            Ok::<_, ToolError>(Json(WhoamiOutput::of(ctx.identity())))
        })
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC),
/// computed by hand (H. Hinnant's `civil_from_days`), with no date crate and no clock.
pub fn iso8601_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31). Non-negative input only, so no
/// signed arithmetic and no overflow for any `u64` number of seconds.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_instants() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z"); // leap day, century rule
        assert_eq!(iso8601_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(iso8601_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        // Absurd `exp` values format instead of overflowing.
        assert!(iso8601_utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn iso8601_matches_a_day_by_day_walk() {
        // Walk 1970..2101 day by day with an independent month-length table.
        let mut days = 0u64;
        for year in 1970u64..2101 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (m, len) in lengths.iter().enumerate() {
                for d in 1..=*len {
                    assert_eq!(civil_from_days(days), (year, m as u64 + 1, d), "day {days}");
                    days += 1;
                }
            }
        }
    }
}
