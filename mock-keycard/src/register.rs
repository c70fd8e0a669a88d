//! RFC 7591 dynamic client registration. Public clients (`token_endpoint_auth_method=none`,
//! as MCP clients register) and confidential ones (`client_secret_basic`/`client_secret_post`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ErrorCode, OAuthError};
use crate::mint::random_id;
use crate::model::{Application, ClientAuth, redirect_uri_problem};
use crate::secret::SecretString;
use crate::zone::{Zone, now};

#[derive(Debug, Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// `POST /register`.
pub(crate) async fn register(State(zone): State<Zone>, body: Bytes) -> Response {
    match handle(&zone, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn handle(zone: &Zone, body: &[u8]) -> Result<Response, OAuthError> {
    let request: Registration = serde_json::from_slice(body)
        .map_err(|e| metadata_error(format!("body is not valid client metadata JSON: {e}")))?;
    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    if !matches!(
        method.as_str(),
        "none" | "client_secret_basic" | "client_secret_post"
    ) {
        return Err(metadata_error(format!(
            "unsupported token_endpoint_auth_method {method:?}"
        )));
    }
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    for grant in &grant_types {
        let ok = match grant.as_str() {
            "authorization_code" | "refresh_token" => true,
            "client_credentials" => method != "none",
            _ => false,
        };
        if !ok {
            return Err(metadata_error(format!("grant type {grant:?} not allowed")));
        }
    }
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("only response_type code is supported"));
    }
    if grant_types.iter().any(|g| g == "authorization_code") && request.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required for authorization_code",
        ));
    }
    for uri in &request.redirect_uris {
        if let Some(problem) = redirect_uri_problem(uri) {
            return Err(OAuthError::new(ErrorCode::InvalidRedirectUri, problem));
        }
    }
    let client_id = format!("dcr-{}", random_id(12));
    let secret = (method != "none").then(|| random_id(24));
    let name = request.client_name.unwrap_or_else(|| client_id.clone());
    let app = Application {
        client_id: client_id.clone(),
        name: name.clone(),
        auth: secret.as_deref().map_or(ClientAuth::None, |s| {
            ClientAuth::Secret(SecretString::new(s))
        }),
        provides: None,
        depends_on: Vec::new(),
        redirect_uris: request.redirect_uris.clone(),
    };
    zone.inner
        .registered
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(client_id.clone(), app);
    tracing::info!(client_id = %client_id, method = %method, "client registered");
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": now(),
        "client_name": name,
        "redirect_uris": request.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": grant_types,
        "response_types": response_types,
    });
    if let Some(secret) = secret {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
