//! The token endpoint: parsing, client authentication, grant dispatch, audit, responses.
//!
//! Grants: RFC 8693 token exchange, `authorization_code` (PKCE S256 required),
//! `refresh_token` (rotating), `client_credentials`. Errors follow RFC 6749 §5.2
//! (`invalid_client` → 401 with `WWW-Authenticate: Basic`). Problems with the subject token of
//! an exchange are `invalid_grant` (it is the grant being presented); a resource that is not a
//! dependency of the application is `invalid_target`; a user without consent is `invalid_grant`.

mod client_auth;
mod client_credentials;
mod code;
mod exchange;
mod refresh;

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, CREDENTIALS_ISSUE, Outcome};
use crate::error::{ErrorCode, OAuthError};
use crate::jws::Claims;
use crate::mint::new_jti;
use crate::zone::{Zone, now};

pub use client_auth::CLIENT_ASSERTION_TYPE;

/// RFC 8693 grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 access token type.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 JWT token type.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Form parameters, each at most once (RFC 6749 §3.2).
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::request("body is not application/x-www-form-urlencoded"))?;
        let mut map = HashMap::new();
        for (name, value) in pairs {
            if map.contains_key(&name) {
                return Err(OAuthError::request(format!("parameter {name} is repeated")));
            }
            map.insert(name, value);
        }
        Ok(Self(map))
    }

    /// A non-empty parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::request(format!("missing parameter {name}")))
    }
}

/// What the audit event will say; handlers fill it as they learn.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub grant_type: Option<String>,
    pub user: Option<String>,
    pub application: Option<String>,
    pub original_client: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    #[serde(skip)]
    pub jti: String,
    #[serde(skip)]
    pub expires_at: i64,
}

/// `POST /token`.
pub(crate) async fn token(State(zone): State<Zone>, headers: HeaderMap, body: Bytes) -> Response {
    let mut ctx = Ctx::default();
    let result = handle(&zone, &headers, &body, &mut ctx).await;
    let (outcome, reason, jti, expires_at) = match &result {
        Ok(r) => (
            Outcome::Issued,
            None,
            Some(r.jti.clone()),
            Some(r.expires_at),
        ),
        Err(e) => (Outcome::Refused, Some(e.reason()), None, None),
    };
    tracing::info!(
        grant_type = ctx.grant_type.as_deref().unwrap_or("-"),
        application = ctx.application.as_deref().unwrap_or("-"),
        resource = ctx.resource.as_deref().unwrap_or("-"),
        ?outcome,
        reason = reason.as_deref().unwrap_or("-"),
        "credentials:issue"
    );
    zone.record(AuditEvent {
        seq: 0,
        event: CREDENTIALS_ISSUE.to_owned(),
        time: now(),
        issuer: zone.issuer(),
        grant_type: ctx.grant_type,
        outcome,
        reason,
        user: ctx.user,
        application: ctx.application,
        original_client: ctx.original_client,
        resource: ctx.resource,
        scope: ctx.scope,
        jti,
        expires_at,
    });
    match result {
        Ok(response) => {
            let mut response = Json(response).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn handle(
    zone: &Zone,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &mut Ctx,
) -> Result<TokenResponse, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(OAuthError::request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body)?;
    let grant_type = params.require("grant_type")?.to_owned();
    ctx.grant_type = Some(grant_type.clone());
    let known = [
        TOKEN_EXCHANGE,
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ];
    if !known.contains(&grant_type.as_str()) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("unsupported grant_type {grant_type:?}"),
        ));
    }
    ctx.application = params.get("client_id").map(str::to_owned);
    let app = client_auth::authenticate(zone, headers, &params).await?;
    ctx.application = Some(app.client_id.clone());
    match grant_type.as_str() {
        TOKEN_EXCHANGE => exchange::exchange(zone, &app, &params, ctx),
        "authorization_code" => code::redeem(zone, &app, &params, ctx),
        "refresh_token" => refresh::refresh(zone, &app, &params, ctx),
        _ => client_credentials::issue(zone, &app, &params, ctx),
    }
}

/// Checks a requested space-separated scope against the allowed scopes; `None` → all allowed.
pub(crate) fn grant_scope(
    requested: Option<&str>,
    allowed: &[String],
) -> Result<String, OAuthError> {
    match requested {
        None => Ok(allowed.join(" ")),
        Some(requested) => {
            let mut granted = Vec::new();
            for scope in requested.split_whitespace() {
                if !allowed.iter().any(|a| a == scope) {
                    return Err(OAuthError::scope(format!(
                        "scope {scope:?} is not allowed here"
                    )));
                }
                if !granted.contains(&scope) {
                    granted.push(scope);
                }
            }
            Ok(granted.join(" "))
        }
    }
}

/// A signed access token and its bookkeeping.
pub(crate) struct AccessToken {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
    pub lifetime: i64,
}

/// Which key signs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An access token: RS256 with the current key.
    Access,
    /// An upstream token from token exchange: `[keys] upstream_alg` (ES256 by default).
    Upstream,
}

/// Signs a token: `iss, sub, aud, exp, iat, nbf, jti, client_id, scope` + `extra`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_access_token(
    kind: TokenKind,
    zone: &Zone,
    sub: &str,
    client_id: &str,
    audience: &str,
    scope: &str,
    lifetime_secs: u64,
    extra: Map<String, Value>,
) -> Result<AccessToken, OAuthError> {
    let issued = now();
    let lifetime = i64::try_from(lifetime_secs).unwrap_or(i64::MAX / 4);
    let expires_at = issued.saturating_add(lifetime);
    let jti = new_jti();
    let mut claims = Map::new();
    claims.insert("iss".into(), zone.issuer().into());
    claims.insert("sub".into(), sub.into());
    claims.insert("aud".into(), audience.into());
    claims.insert("exp".into(), expires_at.into());
    claims.insert("iat".into(), issued.into());
    claims.insert("nbf".into(), issued.into());
    claims.insert("jti".into(), jti.clone().into());
    claims.insert("client_id".into(), client_id.into());
    if !scope.is_empty() {
        claims.insert("scope".into(), scope.into());
    }
    claims.extend(extra);
    let claims = Claims(claims);
    let signed = match kind {
        TokenKind::Access => zone.sign(&claims),
        TokenKind::Upstream => zone.sign_upstream(&claims),
    };
    let (token, _kid) =
        signed.map_err(|_| OAuthError::new(ErrorCode::ServerError, "signing failed"))?;
    Ok(AccessToken {
        token,
        jti,
        expires_at,
        lifetime,
    })
}

/// The user-delegated grants' answer (authorization code, refresh): an access token for
/// `access_scope` plus a new refresh token that keeps `refresh_scope` (the original grant's).
pub(crate) fn issue_user_tokens(
    zone: &Zone,
    client_id: &str,
    sub: &str,
    resource: &str,
    access_scope: String,
    refresh_scope: &str,
) -> Result<TokenResponse, OAuthError> {
    let token = sign_access_token(
        TokenKind::Access,
        zone,
        sub,
        client_id,
        resource,
        &access_scope,
        zone.inner.config.lifetimes.access_token_secs,
        Map::new(),
    )?;
    let refresh = new_refresh_token(zone, client_id, sub, resource, refresh_scope);
    Ok(TokenResponse {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.lifetime,
        scope: (!access_scope.is_empty()).then_some(access_scope),
        refresh_token: Some(refresh),
        issued_token_type: None,
        jti: token.jti,
        expires_at: token.expires_at,
    })
}

/// Stores a refresh token for (client, user, resource, scope) and returns it.
pub(crate) fn new_refresh_token(
    zone: &Zone,
    client_id: &str,
    sub: &str,
    resource: &str,
    scope: &str,
) -> String {
    let token = crate::mint::random_id(32);
    let lifetime =
        i64::try_from(zone.inner.config.lifetimes.refresh_token_secs).unwrap_or(i64::MAX / 4);
    let mut grants = crate::zone::lock(&zone.inner.refresh);
    if grants.len() >= 10_000 {
        let now = now();
        grants.retain(|_, g| g.expires_at > now);
    }
    grants.insert(
        token.clone(),
        crate::zone::RefreshGrant {
            client_id: client_id.to_owned(),
            sub: sub.to_owned(),
            resource: resource.to_owned(),
            scope: scope.to_owned(),
            expires_at: now().saturating_add(lifetime),
        },
    );
    token
}
