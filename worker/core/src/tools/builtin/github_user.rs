//! `github_user`: the seed guide's delegated-access example. Calls `<upstream>/user` on
//! the default upstream (`KEYCARD_RESOURCE_URL`, e.g. `https://api.github.com`) with a
//! token Keycard issued for the caller, and returns the profile.
//!
//! Every failure becomes an `isError: true` result that says what to do about it. The
//! messages never contain a token or a secret, and quote the upstream's answer only as a
//! short, sanitized excerpt of its JSON `message` field.

use bytes::Bytes;
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::config::DEFAULT_UPSTREAM;
use crate::tools::{NoArgs, Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput, sanitize};

/// `User-Agent` sent upstream (GitHub rejects requests without one).
pub const USER_AGENT: &str = concat!("keycard-mcp-worker/", env!("CARGO_PKG_VERSION"));

/// The `github_user` tool: the caller's GitHub profile through delegated access.
pub fn github_user() -> Tool {
    Tool::new("github_user")
        .title("GitHub profile")
        .description(
            "Fetches your GitHub profile (GET /user) on your behalf, with a GitHub token Keycard \
             issues for you. Requires that you have authorized GitHub in Keycard.",
        )
        .annotations(ToolAnnotations {
            read_only_hint: Some(true),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
            ..ToolAnnotations::default()
        })
        .upstream(DEFAULT_UPSTREAM)
        .output_schema(json!({
            "type": "object",
            "description": "The upstream's /user document (GitHub's user profile).",
            "properties": {
                "login": { "type": "string" },
                "id": { "type": "integer" },
                "name": { "anyOf": [{ "type": "string" }, { "type": "null" }] },
                "email": { "anyOf": [{ "type": "string" }, { "type": "null" }] },
                "html_url": { "type": "string" },
                "public_repos": { "type": "integer" }
            }
        }))
        .handler(|ctx: ToolContext, _: NoArgs| fetch_profile(ctx))
}

async fn fetch_profile(ctx: ToolContext) -> Result<ToolOutput, ToolError> {
    let github = ctx.default_upstream();
    let request = github
        .get("/user")
        .header(header::USER_AGENT, USER_AGENT)
        .body(Bytes::new())
        .map_err(|_| {
            ToolError::new(
                "KEYCARD_RESOURCE_URL does not form a valid URL with /user: set it to the upstream API's base URL, e.g. https://api.github.com",
            )
        })?;
    let response = github.fetch(request).await?;
    let status = response.status();
    if !status.is_success() {
        return Ok(ToolOutput::error(upstream_status_message(
            status,
            response.body(),
        )));
    }
    match serde_json::from_slice::<Value>(response.body()) {
        Ok(profile @ Value::Object(_)) => {
            let summary = summary(&profile);
            Ok(ToolOutput::structured(profile).with_summary(summary))
        }
        _ => Err(ToolError::new(format!(
            "GitHub answered {} but the body is not a JSON object: check that KEYCARD_RESOURCE_URL points at the API (e.g. https://api.github.com), not a web page",
            status.as_u16()
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_controls_caps_length_and_redacts_tokens() {
        assert_eq!(sanitize("bad\ncredentials\t!"), "bad credentials !");
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long).chars().count(), 160 + 1);
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
