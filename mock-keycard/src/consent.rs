//! MOCK FEATURE: the consent page a URL-mode elicitation sends a user to.
//!
//! `GET /consent?user=<sub>&client_id=<application>&resource=<upstream>` shows what is
//! asked and a "Grant access" button; `POST /consent` (form fields `user`, `client_id`,
//! `resource`) grants the user's consent to that resource and records a `consent:grant`
//! event in the audit log. A headless client POSTs the same form. The URL is what
//! keycard-core's default `KEYCARD_CONSENT_URL` template produces for this zone.
//!
//! The mock does not authenticate the person opening the page (its login page does not
//! either): a real zone must make sure the user who consents is the user named in the
//! elicitation (MCP 2025-11-25, "Phishing").

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::audit::{AuditEvent, CONSENT_GRANT, Outcome};
use crate::html::{escape, page};
use crate::zone::Zone;

type Params = HashMap<String, String>;

fn field<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn missing(what: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(page(
            "Consent",
            &format!("<p>Missing <code>{}</code>.</p>", escape(what)),
        )),
    )
        .into_response()
}

/// `GET /consent`: the page (no side effect).
pub(crate) async fn get(State(zone): State<Zone>, Query(params): Query<Params>) -> Response {
    let (Some(user), Some(resource)) = (field(&params, "user"), field(&params, "resource")) else {
        return missing("user and resource");
    };
    let client = field(&params, "client_id").unwrap_or("");
    let granted = zone.has_consented(user, resource);
    let body = format!(
        "<p>Let <b>{client}</b> call <code>{resource}</code> on behalf of <code>{user}</code>?</p>\
         <p>Current state: {state}.</p>\
         <form method=\"post\" action=\"/consent\">\
         <input type=\"hidden\" name=\"user\" value=\"{user}\">\
         <input type=\"hidden\" name=\"client_id\" value=\"{client}\">\
         <input type=\"hidden\" name=\"resource\" value=\"{resource}\">\
         <button>Grant access</button></form>\
         <p>Headless: POST the same form fields to <code>/consent</code>.</p>",
        client = escape(client),
        resource = escape(resource),
        user = escape(user),
        state = if granted { "granted" } else { "not granted" },
    );
    Html(page("Grant access", &body)).into_response()
}

/// `POST /consent`: grants consent and records it.
pub(crate) async fn post(State(zone): State<Zone>, Form(params): Form<Params>) -> Response {
    let (Some(user), Some(resource)) = (field(&params, "user"), field(&params, "resource")) else {
        return missing("user and resource");
    };
    let client = field(&params, "client_id");
    if !zone.grant_consent(user, resource) {
        return (
            StatusCode::NOT_FOUND,
            Html(page("Consent", "<p>Unknown user.</p>")),
        )
            .into_response();
    }
    zone.record(AuditEvent {
        seq: 0,
        event: CONSENT_GRANT.to_owned(),
        time: crate::zone::now(),
        issuer: zone.issuer(),
        grant_type: None,
        outcome: Outcome::Issued,
        reason: None,
        user: Some(user.to_owned()),
        application: client.map(str::to_owned),
        original_client: None,
        resource: Some(resource.to_owned()),
        scope: None,
        jti: None,
        expires_at: None,
    });
    Html(page(
        "Access granted",
        &format!(
            "<p><code>{}</code> may now be called on behalf of <code>{}</code>. Return to your MCP client and retry.</p>",
            escape(resource),
            escape(user)
        ),
    ))
    .into_response()
}
