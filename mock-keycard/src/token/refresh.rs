//! `refresh_token` (RFC 6749 §6), rotating: each refresh token works once.

use super::{Ctx, Params, TokenResponse};
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
    // The new refresh token keeps the original grant's scope.
    super::issue_user_tokens(
        zone,
        &app.client_id,
        &grant.sub,
        &grant.resource,
        scope,
        &grant.scope,
    )
}
