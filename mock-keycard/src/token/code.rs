//! `authorization_code` with PKCE S256 (RFC 7636).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{Ctx, Params, TokenResponse};
use crate::error::OAuthError;
use crate::model::Application;
use crate::zone::{Zone, lock, now};

/// The S256 challenge of a verifier.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub(crate) fn redeem(
    zone: &Zone,
    app: &Application,
    params: &Params,
    ctx: &mut Ctx,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.require("code_verifier")?;
    let grant = lock(&zone.inner.codes)
        .remove(code)
        .ok_or_else(|| OAuthError::grant("unknown or already used authorization code"))?;
    ctx.user = Some(grant.sub.clone());
    ctx.resource = Some(grant.resource.clone());
    ctx.scope = Some(grant.scope.clone());
    if grant.expires_at <= now() {
        return Err(OAuthError::grant("authorization code expired"));
    }
    if grant.client_id != app.client_id {
        return Err(OAuthError::grant(
            "authorization code was issued to another client",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !valid_verifier(verifier) || s256(verifier) != grant.code_challenge {
        return Err(OAuthError::grant("PKCE verification failed"));
    }
    if let Some(resource) = params.get("resource")
        && crate::config::canonical_resource(resource) != grant.resource
    {
        return Err(OAuthError::target(
            "resource differs from the authorization request",
        ));
    }
    super::issue_user_tokens(
        zone,
        &app.client_id,
        &grant.sub,
        &grant.resource,
        grant.scope.clone(),
        &grant.scope,
    )
}
