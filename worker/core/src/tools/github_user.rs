//! `github_user`: the seed guide's delegated-access example. Calls `<upstream>/user`
//! (`KEYCARD_RESOURCE_URL`, e.g. `https://api.github.com`) with a token Keycard issued for
//! the caller, and returns the profile.
//!
//! Every failure becomes an `isError: true` result that says what to do about it. The
//! messages never contain a token or a secret, and quote the upstream's answer only as a
//! short, sanitized excerpt of its JSON `message` field.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};

use super::{Tool, ToolAnnotations, ToolContext, ToolOutput};
use crate::delegation::DelegationError;
use crate::ports::BoxFuture;

/// `User-Agent` sent upstream (GitHub rejects requests without one).
pub const USER_AGENT: &str = concat!("keycard-mcp-worker/", env!("CARGO_PKG_VERSION"));

/// Longest excerpt of an upstream or STS message quoted back to the caller.
const EXCERPT_CHARS: usize = 160;

/// Returns the caller's GitHub profile through delegated access.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubUser;

impl Tool for GithubUser {
    fn name(&self) -> &str {
        "github_user"
    }

    fn title(&self) -> Option<&str> {
        Some("GitHub profile")
    }

    fn description(&self) -> &str {
        "Fetches your GitHub profile (GET /user) on your behalf, with a GitHub token Keycard \
         issues for you. Requires that you have authorized GitHub in Keycard."
    }

    fn input_schema(&self) -> Value {
        json!({ "type": "object", "properties": {}, "additionalProperties": false })
    }

    fn output_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "description": "The upstream's /user document (GitHub's user profile).",
            "properties": {
                "login": { "type": "string" },
                "id": { "type": "integer" },
                "name": { "type": ["string", "null"] },
                "email": { "type": ["string", "null"] },
                "html_url": { "type": "string" },
                "public_repos": { "type": "integer" }
            }
        }))
    }

    fn annotations(&self) -> Option<ToolAnnotations> {
        Some(ToolAnnotations {
            read_only_hint: Some(true),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
            ..ToolAnnotations::default()
        })
    }

    fn call<'a>(
        &'a self,
        ctx: ToolContext<'a>,
        _args: Map<String, Value>,
    ) -> BoxFuture<'a, ToolOutput> {
        Box::pin(fetch_profile(ctx))
    }
}

async fn fetch_profile(ctx: ToolContext<'_>) -> ToolOutput {
    let delegated = ctx.delegated();
    let url = format!("{}/user", delegated.upstream_url().trim_end_matches('/'));
    let request = match Request::builder()
        .method(Method::GET)
        .uri(&url)
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, USER_AGENT)
        .body(Bytes::new())
    {
        Ok(r) => r,
        Err(_) => {
            return ToolOutput::error(format!(
                "KEYCARD_RESOURCE_URL does not form a valid URL for {url:?}: set it to the upstream API's base URL, e.g. https://api.github.com"
            ));
        }
    };
    let response = match delegated.fetch(ctx.identity(), request).await {
        Ok(r) => r,
        Err(e) => return ToolOutput::error(delegation_message(&e, delegated.upstream_url())),
    };
    let status = response.status();
    if !status.is_success() {
        return ToolOutput::error(upstream_status_message(status, response.body()));
    }
    match serde_json::from_slice::<Value>(response.body()) {
        Ok(profile @ Value::Object(_)) => {
            let summary = summary(&profile);
            ToolOutput::structured(profile).with_summary(summary)
        }
        _ => ToolOutput::error(format!(
            "GitHub answered {} but the body is not a JSON object: check that KEYCARD_RESOURCE_URL points at the API (e.g. https://api.github.com), not a web page",
            status.as_u16()
        )),
    }
}

fn summary(profile: &Value) -> String {
    let text = |k: &str| profile.get(k).and_then(Value::as_str).map(sanitize);
    let mut out = match text("login") {
        Some(login) => format!("Signed in to GitHub as {login}"),
        None => "Fetched the GitHub profile".to_owned(),
    };
    if let Some(name) = text("name") {
        out.push_str(&format!(" ({name})"));
    }
    if let Some(repos) = profile.get("public_repos").and_then(Value::as_u64) {
        out.push_str(&format!(", {repos} public repositories"));
    }
    out.push('.');
    out
}

/// The message for a failed delegation: what happened and what to do.
pub fn delegation_message(error: &DelegationError, upstream_url: &str) -> String {
    match error {
        DelegationError::NoSubject => {
            "This tool acts on your behalf, but your access token has no subject (`sub`): \
             sign in as a user (not with a client-credentials/service token) and try again."
                .to_owned()
        }
        DelegationError::Refused { error, description } => {
            let said = description
                .as_deref()
                .map(|d| format!(" (Keycard said: {})", sanitize(d)))
                .unwrap_or_default();
            match error.as_str() {
                "invalid_grant" => format!(
                    "The user has not authorized GitHub in Keycard: sign in again and grant access{said}."
                ),
                "invalid_target" => format!(
                    "The upstream API ({}) is not a dependency of this application in Keycard Console: add it under the application's dependencies{said}.",
                    sanitize(upstream_url)
                ),
                "invalid_client" | "unauthorized_client" => format!(
                    "The Worker's Keycard credentials are wrong: check KEYCARD_CLIENT_ID/KEYCARD_CLIENT_SECRET or KEYCARD_PRIVATE_KEY{said}."
                ),
                "invalid_scope" => format!(
                    "Keycard refused the scopes requested for GitHub: check the upstream resource's scopes in Keycard Console{said}."
                ),
                other => format!(
                    "Keycard refused the token exchange ({}){said}.",
                    sanitize(other)
                ),
            }
        }
        DelegationError::Unavailable(detail) => format!(
            "Keycard's token service is unavailable right now ({}): try again in a moment.",
            sanitize(detail)
        ),
        DelegationError::Upstream(detail) => format!(
            "Could not reach GitHub ({}): try again in a moment.",
            sanitize(detail)
        ),
    }
}

/// The message for a non-2xx upstream answer, with at most a short excerpt of the
/// upstream's JSON `message` field (never the raw body).
pub fn upstream_status_message(status: StatusCode, body: &[u8]) -> String {
    let excerpt = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(sanitize))
        .filter(|m| !m.is_empty())
        .map(|m| format!(" GitHub said: {m:?}."))
        .unwrap_or_default();
    let code = status.as_u16();
    let advice = match code {
        401 => {
            "GitHub rejected the delegated token even after a fresh exchange: re-authorize GitHub in Keycard (sign in again and grant access)."
        }
        403 => {
            "GitHub refused access: the grant may lack a scope, or the rate limit was hit; check the GitHub scopes configured in Keycard, or try later."
        }
        404 => {
            "GitHub has no /user here: check that KEYCARD_RESOURCE_URL is the API base URL (e.g. https://api.github.com)."
        }
        429 => "GitHub is rate limiting requests: try again later.",
        500..=599 => "GitHub is having trouble: try again in a moment.",
        _ => "GitHub did not return the profile.",
    };
    format!("GitHub answered HTTP {code}. {advice}{excerpt}")
}

/// A short, single-line, printable excerpt: control characters dropped, length capped,
/// and anything that looks like a credential replaced.
pub fn sanitize(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<String> = flat
        .split_whitespace()
        .map(|w| {
            if looks_like_credential(w) {
                "[redacted]".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// JWT-shaped (`xxx.yyy.zzz`), GitHub token prefixes, or long opaque runs.
fn looks_like_credential(word: &str) -> bool {
    let w =
        word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-' && c != '.');
    let token_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | '+' | '/'))
    };
    let jwt_like = w.starts_with("eyJ") && w.matches('.').count() >= 2;
    let github = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
        .iter()
        .any(|p| w.starts_with(p));
    let opaque = w.len() >= 32 && token_chars(w) && w.chars().any(|c| c.is_ascii_digit());
    jwt_like || github || opaque
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_controls_caps_length_and_redacts_tokens() {
        assert_eq!(sanitize("bad\ncredentials\t!"), "bad credentials !");
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long).chars().count(), EXCERPT_CHARS + 1);
        let s = sanitize("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln was bad");
        assert_eq!(s, "token [redacted] was bad");
        assert_eq!(sanitize("got ghp_abcdef123"), "got [redacted]");
        assert_eq!(
            sanitize("id 0123456789abcdef0123456789abcdef!"),
            "id [redacted]"
        );
        assert_eq!(sanitize("Bad credentials"), "Bad credentials");
    }

    #[test]
    fn upstream_message_quotes_only_the_message_field() {
        let body = br#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","secret":"hunter2"}"#;
        let msg = upstream_status_message(StatusCode::UNAUTHORIZED, body);
        assert!(msg.contains("\"Bad credentials\""), "{msg}");
        assert!(
            !msg.contains("hunter2") && !msg.contains("documentation_url"),
            "{msg}"
        );
        let msg = upstream_status_message(StatusCode::BAD_GATEWAY, b"<html>proxy error</html>");
        assert_eq!(
            msg,
            "GitHub answered HTTP 502. GitHub is having trouble: try again in a moment."
        );
    }
}
