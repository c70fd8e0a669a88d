//! `refresh_token` (RFC 6749 §6), rotating: each refresh token works once.

use serde_json::Map;

use super::{Ctx, Params, TokenResponse, new_refresh_token, sign_access_token};
use crate::error::OAuthError;
use crate::model::Application;
use crate::zone::{Zone, lock, now};

pub(crate) fn refresh(
    zone: &Zone,
    app: &Application,
    params: &Params,
    ctx: &mut Ctx,
) -> Result<TokenResponse, OAuthError> {
    let presented = params.require("refresh_token")?;
    let grant = lock(&zone.inner.refresh)
        .remove(presented)
        .ok_or_else(|| OAuthError::grant("unknown or already used refresh token"))?;
    ctx.user = Some(grant.sub.clone());
    ctx.resource = Some(grant.resource.clone());
    if grant.client_id != app.client_id {
        return Err(OAuthError::grant(
            "refresh token was issued to another client",
        ));
    }
    if grant.expires_at <= now() {
        return Err(OAuthError::grant("refresh token expired"));
    }
    if zone.user(&grant.sub).is_none() {
        return Err(OAuthError::grant(
            "the refresh token's user no longer exists",
        ));
    }
    if let Some(resource) = params.get("resource")
        && crate::config::canonical_resource(resource) != grant.resource
    {
        return Err(OAuthError::target(
            "resource differs from the original grant",
        ));
    }
    let allowed: Vec<String> = grant.scope.split_whitespace().map(str::to_owned).collect();
    let scope = super::grant_scope(params.get("scope"), &allowed)?;
    ctx.scope = Some(scope.clone());
    let token = sign_access_token(
        super::TokenKind::Access,
        zone,
        &grant.sub,
        &app.client_id,
        &grant.resource,
        &scope,
        zone.inner.config.lifetimes.access_token_secs,
        Map::new(),
    )?;
    // The new refresh token keeps the original grant's scope.
    let refresh = new_refresh_token(
        zone,
        &app.client_id,
        &grant.sub,
        &grant.resource,
        &grant.scope,
    );
    Ok(TokenResponse {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.lifetime,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: Some(refresh),
        issued_token_type: None,
        jti: token.jti,
        expires_at: token.expires_at,
    })
}
