//! `client_credentials` (RFC 6749 §4.4): an application token (`sub` = client id).

use serde_json::Map;

use super::{Ctx, Params, TokenResponse, grant_scope, sign_access_token};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Application, ClientAuth};
use crate::zone::Zone;

pub(crate) fn issue(
    zone: &Zone,
    app: &Application,
    params: &Params,
    ctx: &mut Ctx,
) -> Result<TokenResponse, OAuthError> {
    if app.auth == ClientAuth::None {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    let resource = params
        .get("resource")
        .or_else(|| params.get("audience"))
        .map(crate::config::canonical_resource)
        .or_else(|| app.provides.clone())
        .ok_or_else(|| OAuthError::request("missing parameter resource"))?;
    ctx.resource = Some(resource.clone());
    ctx.user = Some(app.client_id.clone());
    let (known, allowed) = {
        let resolved = zone.read();
        (
            resolved.accepts_resource(&resource),
            resolved.scopes_of(&resource),
        )
    };
    if !known {
        return Err(OAuthError::target(format!("unknown resource {resource}")));
    }
    let scope = grant_scope(params.get("scope"), &allowed)?;
    ctx.scope = Some(scope.clone());
    let token = sign_access_token(
        super::TokenKind::Access,
        zone,
        &app.client_id,
        &app.client_id,
        &resource,
        &scope,
        zone.inner.config.lifetimes.access_token_secs,
        Map::new(),
    )?;
    Ok(TokenResponse {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.lifetime,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: None,
        issued_token_type: None,
        jti: token.jti,
        expires_at: token.expires_at,
    })
}
