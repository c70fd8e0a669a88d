//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An OAuth error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed (HTTP 401).
    InvalidClient,
    /// The grant (code, refresh token, subject token) is invalid, or consent is missing.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// Unknown grant type.
    UnsupportedGrantType,
    /// Scope not allowed.
    InvalidScope,
    /// Resource/audience not allowed (RFC 8707).
    InvalidTarget,
    /// The user denied.
    AccessDenied,
    /// Bad client metadata (RFC 7591).
    InvalidClientMetadata,
    /// Bad redirect URI (RFC 7591).
    InvalidRedirectUri,
    /// Internal error.
    ServerError,
}

impl ErrorCode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::ServerError => "server_error",
        }
    }
}

/// An OAuth error with a human description (never containing tokens or secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The code.
    pub code: ErrorCode,
    /// The description.
    pub description: String,
}

impl OAuthError {
    /// A new error.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    pub fn client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_target`.
    pub fn target(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `invalid_scope`.
    pub fn scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// The HTTP status: 401 for `invalid_client`, 500 for `server_error`, else 400.
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// `code: description`, for the audit log.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.code == ErrorCode::InvalidClient {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="mock-keycard", charset="UTF-8""#),
            );
        }
        response
    }
}
