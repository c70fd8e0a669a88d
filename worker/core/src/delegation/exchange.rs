//! RFC 8693 token exchange at the Keycard STS.
//!
//! Shaped like oauth2-rs: [`prepare_request`] (pure) builds the `POST` to the token
//! endpoint, the [`crate::ports::HttpClient`] sends it under the outbound timeout, and
//! [`parse_response`] (pure) turns the answer into an [`UpstreamToken`] or a typed
//! [`ExchangeError`]. [`TokenExchanger`] strings them together, finding the token
//! endpoint through [`Discovery`] for the issuer of the presented token.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;

use crate::config::Config;
use crate::delegation::credentials::{ClientAuth, ClientCredentials, CredentialsError};
use crate::oauth::discovery::{Discovery, DiscoveryError};
use crate::outbound::budget::Budget;
use crate::ports::{HttpError, Ports};
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
    // 5xx and 429 (Too Many Requests) from the STS are worth retrying later.
    if status.is_server_error() || status.as_u16() == 429 {
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
        self.exchange_within(input, Budget::UNLIMITED).await
    }

    /// [`TokenExchanger::exchange`] within a request's outbound [`Budget`]: discovery of
    /// the token endpoint and the `POST` each get `min(outbound timeout, time left)`, and
    /// a spent budget fails with [`ExchangeError::Timeout`] without sending anything.
    ///
    /// When the token cache shares this exchange with concurrent requests for the same
    /// key (`Inflight::Await`), it runs under the budget of the request that started it
    /// (the owner); the joiners wait for that outcome.
    pub async fn exchange_within(
        &self,
        input: &ExchangeInput,
        budget: Budget,
    ) -> Result<UpstreamToken, ExchangeError> {
        let metadata = self
            .discovery
            .metadata_within(&input.issuer, budget)
            .await?;
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
        let sent = budget
            .run(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegation::credentials::tests::FakeCrypto;
    use crate::ports::testing::{ManualClock, ScriptedHttp, SharedManualClock, json_response};
    use crate::ports::{BoxFuture, HttpClient};
    use serde_json::json;
    use std::time::Duration;

    const ISS: &str = "https://zone.keycard.cloud";
    const TOKEN_ENDPOINT: &str = "https://zone.keycard.cloud/oauth/token";

    fn config(private_key: bool) -> Config {
        Config::from_env(|k| {
            match k {
                "KEYCARD_ISSUER" => Some(ISS),
                "KEYCARD_RESOURCE_URL" => Some("https://api.github.com"),
                "KEYCARD_CLIENT_ID" => Some("my-app"),
                "KEYCARD_CLIENT_SECRET" => Some("s3cr3t"),
                "KEYCARD_PRIVATE_KEY" if private_key => {
                    Some(crate::delegation::credentials::tests::PKCS1)
                }
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap()
    }

    fn response(status: u16, body: &str) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    fn params<'a>(token: &'a SecretString, scopes: &'a [String]) -> ExchangeParams<'a> {
        ExchangeParams {
            token_endpoint: TOKEN_ENDPOINT,
            subject_token: token,
            resource: "https://api.github.com",
            scopes,
        }
    }

    fn form_of(request: &http::Request<Bytes>) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(request.body()).unwrap()
    }

    /// The form with the secret values replaced by placeholders, for snapshots.
    fn redacted_form(request: &http::Request<Bytes>) -> Vec<(String, String)> {
        form_of(request)
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "subject_token" => (k, "<subject token>".into()),
                "client_assertion" => (k, "<client assertion>".into()),
                _ => (k, v),
            })
            .collect()
    }

    #[tokio::test]
    async fn prepare_request_client_secret_basic() {
        let token = SecretString::from("user.bearer.token");
        let creds = ClientCredentials::new(
            &config(false).credential,
            Arc::new(FakeCrypto::default()),
            Arc::new(SharedManualClock(ManualClock::new(0))),
        )
        .unwrap();
        let auth = creds.authenticate(None, TOKEN_ENDPOINT).await.unwrap();
        let request = prepare_request(&params(&token, &[]), &auth).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), TOKEN_ENDPOINT);
        assert_eq!(
            request.headers()[header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            request.headers()[header::AUTHORIZATION],
            "Basic bXktYXBwOnMzY3IzdA=="
        );
        assert_eq!(
            form_of(&request),
            vec![
                ("grant_type".into(), GRANT_TYPE_TOKEN_EXCHANGE.into()),
                ("subject_token".into(), "user.bearer.token".into()),
                ("subject_token_type".into(), TOKEN_TYPE_ACCESS_TOKEN.into()),
                ("resource".into(), "https://api.github.com".into()),
            ]
        );
        insta::assert_snapshot!(
            "exchange_form_client_secret_basic",
            std::str::from_utf8(request.body())
                .unwrap()
                .replace("user.bearer.token", "SUBJECT_TOKEN")
        );
    }

    #[test]
    fn prepare_request_with_scopes_and_bad_endpoint() {
        let token = SecretString::from("t");
        let scopes = vec!["repo".to_owned(), "read:user".to_owned()];
        let request = prepare_request(&params(&token, &scopes), &ClientAuth::default()).unwrap();
        assert_eq!(
            form_of(&request).last().unwrap(),
            &("scope".to_owned(), "repo read:user".to_owned())
        );
        for bad in ["not a uri at all", "/relative/token"] {
            let p = ExchangeParams {
                token_endpoint: bad,
                ..params(&token, &[])
            };
            assert!(matches!(
                prepare_request(&p, &ClientAuth::default()),
                Err(ExchangeError::InvalidRequest(_))
            ));
        }
    }

    #[tokio::test]
    async fn prepare_request_private_key_jwt() {
        let clock = Arc::new(SharedManualClock(ManualClock::new(1_700_000_000_000)));
        let creds = ClientCredentials::new(
            &config(true).credential,
            Arc::new(FakeCrypto::default()),
            clock,
        )
        .unwrap();
        let auth = creds
            .authenticate(Some("https://mcp.example.com"), TOKEN_ENDPOINT)
            .await
            .unwrap();
        let token = SecretString::from("user.bearer.token");
        let request = prepare_request(&params(&token, &[]), &auth).unwrap();
        assert!(request.headers().get(header::AUTHORIZATION).is_none());
        insta::assert_yaml_snapshot!("exchange_form_private_key_jwt", redacted_form(&request));
    }

    #[test]
    fn parse_success() {
        let token = parse_response(&json_response(
            200,
            json!({
                "access_token": "gho_upstream",
                "token_type": "bearer",
                "expires_in": 3600,
                "scope": "read:user",
                "issued_token_type": TOKEN_TYPE_ACCESS_TOKEN,
            }),
        ))
        .unwrap();
        assert_eq!(token.access_token.expose(), "gho_upstream");
        assert_eq!(token.expires_in, Some(3600));
        assert_eq!(token.scope.as_deref(), Some("read:user"));
        assert_eq!(
            token.issued_token_type.as_deref(),
            Some(TOKEN_TYPE_ACCESS_TOKEN)
        );
        assert!(!format!("{token:?}").contains("gho_upstream"));

        let minimal = parse_response(&json_response(200, json!({ "access_token": "a" }))).unwrap();
        assert_eq!(minimal.token_type, "Bearer");
        assert_eq!(minimal.expires_in, None);
        let stringly =
            parse_response(&response(200, r#"{"access_token":"a","expires_in":"60"}"#)).unwrap();
        assert_eq!(stringly.expires_in, Some(60));
    }

    #[test]
    fn parse_every_oauth_error_code() {
        let codes = [
            ("invalid_grant", OAuthErrorCode::InvalidGrant),
            ("invalid_target", OAuthErrorCode::InvalidTarget),
            ("invalid_client", OAuthErrorCode::InvalidClient),
            ("invalid_request", OAuthErrorCode::InvalidRequest),
            ("invalid_scope", OAuthErrorCode::InvalidScope),
            ("unauthorized_client", OAuthErrorCode::UnauthorizedClient),
            ("access_denied", OAuthErrorCode::AccessDenied),
            (
                "temporarily_unavailable",
                OAuthErrorCode::TemporarilyUnavailable,
            ),
            (
                "something_new",
                OAuthErrorCode::Other("something_new".into()),
            ),
        ];
        for (status, (code, expected)) in [400u16, 401, 403].iter().cycle().zip(codes) {
            let err = parse_response(&json_response(
                *status,
                json!({ "error": code, "error_description": "the user has not\nauthorized GitHub" }),
            ))
            .unwrap_err();
            assert_eq!(
                err,
                ExchangeError::Refused {
                    status: *status,
                    error: expected.clone(),
                    description: Some("the user has notauthorized GitHub".into()),
                }
            );
            assert_eq!(expected.as_str(), code);
        }
        let bare =
            parse_response(&json_response(400, json!({ "error": "invalid_grant" }))).unwrap_err();
        assert_eq!(bare.to_string(), "token exchange refused (invalid_grant)");
        let long = "x".repeat(5000);
        let ExchangeError::Refused { description, .. } = parse_response(&json_response(
            400,
            json!({ "error": "invalid_grant", "error_description": long }),
        ))
        .unwrap_err() else {
            panic!("expected Refused");
        };
        assert_eq!(description.map(|d| d.len()), Some(MAX_DESCRIPTION_CHARS));
    }

    #[test]
    fn parse_unavailable_and_malformed() {
        for status in [500u16, 502, 503, 429] {
            let err = parse_response(&json_response(
                status,
                json!({ "error": "temporarily_unavailable" }),
            ))
            .unwrap_err();
            assert_eq!(err, ExchangeError::Unavailable { status });
            assert!(err.is_retriable());
        }
        let cases = [
            response(200, "<html>oops</html>"),
            response(200, "[1,2]"),
            response(200, r#"{"token_type":"Bearer"}"#),
            response(200, r#"{"access_token":""}"#),
            response(200, r#"{"access_token":42}"#),
            response(200, r#"{"access_token":"a","token_type":"N_A"}"#),
            response(200, r#"{"access_token":"a","expires_in":-5}"#),
            response(200, r#"{"access_token":"a","expires_in":"soon"}"#),
            response(400, "Bad Request"),
            response(400, r#"{"message":"no"}"#),
            response(302, ""),
        ];
        for case in &cases {
            let err = parse_response(case).unwrap_err();
            assert!(
                matches!(err, ExchangeError::MalformedResponse { status, .. } if status == case.status().as_u16()),
                "{err:?}"
            );
            assert!(!err.is_retriable());
        }
        // A 200 carrying an OAuth error is still a refusal.
        assert!(matches!(
            parse_response(&json_response(200, json!({ "error": "invalid_target" }))),
            Err(ExchangeError::Refused {
                error: OAuthErrorCode::InvalidTarget,
                ..
            })
        ));
    }

    /// Metadata from the well-known URL; the token endpoint answers from `token`.
    fn zone(
        token: impl Fn(&http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> Arc<ScriptedHttp> {
        ScriptedHttp::new(move |req| {
            if req.uri() == "https://zone.keycard.cloud/.well-known/oauth-authorization-server" {
                Ok(json_response(
                    200,
                    json!({
                        "issuer": ISS,
                        "jwks_uri": format!("{ISS}/.well-known/jwks.json"),
                        "token_endpoint": TOKEN_ENDPOINT,
                    }),
                ))
            } else if req.uri() == TOKEN_ENDPOINT {
                Ok(token(req))
            } else {
                Err(HttpError::Connect(format!("no route to {}", req.uri())))
            }
        })
    }

    fn exchanger(http: Arc<dyn HttpClient>, clock: Arc<ManualClock>) -> TokenExchanger {
        let config = Arc::new(config(false));
        let ports = Ports {
            clock: Arc::new(SharedManualClock(clock)),
            http,
            crypto: Arc::new(FakeCrypto::default()),
        };
        let credentials = Arc::new(
            ClientCredentials::new(
                &config.credential,
                ports.crypto.clone(),
                ports.clock.clone(),
            )
            .unwrap(),
        );
        let discovery = Arc::new(Discovery::new(config.clone(), ports.clone()));
        TokenExchanger::new(config, ports, discovery, credentials)
    }

    fn input(issuer: &str) -> ExchangeInput {
        ExchangeInput {
            issuer: issuer.into(),
            subject_token: "user.bearer.token".into(),
            resource: "https://api.github.com".into(),
            scopes: vec![],
            resource_id: Some("https://mcp.example.com".into()),
        }
    }

    #[tokio::test]
    async fn exchange_discovers_the_endpoint_and_posts() {
        let http = zone(|_| json_response(200, json!({ "access_token": "up", "expires_in": 60 })));
        let ex = exchanger(http.clone(), ManualClock::new(0));
        let token = ex.exchange(&input(ISS)).await.unwrap();
        assert_eq!(token.access_token.expose(), "up");
        let token_requests: Vec<_> = http
            .requests()
            .into_iter()
            .filter(|r| r.uri() == TOKEN_ENDPOINT)
            .collect();
        assert_eq!(token_requests.len(), 1);
        assert!(
            token_requests[0].headers()[header::AUTHORIZATION]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
        // Discovery is cached: a second exchange fetches no metadata.
        ex.exchange(&input(ISS)).await.unwrap();
        assert_eq!(http.count_matching("/.well-known/"), 1);
        assert_eq!(http.count_matching("/oauth/token"), 2);
    }

    #[tokio::test]
    async fn exchange_for_an_untrusted_issuer_makes_no_call() {
        let http = zone(|_| json_response(200, json!({ "access_token": "up" })));
        let ex = exchanger(http.clone(), ManualClock::new(0));
        let err = ex
            .exchange(&input("https://evil.example"))
            .await
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Discovery(_)), "{err:?}");
        assert_eq!(http.request_count(), 0);
    }

    #[tokio::test]
    async fn exchange_transport_errors() {
        let http = ScriptedHttp::new(|req| {
            if req.uri().path().starts_with("/.well-known/") {
                Ok(json_response(
                    200,
                    json!({ "issuer": ISS, "jwks_uri": format!("{ISS}/jwks"), "token_endpoint": TOKEN_ENDPOINT }),
                ))
            } else {
                Err(HttpError::Connect("connection reset".into()))
            }
        });
        let ex = exchanger(http, ManualClock::new(0));
        assert_eq!(
            ex.exchange(&input(ISS)).await.unwrap_err(),
            ExchangeError::Transport("connection failed: connection reset".into())
        );
    }

    /// Discovery answers at once; the token endpoint never answers.
    struct HangingTokenEndpoint(Arc<ScriptedHttp>);

    impl HttpClient for HangingTokenEndpoint {
        fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
            if request.uri() == TOKEN_ENDPOINT {
                // Recorded by the scripted client; its answer is never delivered.
                drop(self.0.send(request));
                Box::pin(futures::future::pending())
            } else {
                self.0.send(request)
            }
        }
    }

    #[tokio::test]
    async fn exchange_times_out_on_the_clock() {
        let scripted = zone(|_| json_response(200, json!({ "access_token": "never" })));
        let clock = ManualClock::new(0);
        let ex = exchanger(
            Arc::new(HangingTokenEndpoint(scripted.clone())),
            clock.clone(),
        );
        let input = input(ISS);
        let (result, ()) = futures::join!(ex.exchange(&input), async {
            while scripted.count_matching("/oauth/token") == 0 {
                tokio::task::yield_now().await;
            }
            clock.advance(Duration::from_millis(9_999));
            tokio::task::yield_now().await;
            clock.advance(Duration::from_millis(1));
        });
        assert_eq!(result.unwrap_err(), ExchangeError::Timeout);
    }
}
