//! Consent by URL: recognising the STS's "the user has not consented" refusal and building
//! the URL of the zone's consent page for it.
//!
//! Keycard refuses an RFC 8693 exchange for a user who has not granted the upstream with
//! `invalid_grant` (the mock zone says `the user has not consented to <resource>`). RFC 8693
//! has no consent-specific code, so a refusal counts as missing consent when
//!
//! * its code is OIDC's `consent_required` or `interaction_required`, or
//! * its code is `invalid_grant` and its `error_description` mentions consent.
//!
//! Every other `invalid_grant` (expired or foreign subject token, unknown user) stays an
//! ordinary refusal: sending the user to a consent page would not fix it.
//!
//! Keycard's public documentation names no consent-page URL, so the URL comes from a
//! template, `KEYCARD_CONSENT_URL`, with the placeholders `{issuer}` (the zone URL, as is),
//! `{user}` (the token's `sub`), `{client_id}` (this server's application in the zone) and
//! `{resource}` (the upstream's resource URL), each but `{issuer}` percent-encoded. The
//! default, [`DEFAULT_CONSENT_URL_TEMPLATE`], is the mock zone's consent page.

use sha2::{Digest, Sha256};

use crate::delegation::exchange::OAuthErrorCode;

/// The consent-page template used when `KEYCARD_CONSENT_URL` is not set: the mock zone's
/// `GET /consent` page.
pub const DEFAULT_CONSENT_URL_TEMPLATE: &str =
    "{issuer}/consent?user={user}&client_id={client_id}&resource={resource}";

/// Whether an STS refusal means "the user has not granted this upstream" (see the module
/// documentation for the rule).
pub fn is_consent_refusal(error: &OAuthErrorCode, description: Option<&str>) -> bool {
    match error {
        OAuthErrorCode::InvalidGrant => {
            description.is_some_and(|d| d.to_ascii_lowercase().contains("consent"))
        }
        OAuthErrorCode::Other(code) => {
            matches!(code.as_str(), "consent_required" | "interaction_required")
        }
        _ => false,
    }
}

/// Who must consent to what, for [`consent_url`] and [`elicitation_id`].
#[derive(Debug, Clone, Copy)]
pub struct ConsentSubject<'a> {
    /// The zone URL (the token's issuer).
    pub issuer: &'a str,
    /// The user (`sub`).
    pub user: &'a str,
    /// This server's application (client id) in the zone.
    pub client_id: &'a str,
    /// The upstream's resource URL.
    pub resource: &'a str,
}

/// The consent page URL from `template`; `None` when the result is not an absolute
/// http(s) URL (a misconfigured template: the caller falls back to the plain error text).
pub fn consent_url(template: &str, who: &ConsentSubject<'_>) -> Option<String> {
    let issuer = who.issuer.trim_end_matches('/');
    let url = template
        .replace("{issuer}", issuer)
        .replace("{user}", &encode(who.user))
        .replace("{client_id}", &encode(who.client_id))
        .replace("{resource}", &encode(who.resource));
    let parsed = url::Url::parse(&url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// A stable, opaque elicitation id for this consent: the same user, application and
/// resource always get the same id, and it reveals none of them (hex of a SHA-256 prefix).
pub fn elicitation_id(who: &ConsentSubject<'_>) -> String {
    let mut hash = Sha256::new();
    for part in [who.issuer, who.user, who.client_id, who.resource] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    format!("consent-{}", crate::session::hex(&digest[..16]))
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> ConsentSubject<'static> {
        ConsentSubject {
            issuer: "https://zone.keycard.cloud/",
            user: "zoë & co",
            client_id: "mcp-app",
            resource: "https://api.github.com",
        }
    }

    #[test]
    fn consent_refusals_are_told_apart_from_other_invalid_grants() {
        let grant = OAuthErrorCode::InvalidGrant;
        assert!(is_consent_refusal(
            &grant,
            Some("the user has not consented to https://api.github.com")
        ));
        assert!(is_consent_refusal(&grant, Some("Consent required")));
        assert!(!is_consent_refusal(&grant, Some("subject token expired")));
        assert!(!is_consent_refusal(&grant, None));
        assert!(is_consent_refusal(
            &OAuthErrorCode::parse("consent_required"),
            None
        ));
        assert!(is_consent_refusal(
            &OAuthErrorCode::parse("interaction_required"),
            None
        ));
        assert!(!is_consent_refusal(
            &OAuthErrorCode::InvalidTarget,
            Some("no consent")
        ));
    }

    #[test]
    fn the_default_template_is_the_mock_consent_page() {
        assert_eq!(
            consent_url(DEFAULT_CONSENT_URL_TEMPLATE, &who()).unwrap(),
            "https://zone.keycard.cloud/consent?user=zo%C3%AB%20%26%20co&client_id=mcp-app&resource=https%3A%2F%2Fapi.github.com"
        );
    }

    #[test]
    fn custom_templates_and_bad_ones() {
        assert_eq!(
            consent_url(
                "https://console.example/grant/{resource}?app={client_id}",
                &who()
            )
            .unwrap(),
            "https://console.example/grant/https%3A%2F%2Fapi.github.com?app=mcp-app"
        );
        assert_eq!(consent_url("not a url {user}", &who()), None);
        assert_eq!(consent_url("javascript:alert({user})", &who()), None);
    }

    #[test]
    fn elicitation_ids_are_stable_opaque_and_distinct() {
        let a = elicitation_id(&who());
        assert_eq!(a, elicitation_id(&who()));
        assert!(a.starts_with("consent-") && a.len() == 40, "{a}");
        assert!(!a.contains("zo") && !a.contains("github"));
        let other = ConsentSubject {
            resource: "https://calendar.example",
            ..who()
        };
        assert_ne!(a, elicitation_id(&other));
    }
}
