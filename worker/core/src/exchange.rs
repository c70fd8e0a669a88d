//! RFC 8693 token exchange at the Keycard STS.
//!
//! Shaped like oauth2-rs: [`prepare_request`] (pure) builds the `POST` to the token
//! endpoint, the [`crate::ports::HttpClient`] sends it under the outbound timeout, and
//! [`parse_response`] (pure) turns the answer into an [`UpstreamToken`] or a typed
//! [`ExchangeError`]. [`TokenExchanger`] strings them together, finding the token
//! endpoint through [`Discovery`] for the issuer of the presented token.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;

use crate::config::Config;
use crate::credentials::{ClientAuth, ClientCredentials, CredentialsError};
use crate::discovery::{Discovery, DiscoveryError};
use crate::ports::{HttpError, Ports, with_timeout};
use crate::secret::SecretString;

/// `grant_type` of RFC 8693.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` for an OAuth access token.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Longest `error_description` passed on (it reaches the user as a tool error).
const MAX_DESCRIPTION_CHARS: usize = 300;

/// An RFC 6749 §5.2 / RFC 8693 §2.2.2 error code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`: the subject token is not acceptable, or the user has not consented.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_target`: the requested resource is not available to this application.
    InvalidTarget,
    /// `access_denied`.
    AccessDenied,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// Any other code, verbatim (truncated).
    Other(String),
}

impl OAuthErrorCode {
    /// Parses a wire code.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "access_denied" => Self::AccessDenied,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            other => Self::Other(sanitise(other, 64)),
        }
    }

    /// The wire code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Other(code) => code,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no upstream token was obtained. Never contains a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The STS refused with an RFC 6749 §5.2 JSON error (any 4xx).
    #[error("token exchange refused ({error}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error code.
        error: OAuthErrorCode,
        /// `error_description`, if any (sanitised, truncated).
        description: Option<String>,
    },
    /// The STS is overloaded or failing (5xx, 429): retriable later.
    #[error("token endpoint unavailable (HTTP {status})")]
    Unavailable {
        /// The HTTP status.
        status: u16,
    },
    /// The answer is not a token response nor an OAuth error (non-JSON, no
    /// `access_token`, wrong `token_type`).
    #[error("malformed token endpoint response (HTTP {status}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        status: u16,
        /// What is wrong (never the body itself).
        reason: &'static str,
    },
    /// The STS did not answer within the outbound timeout.
    #[error("token endpoint timed out")]
    Timeout,
    /// The STS could not be reached.
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    /// The token endpoint could not be discovered.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The Worker could not authenticate itself (key import, signing).
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The request could not be built (e.g. a token endpoint that is not a valid URI).
    #[error("could not build the token request: {0}")]
    InvalidRequest(&'static str),
}

impl ExchangeError {
    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Timeout | Self::Transport(_) | Self::Discovery(_)
        ) || matches!(
            self,
            Self::Refused {
                error: OAuthErrorCode::TemporarilyUnavailable,
                ..
            }
        )
    }
}

/// An upstream access token from the STS. `Debug` redacts the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamToken {
    /// The token to send upstream as `Authorization: Bearer`.
    pub access_token: SecretString,
    /// `token_type` (`Bearer`).
    pub token_type: String,
    /// `expires_in`, seconds.
    pub expires_in: Option<u64>,
    /// Granted `scope`, if the STS said.
    pub scope: Option<String>,
    /// `issued_token_type`.
    pub issued_token_type: Option<String>,
}

/// The parameters of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeParams<'a> {
    /// The STS token endpoint (absolute URL).
    pub token_endpoint: &'a str,
    /// The user's bearer token.
    pub subject_token: &'a SecretString,
    /// The upstream resource (RFC 8707 `resource`).
    pub resource: &'a str,
    /// Requested scopes; empty for none.
    pub scopes: &'a [String],
}

/// The form fields of an RFC 8693 request, in order (without client authentication).
pub fn exchange_form(params: &ExchangeParams<'_>) -> Vec<(String, String)> {
    let mut form = vec![
        (
            "grant_type".to_owned(),
            GRANT_TYPE_TOKEN_EXCHANGE.to_owned(),
        ),
        (
            "subject_token".to_owned(),
            params.subject_token.expose().clone(),
        ),
        (
            "subject_token_type".to_owned(),
            TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
        ),
        ("resource".to_owned(), params.resource.to_owned()),
    ];
    if !params.scopes.is_empty() {
        form.push(("scope".to_owned(), params.scopes.join(" ")));
    }
    form
}

/// Builds the token request (pure).
pub fn prepare_request(
    params: &ExchangeParams<'_>,
    client_auth: &ClientAuth,
) -> Result<http::Request<Bytes>, ExchangeError> {
    let mut form = exchange_form(params);
    let mut headers = HeaderMap::new();
    client_auth.apply(&mut form, &mut headers);
    let body = serde_urlencoded::to_string(&form)
        .map_err(|_| ExchangeError::InvalidRequest("form encoding failed"))?;
    let uri: http::Uri = params
        .token_endpoint
        .parse()
        .map_err(|_| ExchangeError::InvalidRequest("the token endpoint is not a valid URI"))?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(ExchangeError::InvalidRequest(
            "the token endpoint is not an absolute URL",
        ));
    }
    let mut request = http::Request::new(Bytes::from(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let h = request.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        if let Some(name) = name {
            h.insert(name, value);
        }
    }
    Ok(request)
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<serde_json::Value>,
    token_type: Option<serde_json::Value>,
    expires_in: Option<serde_json::Value>,
    scope: Option<serde_json::Value>,
    issued_token_type: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    error_description: Option<serde_json::Value>,
}

/// Interprets the token endpoint's answer (pure).
pub fn parse_response(response: &http::Response<Bytes>) -> Result<UpstreamToken, ExchangeError> {
    let status = response.status();
    let code = status.as_u16();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ExchangeError::Unavailable { status: code });
    }
    let body: Option<TokenBody> = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .filter(serde_json::Value::is_object)
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(body) = body else {
        return Err(ExchangeError::MalformedResponse {
            status: code,
            reason: "the body is not a JSON object",
        });
    };
    let refused = |body: &TokenBody| {
        body.error
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .map(|error| ExchangeError::Refused {
                status: code,
                error: OAuthErrorCode::parse(error),
                description: body
                    .error_description
                    .as_ref()
                    .and_then(serde_json::Value::as_str)
                    .map(|d| sanitise(d, MAX_DESCRIPTION_CHARS))
                    .filter(|d| !d.is_empty()),
            })
    };
    if !status.is_success() {
        return Err(refused(&body).unwrap_or(ExchangeError::MalformedResponse {
            status: code,
            reason: "an error status without an OAuth `error` member",
        }));
    }
    let access_token = match body
        .access_token
        .as_ref()
        .and_then(serde_json::Value::as_str)
    {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => {
            return Err(refused(&body).unwrap_or(ExchangeError::MalformedResponse {
                status: code,
                reason: "no `access_token` string",
            }));
        }
    };
    let token_type = match &body.token_type {
        None => "Bearer".to_owned(),
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => t.clone(),
        Some(_) => {
            return Err(ExchangeError::MalformedResponse {
                status: code,
                reason: "`token_type` is not Bearer",
            });
        }
    };
    let expires_in = match &body.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Some(secs),
            (None, Some(f)) if f.is_finite() && f >= 0.0 => Some(f as u64),
            _ => {
                return Err(ExchangeError::MalformedResponse {
                    status: code,
                    reason: "`expires_in` is not a non-negative number",
                });
            }
        },
        Some(serde_json::Value::String(s)) => match s.trim().parse::<u64>() {
            Ok(secs) => Some(secs),
            Err(_) => {
                return Err(ExchangeError::MalformedResponse {
                    status: code,
                    reason: "`expires_in` is not a non-negative number",
                });
            }
        },
        Some(_) => {
            return Err(ExchangeError::MalformedResponse {
                status: code,
                reason: "`expires_in` is not a non-negative number",
            });
        }
    };
    let string =
        |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str()).map(str::to_owned);
    Ok(UpstreamToken {
        access_token: SecretString::new(access_token),
        token_type,
        expires_in,
        scope: string(&body.scope),
        issued_token_type: string(&body.issued_token_type),
    })
}

/// Printable, single-line, bounded text from a remote party.
fn sanitise(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

/// Exchanges users' tokens at the STS of their issuer.
pub struct TokenExchanger {
    config: Arc<Config>,
    ports: Ports,
    discovery: Arc<Discovery>,
    credentials: Arc<ClientCredentials>,
}

impl std::fmt::Debug for TokenExchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchanger")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// What to exchange, and for what.
#[derive(Debug, Clone)]
pub struct ExchangeInput {
    /// The presented token's issuer (its STS does the exchange).
    pub issuer: String,
    /// The presented token.
    pub subject_token: SecretString,
    /// The upstream resource.
    pub resource: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// This server's resource identifier (web identity's client id), if known.
    pub resource_id: Option<String>,
}

impl TokenExchanger {
    /// An exchanger using `discovery` to find token endpoints.
    pub fn new(
        config: Arc<Config>,
        ports: Ports,
        discovery: Arc<Discovery>,
        credentials: Arc<ClientCredentials>,
    ) -> Self {
        Self {
            config,
            ports,
            discovery,
            credentials,
        }
    }

    /// The credentials this exchanger authenticates with.
    pub fn credentials(&self) -> &Arc<ClientCredentials> {
        &self.credentials
    }

    /// Performs one exchange: discovery, client authentication, `POST`, parse.
    pub async fn exchange(&self, input: &ExchangeInput) -> Result<UpstreamToken, ExchangeError> {
        let metadata = self.discovery.metadata(&input.issuer).await?;
        let token_endpoint = metadata.token_endpoint.as_str();
        let client_auth = self
            .credentials
            .authenticate(input.resource_id.as_deref(), token_endpoint)
            .await?;
        let request = prepare_request(
            &ExchangeParams {
                token_endpoint,
                subject_token: &input.subject_token,
                resource: &input.resource,
                scopes: &input.scopes,
            },
            &client_auth,
        )?;
        let sent = with_timeout(
            self.ports.clock.as_ref(),
            self.config.limits.outbound_timeout,
            self.ports.http.send(request),
        )
        .await;
        let response = match sent {
            None | Some(Err(HttpError::Timeout)) => return Err(ExchangeError::Timeout),
            Some(Err(e)) => return Err(ExchangeError::Transport(e.to_string())),
            Some(Ok(response)) => response,
        };
        let result = parse_response(&response);
        match &result {
            Ok(_) => tracing::debug!(issuer = %input.issuer, "token exchange succeeded"),
            Err(e) => tracing::info!(issuer = %input.issuer, error = %e, "token exchange failed"),
        }
        result
    }
}
