//! `Authorization: Bearer` parsing (RFC 6750 §2.1).
//!
//! * no `Authorization` header → [`BearerError::Missing`] (401, challenge without an error
//!   code, RFC 6750 §3.1),
//! * a malformed header (empty credentials, whitespace inside the token, characters outside
//!   the `b64token` syntax, several `Authorization` headers, non-ASCII bytes) →
//!   [`BearerError::Malformed`] (400 `invalid_request`),
//! * another scheme (`Basic …`) → [`BearerError::WrongScheme`] (401 `invalid_token`).
//!
//! The scheme name is matched case-insensitively (RFC 7235 §2.1). The token is returned
//! wrapped in a [`SecretString`] so it cannot end up in a log by accident.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::secret::SecretString;

/// Why no bearer token could be taken from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// The request carries no `Authorization` header.
    #[error("no access token was presented")]
    Missing,
    /// The `Authorization` header is not a well-formed bearer credential.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// The `Authorization` header uses a scheme other than `Bearer`.
    #[error("the Authorization scheme must be Bearer")]
    WrongScheme,
}

/// Extracts the bearer token from `headers`.
pub fn bearer_token(headers: &HeaderMap) -> Result<SecretString, BearerError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::Malformed(
            "more than one Authorization header was sent",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| BearerError::Malformed("the Authorization header contains non-ASCII bytes"))?;
    parse_authorization(value)
}

/// Parses one `Authorization` header value as a bearer credential.
pub fn parse_authorization(value: &str) -> Result<SecretString, BearerError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = match value.split_once([' ', '\t']) {
        Some((scheme, rest)) => (scheme, rest),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        if scheme.is_empty() {
            return Err(BearerError::Malformed("the Authorization header is empty"));
        }
        return Err(BearerError::WrongScheme);
    }
    // RFC 7235: `credentials = auth-scheme [ 1*SP token68 ]`.
    let token = rest.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(BearerError::Malformed(
            "the Bearer scheme is given without a token",
        ));
    }
    if token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(BearerError::Malformed(
            "the bearer token contains whitespace",
        ));
    }
    if !is_b64token(token) {
        return Err(BearerError::Malformed(
            "the bearer token contains characters outside the b64token syntax",
        ));
    }
    Ok(SecretString::new(token.to_owned()))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn missing() {
        assert_eq!(
            bearer_token(&HeaderMap::new()).unwrap_err(),
            BearerError::Missing
        );
    }

    #[test]
    fn valid_any_case() {
        for v in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi",
        ] {
            assert_eq!(
                bearer_token(&headers(&[v])).unwrap().expose(),
                "abc.def.ghi",
                "{v}"
            );
        }
    }

    #[test]
    fn malformed() {
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\tb",
            "Bearer a\"b",
            "Bearer ===",
        ] {
            assert!(
                matches!(bearer_token(&headers(&[v])), Err(BearerError::Malformed(_))),
                "{v:?}"
            );
        }
        assert!(matches!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(BearerError::Malformed(_))
        ));
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        );
        assert!(matches!(bearer_token(&h), Err(BearerError::Malformed(_))));
    }

    #[test]
    fn other_scheme() {
        for v in ["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc", "DPoP abc"] {
            assert_eq!(
                bearer_token(&headers(&[v])).unwrap_err(),
                BearerError::WrongScheme,
                "{v}"
            );
        }
    }

    #[test]
    fn padding_allowed() {
        assert_eq!(
            bearer_token(&headers(&["Bearer abc=="])).unwrap().expose(),
            "abc=="
        );
    }
}
