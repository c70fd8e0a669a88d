//! Authentication errors, their RFC 6750 classification and challenge. The HTTP response
//! (status, headers, body) is assembled by [`crate::http::response::auth_error`].
//!
//! | error | status | `WWW-Authenticate` `error` | body `error` |
//! |---|---|---|---|
//! | no `Authorization` header | 401 | *(none, RFC 6750 §3.1)* | `unauthorized` |
//! | malformed `Authorization` | 400 | `invalid_request` | `invalid_request` |
//! | other scheme, any JWT check, unknown `kid`, bad signature | 401 | `invalid_token` | `invalid_token` |
//! | required scope missing | 403 | `insufficient_scope` | `insufficient_scope` |
//! | signing keys unobtainable (JWKS down past the grace period) | 503 | *(no challenge)* | `temporarily_unavailable` |
//!
//! Every challenge carries `resource_metadata="…"` and `scope="…"` (the full required
//! scope list, so clients ask for everything at once). Values are quoted; descriptions
//! are restricted to the RFC 6750 `error_description` character set (no `"` or `\`) and
//! never echo the token or attacker-chosen strings.

use crate::auth::bearer::BearerError;
use crate::auth::jwks::KeyringError;
use crate::auth::jwt::JwtError;

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is missing, malformed or not `Bearer`.
    #[error(transparent)]
    Bearer(#[from] BearerError),
    /// The token failed a check that needs no key.
    #[error(transparent)]
    Token(#[from] JwtError),
    /// No verification key could be had for the token.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// The signature does not verify with the issuer's key.
    #[error("the token signature is invalid")]
    BadSignature,
    /// The platform failed to run the signature check.
    #[error("the token signature could not be checked")]
    SignatureCheckFailed,
    /// The token is valid but lacks required scopes.
    #[error("the token lacks the required scope: {}", missing.join(" "))]
    InsufficientScope {
        /// The required scopes the token lacks (from configuration, safe to show).
        missing: Vec<String>,
    },
}

/// The RFC 6750 classification of an [`AuthError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials: challenge without an error code.
    NoCredentials,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// 503 `temporarily_unavailable`.
    Unavailable,
}

impl AuthError {
    /// How this error is reported.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Bearer(BearerError::Missing) => ErrorKind::NoCredentials,
            Self::Bearer(BearerError::Malformed(_)) => ErrorKind::InvalidRequest,
            Self::Bearer(BearerError::WrongScheme) => ErrorKind::InvalidToken,
            Self::Token(_) | Self::BadSignature | Self::SignatureCheckFailed => {
                ErrorKind::InvalidToken
            }
            Self::Keyring(KeyringError::Unavailable { .. }) => ErrorKind::Unavailable,
            Self::Keyring(_) => ErrorKind::InvalidToken,
            Self::InsufficientScope { .. } => ErrorKind::InsufficientScope,
        }
    }

    /// The OAuth error code (`None` when no credentials were presented).
    pub fn code(&self) -> Option<&'static str> {
        match self.kind() {
            ErrorKind::NoCredentials => None,
            ErrorKind::InvalidRequest => Some("invalid_request"),
            ErrorKind::InvalidToken => Some("invalid_token"),
            ErrorKind::InsufficientScope => Some("insufficient_scope"),
            ErrorKind::Unavailable => Some("temporarily_unavailable"),
        }
    }

    /// The client-facing description.
    pub fn description(&self) -> String {
        Description(self).to_string()
    }
}

/// [`AuthError::description`] as `Display`, so it can be written (and sanitized) where it
/// goes without a `String` of its own.
struct Description<'a>(&'a AuthError);

impl std::fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            AuthError::Bearer(BearerError::Missing) => {
                f.write_str("an access token is required: send Authorization: Bearer <token>")
            }
            // The cause (fetch error, URLs) is logged, not shown.
            AuthError::Keyring(KeyringError::Unavailable { .. }) => f.write_str(
                "the token issuer's signing keys cannot be fetched right now; retry later",
            ),
            other => std::fmt::Display::fmt(other, f),
        }
    }
}

/// At most this many characters of a challenge parameter are kept ("..." marks the cut).
const MAX_PARAM_CHARS: usize = 200;

/// Makes `value` safe inside a quoted `WWW-Authenticate` parameter: only the RFC 6750
/// `error_description` characters (%x20-21 / %x23-5B / %x5D-7E), at most 200 of them.
pub fn sanitize_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_PARAM_CHARS + 3));
    push_sanitized(&mut out, value);
    out
}

/// Appends [`sanitize_param`]'s result for `value`'s `Display` output to `out`, without
/// building that output first.
fn push_sanitized(out: &mut String, value: impl std::fmt::Display) {
    /// Sanitizes what is written through it, keeping the first [`MAX_PARAM_CHARS`].
    struct Sanitizer<'a> {
        out: &'a mut String,
        kept: usize,
        cut: bool,
    }
    impl std::fmt::Write for Sanitizer<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if self.kept == MAX_PARAM_CHARS {
                    self.cut = true;
                    break;
                }
                self.out.push(match c {
                    '"' => '\'',
                    '\\' => '/',
                    ' '..='~' => c,
                    _ => '?',
                });
                self.kept += 1;
            }
            Ok(())
        }
    }
    let mut sanitizer = Sanitizer {
        out,
        kept: 0,
        cut: false,
    };
    // Writing into a `String` cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut sanitizer, format_args!("{value}"));
    if sanitizer.cut {
        sanitizer.out.push_str("...");
    }
}

/// Space-separated scopes, as `Display` (the challenge's `scope` parameter).
struct Scopes<'a>(&'a [String]);

impl std::fmt::Display for Scopes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// The `WWW-Authenticate` value for `err` (`None` for 503: there is nothing to retry with
/// other credentials).
pub fn www_authenticate(
    err: &AuthError,
    resource_metadata_url: &str,
    required_scopes: &[String],
) -> Option<String> {
    challenge(
        err,
        &sanitized_description(err),
        resource_metadata_url,
        required_scopes,
    )
}

/// [`www_authenticate`], written into one `String`, with `err`'s
/// [`sanitized_description`] made by the caller (who puts it in the body too).
pub(crate) fn challenge(
    err: &AuthError,
    description: &str,
    resource_metadata_url: &str,
    required_scopes: &[String],
) -> Option<String> {
    let kind = err.kind();
    if kind == ErrorKind::Unavailable {
        return None;
    }
    let mut out = String::with_capacity(
        200 + resource_metadata_url.len()
            + required_scopes.iter().map(|s| s.len() + 1).sum::<usize>(),
    );
    out.push_str("Bearer ");
    match kind {
        ErrorKind::Unavailable | ErrorKind::NoCredentials => {}
        _ => {
            if let Some(code) = err.code() {
                out.push_str("error=\"");
                out.push_str(code);
                out.push_str("\", ");
            }
            out.push_str("error_description=\"");
            out.push_str(description);
            out.push_str("\", ");
        }
    }
    out.push_str("resource_metadata=\"");
    push_sanitized(&mut out, resource_metadata_url);
    out.push('"');
    if !required_scopes.is_empty() {
        out.push_str(", scope=\"");
        push_sanitized(&mut out, Scopes(required_scopes));
        out.push('"');
    }
    Some(out)
}

/// The sanitized description of `err`, as the challenge and the body carry it.
pub(crate) fn sanitized_description(err: &AuthError) -> String {
    let mut out = String::with_capacity(96);
    push_sanitized(&mut out, Description(err));
    out
}

/// The body's `error`: the RFC 6750 code, or `unauthorized` when there is none.
fn body_error(err: &AuthError) -> &'static str {
    err.code().unwrap_or("unauthorized")
}

/// The JSON body for `err` (RFC 6750 / RFC 6749 §5.2 shape).
pub fn error_body(err: &AuthError) -> serde_json::Value {
    serde_json::json!({
        "error": body_error(err),
        "error_description": sanitized_description(err),
    })
}

/// [`error_body`], serialized, with `err`'s [`sanitized_description`] already made.
pub(crate) fn error_body_bytes(err: &AuthError, description: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    serde_json::to_vec(&Body {
        error: body_error(err),
        error_description: description,
    })
    .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::jwt::TimeClaim;
    use crate::http::response::auth_error as auth_error_response;
    use http::header;

    const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    fn required() -> Vec<String> {
        vec!["mcp:tools".into(), "files:read".into()]
    }

    /// One of every error the authenticator can produce.
    pub(crate) fn every_error() -> Vec<AuthError> {
        let mut errors = vec![
            AuthError::Bearer(BearerError::Missing),
            AuthError::Bearer(BearerError::Malformed(
                "the Bearer scheme is given without a token",
            )),
            AuthError::Bearer(BearerError::Malformed(
                "more than one Authorization header was sent",
            )),
            AuthError::Bearer(BearerError::WrongScheme),
        ];
        let jwt = vec![
            JwtError::TooLarge { max: 8192 },
            JwtError::PartCount { parts: 2 },
            JwtError::Base64 { part: "header" },
            JwtError::Json { part: "claim set" },
            JwtError::MissingAlg,
            JwtError::AlgNone,
            JwtError::AlgHmac,
            JwtError::AlgNotAllowed,
            JwtError::Crit,
            JwtError::MissingIssuer,
            JwtError::UntrustedIssuer,
            JwtError::MissingTime(TimeClaim::Exp),
            JwtError::TimeNotNumber(TimeClaim::Exp),
            JwtError::TimeNotInteger(TimeClaim::Nbf),
            JwtError::TimeNegative(TimeClaim::Iat),
            JwtError::TimeHuge(TimeClaim::Exp),
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::IssuedInFuture,
            JwtError::MissingAudience,
            JwtError::AudienceType,
            JwtError::WrongAudience {
                resource: "https://mcp.example.com".into(),
            },
            JwtError::MissingClientId,
            JwtError::SubjectType,
            JwtError::ScopeType,
            JwtError::JtiType,
            JwtError::MissingKid,
            JwtError::SignatureLength("ES256"),
        ];
        errors.extend(jwt.into_iter().map(AuthError::Token));
        errors.extend([
            AuthError::Keyring(KeyringError::UnknownKid),
            AuthError::Keyring(KeyringError::AlgMismatch { alg: "PS256" }),
            AuthError::Keyring(KeyringError::Unavailable {
                reason: "https://zone.keycard.cloud/jwks: connection refused".into(),
                retry_after_secs: 30,
            }),
            AuthError::BadSignature,
            AuthError::SignatureCheckFailed,
            AuthError::InsufficientScope {
                missing: vec!["files:read".into()],
            },
        ]);
        errors
    }

    /// How many kinds of error [`kind_of`] tells apart. Bump it with a new arm there.
    const KINDS: usize = 37;

    /// A number and a name for each kind of error the authenticator can produce (variant
    /// by variant, the wrapped enums' too). The matches have no wildcard, so a new variant
    /// does not compile until it has an arm here; `every_error_lists_every_kind` then
    /// fails until [`every_error`] produces it.
    fn kind_of(err: &AuthError) -> (usize, &'static str) {
        match err {
            AuthError::Bearer(e) => match e {
                BearerError::Missing => (0, "BearerError::Missing"),
                BearerError::Malformed(_) => (1, "BearerError::Malformed"),
                BearerError::WrongScheme => (2, "BearerError::WrongScheme"),
            },
            AuthError::Token(e) => match e {
                JwtError::TooLarge { .. } => (3, "JwtError::TooLarge"),
                JwtError::PartCount { .. } => (4, "JwtError::PartCount"),
                JwtError::Base64 { .. } => (5, "JwtError::Base64"),
                JwtError::Json { .. } => (6, "JwtError::Json"),
                JwtError::MissingAlg => (7, "JwtError::MissingAlg"),
                JwtError::AlgNone => (8, "JwtError::AlgNone"),
                JwtError::AlgHmac => (9, "JwtError::AlgHmac"),
                JwtError::AlgNotAllowed => (10, "JwtError::AlgNotAllowed"),
                JwtError::Crit => (11, "JwtError::Crit"),
                JwtError::MissingIssuer => (12, "JwtError::MissingIssuer"),
                JwtError::UntrustedIssuer => (13, "JwtError::UntrustedIssuer"),
                JwtError::MissingTime(_) => (14, "JwtError::MissingTime"),
                JwtError::TimeNotNumber(_) => (15, "JwtError::TimeNotNumber"),
                JwtError::TimeNotInteger(_) => (16, "JwtError::TimeNotInteger"),
                JwtError::TimeNegative(_) => (17, "JwtError::TimeNegative"),
                JwtError::TimeHuge(_) => (18, "JwtError::TimeHuge"),
                JwtError::Expired => (19, "JwtError::Expired"),
                JwtError::NotYetValid => (20, "JwtError::NotYetValid"),
                JwtError::IssuedInFuture => (21, "JwtError::IssuedInFuture"),
                JwtError::MissingAudience => (22, "JwtError::MissingAudience"),
                JwtError::AudienceType => (23, "JwtError::AudienceType"),
                JwtError::WrongAudience { .. } => (24, "JwtError::WrongAudience"),
                JwtError::MissingClientId => (25, "JwtError::MissingClientId"),
                JwtError::SubjectType => (26, "JwtError::SubjectType"),
                JwtError::ScopeType => (27, "JwtError::ScopeType"),
                JwtError::JtiType => (28, "JwtError::JtiType"),
                JwtError::MissingKid => (29, "JwtError::MissingKid"),
                JwtError::SignatureLength(_) => (30, "JwtError::SignatureLength"),
            },
            AuthError::Keyring(e) => match e {
                KeyringError::UnknownKid => (31, "KeyringError::UnknownKid"),
                KeyringError::AlgMismatch { .. } => (32, "KeyringError::AlgMismatch"),
                KeyringError::Unavailable { .. } => (33, "KeyringError::Unavailable"),
            },
            AuthError::BadSignature => (34, "AuthError::BadSignature"),
            AuthError::SignatureCheckFailed => (35, "AuthError::SignatureCheckFailed"),
            AuthError::InsufficientScope { .. } => (36, "AuthError::InsufficientScope"),
        }
    }

    #[test]
    fn every_error_lists_every_kind() {
        let mut seen: [Option<&str>; KINDS] = [None; KINDS];
        for err in every_error() {
            let (kind, name) = kind_of(&err);
            // Two variants given one number would hide a missing one.
            assert!(
                seen[kind].is_none_or(|seen| seen == name),
                "kind_of() numbers {name} and {} alike",
                seen[kind].unwrap_or_default()
            );
            seen[kind] = Some(name);
        }
        let missing: Vec<usize> = (0..KINDS).filter(|&k| seen[k].is_none()).collect();
        assert!(
            missing.is_empty(),
            "every_error() lacks the kinds numbered {missing:?} in kind_of()"
        );
    }

    fn render(err: &AuthError) -> serde_json::Value {
        let response = auth_error_response(err, PRM, &required());
        let header = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned())
        };
        serde_json::json!({
            "error": format!("{err:?}"),
            "status": response.status().as_u16(),
            "www_authenticate": header(header::WWW_AUTHENTICATE),
            "retry_after": header(header::RETRY_AFTER),
            "body": serde_json::from_slice::<serde_json::Value>(response.body()).unwrap_or_default(),
        })
    }

    #[test]
    fn every_error_response() {
        let all: Vec<_> = every_error().iter().map(render).collect();
        insta::assert_json_snapshot!("every_auth_error", all);
    }

    #[test]
    fn challenges() {
        let challenges: Vec<_> = [
            AuthError::Bearer(BearerError::Missing),
            AuthError::Bearer(BearerError::Malformed(
                "the bearer token contains whitespace",
            )),
            AuthError::Token(JwtError::Expired),
            AuthError::InsufficientScope {
                missing: vec!["files:read".into()],
            },
        ]
        .iter()
        .filter_map(|e| www_authenticate(e, PRM, &required()))
        .collect();
        insta::assert_snapshot!("www_authenticate", challenges.join("\n"));
    }

    #[test]
    fn responses_are_well_formed() {
        for err in every_error() {
            let response = auth_error_response(&err, PRM, &required());
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            let description = body["error_description"].as_str().unwrap();
            assert!(!description.contains('"') && !description.contains('\\'));
            match err.kind() {
                ErrorKind::Unavailable => {
                    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
                    // The fetch failure stays in the logs.
                    assert!(!description.contains("connection refused"));
                }
                kind => {
                    let challenge = response.headers()[header::WWW_AUTHENTICATE]
                        .to_str()
                        .unwrap();
                    assert!(challenge.starts_with("Bearer "));
                    assert!(challenge.contains(&format!("resource_metadata=\"{PRM}\"")));
                    assert!(challenge.contains("scope=\"mcp:tools files:read\""));
                    assert_eq!(
                        challenge.contains("error="),
                        kind != ErrorKind::NoCredentials
                    );
                }
            }
        }
    }

    #[test]
    fn quoted_values_are_sanitized() {
        assert_eq!(sanitize_param("a\"b\\c\u{1}d\u{e9}"), "a'b/c?d?");
        let long = "x".repeat(500);
        assert_eq!(sanitize_param(&long).len(), 203);
        let challenge = www_authenticate(
            &AuthError::Token(JwtError::Expired),
            "https://evil\"host/x",
            &["a\"b".into()],
        )
        .unwrap();
        assert_eq!(challenge.matches('"').count(), 8, "{challenge}");
    }

    /// The challenge and body as first written (one `String` per parameter, joined): the
    /// oracle for the one-`String` writers above.
    mod reference {
        use super::*;

        pub fn sanitize(value: &str) -> String {
            let mut out: String = value
                .chars()
                .map(|c| match c {
                    '"' => '\'',
                    '\\' => '/',
                    ' '..='~' => c,
                    _ => '?',
                })
                .take(200)
                .collect();
            if value.chars().count() > 200 {
                out.push_str("...");
            }
            out
        }

        pub fn challenge(err: &AuthError, url: &str, scopes: &[String]) -> Option<String> {
            let mut params = Vec::new();
            match err.kind() {
                ErrorKind::Unavailable => return None,
                ErrorKind::NoCredentials => {}
                _ => {
                    if let Some(code) = err.code() {
                        params.push(format!("error=\"{code}\""));
                    }
                    params.push(format!(
                        "error_description=\"{}\"",
                        sanitize(&err.description())
                    ));
                }
            }
            params.push(format!("resource_metadata=\"{}\"", sanitize(url)));
            if !scopes.is_empty() {
                params.push(format!("scope=\"{}\"", sanitize(&scopes.join(" "))));
            }
            Some(format!("Bearer {}", params.join(", ")))
        }

        pub fn body(err: &AuthError) -> serde_json::Value {
            serde_json::json!({
                "error": err.code().unwrap_or("unauthorized"),
                "error_description": sanitize(&err.description()),
            })
        }
    }

    proptest::proptest! {
        /// Every error's challenge and body, for any URL and scopes (quotes, backslashes,
        /// control and non-ASCII characters, lengths either side of the 200-character
        /// cut), are what the reference writes.
        #[test]
        fn challenges_and_bodies_match_the_reference(
            url in "[a-z\"\\\\/:.\u{0}-\u{1f}\u{e9}\u{1f600}]{0,260}",
            scopes in proptest::collection::vec("[a-z:\"\u{e9}]{0,120}", 0..4),
            long in "[ -~\u{e9}]{190,210}",
        ) {
            // Descriptions that carry configuration (a resource, scopes) can pass the cut.
            let mut errors = every_error();
            errors.push(AuthError::Token(JwtError::WrongAudience { resource: url.clone() }));
            errors.push(AuthError::InsufficientScope { missing: scopes.clone() });
            for err in &errors {
                let expected = reference::challenge(err, &url, &scopes);
                proptest::prop_assert_eq!(www_authenticate(err, &url, &scopes), expected.clone());
                let described = sanitized_description(err);
                proptest::prop_assert_eq!(&described, &reference::sanitize(&err.description()));
                proptest::prop_assert_eq!(challenge(err, &described, &url, &scopes), expected);
                let body: serde_json::Value =
                    serde_json::from_slice(&error_body_bytes(err, &described)).unwrap();
                proptest::prop_assert_eq!(&body, &reference::body(err));
                proptest::prop_assert_eq!(error_body(err), body);
            }
            proptest::prop_assert_eq!(sanitize_param(&url), reference::sanitize(&url));
            proptest::prop_assert_eq!(sanitize_param(&long), reference::sanitize(&long));
        }
    }
}
