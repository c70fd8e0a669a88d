//! RFC 8693 token exchange: a user's access token for the MCP server → an upstream token
//! bound to (user, application, upstream resource), with `act` naming the application.

use serde_json::{Map, Value, json};

use super::{
    ACCESS_TOKEN_TYPE, Ctx, JWT_TOKEN_TYPE, Params, TokenResponse, grant_scope, sign_access_token,
};
use crate::error::{ErrorCode, OAuthError};
use crate::jws::ClaimError;
use crate::model::Application;
use crate::zone::{Zone, now};

pub(crate) fn exchange(
    zone: &Zone,
    app: &Application,
    params: &Params,
    ctx: &mut Ctx,
) -> Result<TokenResponse, OAuthError> {
    let subject_token = params.require("subject_token")?;
    let subject_type = params.require("subject_token_type")?;
    if subject_type != ACCESS_TOKEN_TYPE && subject_type != JWT_TOKEN_TYPE {
        return Err(OAuthError::request(format!(
            "unsupported subject_token_type {subject_type:?}"
        )));
    }
    if let Some(requested) = params.get("requested_token_type")
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::request(format!(
            "unsupported requested_token_type {requested:?}"
        )));
    }
    if params.get("actor_token").is_some() {
        return Err(OAuthError::request("actor_token is not supported"));
    }
    let resource = match (params.get("resource"), params.get("audience")) {
        (Some(r), Some(a))
            if crate::config::canonical_resource(r) != crate::config::canonical_resource(a) =>
        {
            return Err(OAuthError::target("resource and audience differ"));
        }
        (Some(r), _) | (None, Some(r)) => crate::config::canonical_resource(r),
        (None, None) => return Err(OAuthError::request("missing parameter resource")),
    };
    ctx.resource = Some(resource.clone());
    let provides = app.provides.as_deref().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "application {:?} provides no resource and cannot exchange tokens",
                app.client_id
            ),
        )
    })?;

    let claims = zone
        .verify_own(subject_token)
        .map_err(|e| OAuthError::grant(format!("subject token: {e}")))?;
    if claims.str("iss") != Some(zone.issuer().as_str()) {
        return Err(OAuthError::grant(
            "subject token was not issued by this zone",
        ));
    }
    let leeway = i64::try_from(zone.inner.config.lifetimes.leeway_secs).unwrap_or(0);
    claims.check_time(now(), leeway).map_err(|e| match e {
        ClaimError::Expired => OAuthError::grant("subject token expired"),
        other => OAuthError::grant(format!("subject token: {other}")),
    })?;
    ctx.original_client = claims.str("client_id").map(str::to_owned);
    let audience_ok = claims
        .audiences()
        .iter()
        .any(|aud| crate::config::canonical_resource(aud) == provides);
    if !audience_ok {
        return Err(OAuthError::grant(format!(
            "subject token audience does not include {provides}, the resource application {:?} provides",
            app.client_id
        )));
    }
    let sub = claims
        .str("sub")
        .ok_or_else(|| OAuthError::grant("subject token has no sub"))?
        .to_owned();
    ctx.user = Some(sub.clone());
    if zone.user(&sub).is_none() {
        return Err(OAuthError::grant(
            "subject token's user is unknown to this zone",
        ));
    }
    if !app.depends_on.contains(&resource) {
        return Err(OAuthError::target(format!(
            "resource {resource} is not a dependency of application {:?}",
            app.client_id
        )));
    }
    if !zone.has_consented(&sub, &resource) {
        return Err(OAuthError::grant(format!(
            "the user has not consented to {resource}"
        )));
    }
    let allowed = zone.read().scopes_of(&resource);
    let scope = grant_scope(params.get("scope"), &allowed)?;
    ctx.scope = Some(scope.clone());
    let original_client = ctx
        .original_client
        .clone()
        .unwrap_or_else(|| app.client_id.clone());
    let mut extra = Map::new();
    extra.insert("act".into(), json!({ "sub": app.client_id }));
    if let Some(subject_jti) = claims.str("jti") {
        extra.insert("subject_jti".into(), Value::from(subject_jti));
    }
    let token = sign_access_token(
        super::TokenKind::Upstream,
        zone,
        &sub,
        &original_client,
        &resource,
        &scope,
        zone.inner.config.lifetimes.upstream_token_secs,
        extra,
    )?;
    Ok(TokenResponse {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.lifetime,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        jti: token.jti,
        expires_at: token.expires_at,
    })
}
