//! RFC 8414 / OpenID discovery and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::zone::Zone;

/// The authorization server metadata document.
pub fn metadata(zone: &Zone) -> Value {
    let issuer = zone.issuer();
    let mut scopes: Vec<String> = zone
        .read()
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().cloned())
        .collect();
    scopes.sort();
    scopes.dedup();
    json!({
        "issuer": issuer,
        "authorization_endpoint": zone.authorization_endpoint(),
        "token_endpoint": zone.token_endpoint(),
        "registration_endpoint": format!("{issuer}/register"),
        "jwks_uri": zone.jwks_uri(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            crate::token::TOKEN_EXCHANGE,
        ],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": true,
    })
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub(crate) async fn discovery(State(zone): State<Zone>) -> Response {
    cacheable(Json(metadata(&zone)).into_response())
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(State(zone): State<Zone>) -> Response {
    cacheable(Json(zone.jwks()).into_response())
}

fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    response
}
