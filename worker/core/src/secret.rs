//! Secrets in newtypes whose `Debug` and `Display` never print the value.
//!
//! Bearer tokens, exchanged tokens, client secrets and private keys all live in
//! [`Secret`]. Reading the value takes an explicit [`Secret::expose`] call, which makes
//! every place a secret leaves the type easy to find in review.

use std::fmt;

/// A value that must never appear in logs, `Debug` output or error bodies.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret<T>(T);

/// A secret string: a token, a client secret, a PEM.
pub type SecretString = Secret<String>;

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Call sites are where secrets leave the type: keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = SecretString::from("eyJhbGciOi.secret.value");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "eyJhbGciOi.secret.value");
    }
}
