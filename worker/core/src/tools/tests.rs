//! Tool API, `whoami` and `github_user`, driven directly with a fixed identity and the
//! fake `Delegated`.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use super::fake::{FakeDelegated, upstream};
use super::schema::check_arguments;
use super::*;
use crate::secret::SecretString;

const BEARER: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.U0VDUkVULUJFQVJFUg";

fn identity(subject: Option<&str>) -> Identity {
    Identity {
        issuer: "https://zone.keycard.test".into(),
        subject: subject.map(str::to_owned),
        client_id: "claude-desktop".into(),
        scopes: vec!["mcp:tools".into()],
        audience: vec!["https://mcp.example.com".into(), "other".into()],
        expires_at: 1_709_251_199,
        issued_at: None,
        token_id: None,
        token: SecretString::from(BEARER),
    }
}

async fn call(tool: &str, subject: Option<&str>, fake: &FakeDelegated) -> ToolOutput {
    let id = identity(subject);
    ToolRegistry::with_defaults()
        .call(tool, ToolContext::new(&id, fake), Map::new())
        .await
}

fn all_text(out: &ToolOutput) -> String {
    format!("{} {:?}", out.text.join("\n"), out.structured)
}

// ---------------------------------------------------------------- whoami

#[tokio::test]
async fn whoami_reports_the_verified_identity() {
    let fake = FakeDelegated::default();
    let out = call("whoami", Some("alice"), &fake).await;
    assert!(!out.is_error);
    assert_eq!(
        out.structured,
        Some(json!({
            "subject": "alice",
            "issuer": "https://zone.keycard.test",
            "client_id": "claude-desktop",
            "scopes": ["mcp:tools"],
            "audience": ["https://mcp.example.com", "other"],
            "expires_at": 1_709_251_199,
            "expires_at_iso": "2024-02-29T23:59:59Z",
        }))
    );
    assert!(fake.seen().is_empty(), "whoami makes no upstream call");
    assert!(!all_text(&out).contains(BEARER));
}

#[tokio::test]
async fn whoami_subject_is_null_without_sub_and_matches_its_output_schema() {
    let out = call("whoami", None, &FakeDelegated::default()).await;
    let structured = out.structured.clone().unwrap_or_default();
    assert_eq!(structured["subject"], Value::Null);
    let schema = Whoami.output_schema().unwrap_or_default();
    let as_map = structured.as_object().cloned().unwrap_or_default();
    assert_eq!(check_arguments(&schema, &as_map), Ok(()));
    // The text block is the same JSON (for clients without structuredContent).
    let text: Value = serde_json::from_str(&out.text[0]).unwrap();
    assert_eq!(text, structured);
}

// ---------------------------------------------------------------- github_user

#[tokio::test]
async fn github_user_returns_the_profile() {
    let fake = FakeDelegated::answering(upstream(
        200,
        r#"{"login":"octocat","id":583231,"name":null}"#,
    ));
    let out = call("github_user", Some("alice"), &fake).await;
    assert!(!out.is_error, "{out:?}");
    assert_eq!(
        out.structured,
        Some(json!({"login": "octocat", "id": 583231, "name": null}))
    );
    assert_eq!(out.text[0], "Signed in to GitHub as octocat.");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "https://api.github.test/user");
    assert_eq!(seen[0].subject.as_deref(), Some("alice"));
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert!(seen[0].headers.contains_key("user-agent"));
}

#[tokio::test]
async fn github_user_delegation_errors_are_actionable() {
    let refused = |error: &str, description: Option<&str>| DelegationError::Refused {
        error: error.into(),
        description: description.map(str::to_owned),
    };
    let cases = [
        (
            DelegationError::NoSubject,
            "your access token has no subject (`sub`)",
        ),
        (
            refused("invalid_grant", Some("no consent")),
            "The user has not authorized GitHub in Keycard: sign in again and grant access (Keycard said: no consent).",
        ),
        (
            refused("invalid_target", None),
            "The upstream API (https://api.github.test) is not a dependency of this application in Keycard Console",
        ),
        (
            refused("invalid_client", None),
            "The Worker's Keycard credentials are wrong: check KEYCARD_CLIENT_ID/KEYCARD_CLIENT_SECRET or KEYCARD_PRIVATE_KEY.",
        ),
        (
            refused("temporarily_unavailable", None),
            "Keycard refused the token exchange (temporarily_unavailable).",
        ),
        (
            DelegationError::Unavailable("STS answered 503".into()),
            "Keycard's token service is unavailable right now (STS answered 503): try again in a moment.",
        ),
        (
            DelegationError::Upstream("timed out".into()),
            "Could not reach GitHub (timed out): try again in a moment.",
        ),
    ];
    for (error, expected) in cases {
        let fake = FakeDelegated::answering(Err(error.clone()));
        let out = call("github_user", Some("alice"), &fake).await;
        assert!(out.is_error, "{error:?}");
        assert!(out.structured.is_none());
        assert!(out.text[0].contains(expected), "{error:?}: {}", out.text[0]);
    }
}

#[tokio::test]
async fn github_user_upstream_statuses_are_actionable_and_sanitized() {
    let cases = [
        (
            401,
            r#"{"message":"Bad credentials"}"#,
            "re-authorize GitHub in Keycard",
        ),
        (
            403,
            r#"{"message":"API rate limit exceeded"}"#,
            "GitHub said: \"API rate limit exceeded\"",
        ),
        (
            404,
            "Not Found",
            "check that KEYCARD_RESOURCE_URL is the API base URL",
        ),
        (429, "", "rate limiting"),
        (
            503,
            "<html>down</html>",
            "GitHub answered HTTP 503. GitHub is having trouble",
        ),
    ];
    for (status, body, expected) in cases {
        let fake = FakeDelegated::answering(upstream(status, body));
        let out = call("github_user", Some("alice"), &fake).await;
        assert!(out.is_error, "{status}");
        assert!(out.text[0].contains(expected), "{status}: {}", out.text[0]);
        assert!(!out.text[0].contains("<html>"), "never the raw body");
    }
    // A hostile upstream echoing a token in its message gets it redacted.
    let body = format!(r#"{{"message":"token {BEARER} is revoked\n\u0007"}}"#);
    let fake = FakeDelegated::answering(upstream(401, &body));
    let out = call("github_user", Some("alice"), &fake).await;
    assert!(!all_text(&out).contains(BEARER), "{out:?}");
    assert!(
        out.text[0].contains("[redacted] is revoked"),
        "{}",
        out.text[0]
    );
}

#[tokio::test]
async fn github_user_non_json_200_is_an_error() {
    let fake = FakeDelegated::answering(upstream(200, "<html>login</html>"));
    let out = call("github_user", Some("alice"), &fake).await;
    assert!(out.is_error);
    assert!(out.text[0].contains("not a JSON object"), "{}", out.text[0]);
}

// ---------------------------------------------------------------- registry and outputs

/// Counts its calls; echoes its `n` argument.
struct Counter(AtomicUsize);

impl Tool for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn description(&self) -> &str {
        "counts"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    }
    fn call<'a>(
        &'a self,
        _ctx: ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, ToolOutput> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { ToolOutput::text(format!("n = {}", args["n"])) })
    }
}

#[tokio::test]
async fn registry_adds_replaces_and_validates_before_calling() {
    let registry = ToolRegistry::with_defaults().with(Counter(AtomicUsize::new(0)));
    assert_eq!(registry.names(), "whoami, github_user, counter");
    let id = identity(Some("alice"));
    let fake = FakeDelegated::default();
    let ctx = ToolContext::new(&id, &fake);

    let bad = registry.call("counter", ctx, Map::new()).await;
    assert_eq!(
        bad.text,
        vec!["invalid arguments for tool `counter`: missing required argument `n`".to_owned()]
    );
    assert!(bad.is_error);
    let mut args = Map::new();
    args.insert("n".into(), json!("seven"));
    let bad = registry.call("counter", ctx, args).await;
    assert!(
        bad.text[0].ends_with("argument `n` must be an integer, got string"),
        "{}",
        bad.text[0]
    );

    let mut args = Map::new();
    args.insert("n".into(), json!(7));
    let ok = registry.call("counter", ctx, args).await;
    assert_eq!(ok, ToolOutput::text("n = 7"));

    // Replacing keeps the position; the old instance is gone.
    let registry = registry.with(Whoami).with(Counter(AtomicUsize::new(0)));
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.names(), "whoami, github_user, counter");
    assert!(ToolRegistry::new().is_empty());
}

#[tokio::test]
async fn invalid_arguments_never_reach_the_tool() {
    let counter = std::sync::Arc::new(Counter(AtomicUsize::new(0)));
    let mut registry = ToolRegistry::new();
    registry.insert(counter.clone());
    let id = identity(Some("alice"));
    let fake = FakeDelegated::default();
    let _ = registry
        .call("counter", ToolContext::new(&id, &fake), Map::new())
        .await;
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    let unknown = registry
        .call("nope", ToolContext::new(&id, &fake), Map::new())
        .await;
    assert_eq!(
        unknown.text[0],
        "unknown tool `nope`; available tools: counter"
    );
}

#[test]
fn tool_output_to_result() {
    let out = ToolOutput::structured(json!({"a": 1})).with_summary("one");
    assert_eq!(
        out.to_result(true),
        json!({
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "{\"a\":1}"}],
            "structuredContent": {"a": 1},
            "isError": false
        })
    );
    assert!(out.to_result(false).get("structuredContent").is_none());
    let err: ToolOutput = ToolError::Failed("nope".into()).into();
    assert_eq!(
        err.to_result(true),
        json!({"content": [{"type": "text", "text": "nope"}], "isError": true})
    );
    let from_delegation: ToolError = DelegationError::NoSubject.into();
    assert!(from_delegation.to_string().contains("no subject"));
}

#[test]
fn describe_gates_titles_and_output_schema() {
    let full = ToolRegistry::describe(&Whoami, true);
    assert_eq!(full["title"], "Who am I?");
    assert!(full.get("outputSchema").is_some());
    assert_eq!(full["annotations"]["readOnlyHint"], true);
    let old = ToolRegistry::describe(&Whoami, false);
    assert!(old.get("title").is_none() && old.get("outputSchema").is_none());
    // A tool without optional parts has none of them.
    let bare = ToolRegistry::describe(&Counter(AtomicUsize::new(0)), true);
    assert_eq!(
        bare,
        json!({"name": "counter", "description": "counts", "inputSchema": Counter(AtomicUsize::new(0)).input_schema()})
    );
}
