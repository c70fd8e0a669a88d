//! The authorization endpoint: authorization code + PKCE (S256 only), with a login/consent page
//! listing the fixture users.
//!
//! **Non-interactive sign-in** (headless clients, tests): add `login_hint=<sub>` (or
//! `user=<sub>`) to the `/authorize` URL; the zone skips the page and redirects at once to
//! `redirect_uri?code=…&state=…&iss=…`. An unknown user gets `error=access_denied`.
//!
//! `resource` (RFC 8707) defaults to the MCP resource. Redirect URIs must be safe
//! ([`crate::model::redirect_uri_problem`]: https, loopback http, private-use reverse-DNS
//! schemes) and exactly match a registered one, except that loopback URIs match on any port
//! (RFC 8252 §7.3); an application with no registered URIs may only be redirected to loopback
//! (its own machine). A refused client or redirect URI is answered with a JSON
//! `invalid_request` (400), never a redirect.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::{ErrorCode, OAuthError};
use crate::html::{escape, page};
use crate::mint::random_id;
use crate::model::{Application, is_loopback, redirect_uri_problem};
use crate::token::grant_scope;
use crate::zone::{AuthCode, Zone, lock, now};

type Params = HashMap<String, String>;

/// Expired codes are purged when this many are outstanding.
const PURGE_THRESHOLD: usize = 10_000;

/// `GET /authorize`.
pub(crate) async fn get(State(zone): State<Zone>, Query(params): Query<Params>) -> Response {
    flow(&zone, &params)
}

/// `POST /authorize` (the login page's form).
pub(crate) async fn post(State(zone): State<Zone>, Form(params): Form<Params>) -> Response {
    flow(&zone, &params)
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// A refusal that must not redirect (unknown client, unusable redirect URI): RFC 6749
/// §4.1.2.1, answered as JSON `invalid_request`.
fn refuse(description: impl Into<String>) -> Response {
    OAuthError::request(description).into_response()
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// Whether `uri` is acceptable for `app`: a safe redirect URI that is registered (loopback
/// on any port); with nothing registered, loopback only.
pub(crate) fn redirect_allowed(app: &Application, uri: &str) -> bool {
    if redirect_uri_problem(uri).is_some() {
        return false;
    }
    let Ok(parsed) = url::Url::parse(uri) else {
        return false;
    };
    if app.redirect_uris.is_empty() {
        return is_loopback(uri);
    }
    app.redirect_uris.iter().any(|registered| {
        if registered == uri {
            return true;
        }
        match url::Url::parse(registered) {
            Ok(mut reg) if is_loopback(registered) && is_loopback(uri) => {
                let mut candidate = parsed.clone();
                let ports_cleared = reg.set_port(None).is_ok() && candidate.set_port(None).is_ok();
                ports_cleared && reg == candidate
            }
            _ => false,
        }
    })
}

fn flow(zone: &Zone, params: &Params) -> Response {
    let Some(client_id) = param(params, "client_id") else {
        return refuse("missing client_id");
    };
    let Some(app) = zone.application(client_id) else {
        return refuse(format!("unknown client {client_id:?}"));
    };
    let redirect_uri = match param(params, "redirect_uri") {
        Some(uri) => uri.to_owned(),
        None => match app.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return refuse("missing redirect_uri"),
        },
    };
    if let Some(problem) = redirect_uri_problem(&redirect_uri) {
        return refuse(problem);
    }
    if !redirect_allowed(&app, &redirect_uri) {
        return refuse(format!(
            "redirect_uri {redirect_uri:?} is not registered for this client{}",
            if app.redirect_uris.is_empty() {
                " (a client without registered redirect URIs may only use loopback http)"
            } else {
                ""
            }
        ));
    }
    let state = param(params, "state");
    let fail = |code: &str, description: &str| {
        redirect(&with_query(
            &redirect_uri,
            &[
                ("error", Some(code)),
                ("error_description", Some(description)),
                ("state", state),
                ("iss", Some(&zone.issuer())),
            ],
        ))
    };
    if param(params, "response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let Some(challenge) = param(params, "code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: missing code_challenge",
        );
    };
    if param(params, "code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let resource = param(params, "resource")
        .map(crate::config::canonical_resource)
        .unwrap_or_else(|| zone.mcp_resource());
    let (accepted, allowed) = {
        let resolved = zone.read();
        (
            resolved.accepts_resource(&resource),
            resolved.scopes_of(&resource),
        )
    };
    if !accepted {
        return fail(
            ErrorCode::InvalidTarget.as_str(),
            &format!("unknown resource {resource}"),
        );
    }
    let scope = match grant_scope(param(params, "scope"), &allowed) {
        Ok(scope) => scope,
        Err(OAuthError { code, description }) => return fail(code.as_str(), &description),
    };
    if param(params, "deny").is_some() {
        return fail("access_denied", "the user denied the request");
    }
    let Some(sub) = param(params, "user").or_else(|| param(params, "login_hint")) else {
        return login_page(zone, &app, params, &resource, &scope);
    };
    if zone.user(sub).is_none() {
        return fail("access_denied", "unknown user");
    }
    let code = random_id(24);
    let lifetime =
        i64::try_from(zone.inner.config.lifetimes.authorization_code_secs).unwrap_or(120);
    let mut codes = lock(&zone.inner.codes);
    if codes.len() >= PURGE_THRESHOLD {
        let now = now();
        codes.retain(|_, c| c.expires_at > now);
    }
    codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge.to_owned(),
            sub: sub.to_owned(),
            resource,
            scope,
            expires_at: now().saturating_add(lifetime),
        },
    );
    drop(codes);
    tracing::info!(client_id = %app.client_id, "authorization code issued");
    redirect(&with_query(
        &redirect_uri,
        &[
            ("code", Some(&code)),
            ("state", state),
            ("iss", Some(&zone.issuer())),
        ],
    ))
}

fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in pairs {
                    if let Some(value) = value {
                        query.append_pair(name, value);
                    }
                }
            }
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

fn login_page(
    zone: &Zone,
    app: &Application,
    params: &Params,
    resource: &str,
    scope: &str,
) -> Response {
    let hidden: String = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "user" | "login_hint" | "deny"))
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let users: String = zone
        .users()
        .iter()
        .map(|u| {
            format!(
                "<form method=\"post\" action=\"/authorize\">{hidden}\
                 <button name=\"user\" value=\"{sub}\">Sign in as <b>{name}</b> <code>{sub}</code></button>\
                 {consents}</form>",
                sub = escape(&u.sub),
                name = escape(&u.profile.name),
                consents = if u.consents.is_empty() { " (no upstream consent)" } else { "" },
            )
        })
        .collect();
    let body = format!(
        "<p><b>{client}</b> asks to access <code>{resource}</code> with scope <code>{scope}</code>.</p>\
         {users}<form method=\"post\" action=\"/authorize\">{hidden}<button name=\"deny\" value=\"1\">Deny</button></form>\
         <p>Headless: add <code>login_hint=&lt;sub&gt;</code> to the authorize URL.</p>",
        client = escape(&app.name),
        resource = escape(resource),
        scope = escape(scope),
    );
    Html(page("Sign in to mock Keycard", &body)).into_response()
}
