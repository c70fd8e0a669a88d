//! The tool API (typed handlers, schemas, outputs, errors) and the built-in tools, driven
//! through `ToolContext::for_tests` with fake upstreams.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::builtin::{github_user, whoami};
use super::schema::check_arguments;
use super::*;
use crate::auth::identity::Identity;
use crate::mcp::version::ProtocolVersion;

const BEARER: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.U0VDUkVULUJFQVJFUg";
const API: &str = "https://api.github.test";

fn identity(subject: Option<&str>) -> Identity {
    Identity::for_tests("https://zone.keycard.test", subject, "claude-desktop")
}

/// An upstream call as the fake saw it: the bearer it carried and the request.
type Seen = (Option<String>, http::Request<Bytes>);

/// A fake default upstream answering `answer`, recording every request it sees.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn upstream(&self, answer: Result<(u16, &'static str), DelegationError>) -> FakeUpstream {
        let seen = self.0.clone();
        FakeUpstream::new(API, move |who, request| {
            seen.lock()
                .unwrap()
                .push((who.subject().map(str::to_owned), request));
            answer.clone().map(|(status, body)| {
                let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                r
            })
        })
    }
    fn seen(&self) -> Vec<(Option<String>, http::Request<Bytes>)> {
        self.0.lock().unwrap().clone()
    }
}

fn ctx(subject: Option<&str>, upstream: FakeUpstream) -> ToolContext {
    ToolContext::for_tests(identity(subject))
        .upstream("default", upstream)
        .build()
}

async fn call(
    tool: Tool,
    subject: Option<&str>,
    answer: Result<(u16, &'static str), DelegationError>,
) -> (ToolOutput, Recorder) {
    let recorder = Recorder::default();
    let out = tool
        .call(ctx(subject, recorder.upstream(answer)), Map::new())
        .await;
    (out, recorder)
}

// ---------------------------------------------------------------- whoami

#[tokio::test]
async fn whoami_reports_the_verified_identity() {
    let (out, recorder) = call(whoami(), Some("alice"), Ok((200, "{}"))).await;
    assert!(!out.is_error);
    assert_eq!(
        out.structured,
        Some(json!({
            "subject": "alice",
            "issuer": "https://zone.keycard.test",
            "client_id": "claude-desktop",
            "scopes": ["mcp:tools"],
            "audience": ["https://mcp.test"],
            "expires_at": 4_102_444_800u64,
            "expires_at_iso": "2100-01-01T00:00:00Z",
        }))
    );
    assert!(recorder.seen().is_empty(), "whoami makes no upstream call");
    assert!(!out.all_text().contains(BEARER));
}

#[tokio::test]
async fn whoami_without_sub_matches_its_derived_output_schema() {
    let (out, _) = call(whoami(), None, Ok((200, "{}"))).await;
    let structured = out.structured.clone().unwrap();
    assert!(structured.get("subject").is_none(), "{structured}");
    let tool = whoami();
    let schema = tool.definition().output_schema().unwrap();
    assert_eq!(
        check_arguments(schema, structured.as_object().unwrap()),
        Ok(())
    );
    // Portable: no `$schema`, no type arrays, no non-standard formats.
    let text = schema.to_string();
    assert!(
        !text.contains("$schema") && !text.contains("uint64"),
        "{text}"
    );
    assert!(!text.contains(r#""type":["#), "{text}");
    assert_eq!(schema["properties"]["subject"]["type"], "string");
    assert!(
        !schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("subject"))
    );
    // The text block is the same JSON (for clients without structuredContent).
    let text: Value = serde_json::from_str(out.content[0].as_text().unwrap()).unwrap();
    assert_eq!(text, structured);
}

// ---------------------------------------------------------------- github_user

#[tokio::test]
async fn github_user_returns_the_profile() {
    let (out, recorder) = call(
        github_user(),
        Some("alice"),
        Ok((200, r#"{"login":"octocat","id":583231,"name":null}"#)),
    )
    .await;
    assert!(!out.is_error, "{out:?}");
    assert_eq!(
        out.structured,
        Some(json!({"login": "octocat", "id": 583231, "name": null}))
    );
    assert_eq!(
        out.content[0].as_text(),
        Some("Signed in to GitHub as octocat.")
    );
    let seen = recorder.seen();
    assert_eq!(seen.len(), 1);
    let (who, request) = &seen[0];
    assert_eq!(who.as_deref(), Some("alice"), "bound to the caller");
    assert_eq!(request.uri(), "https://api.github.test/user");
    assert_eq!(request.headers()["accept"], "application/json");
    assert!(request.headers().contains_key("user-agent"));
    assert!(
        request.headers().get("authorization").is_none(),
        "the tool never attaches a token"
    );
}

#[tokio::test]
async fn delegation_errors_name_the_upstream_and_the_fix() {
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
            "You have not granted access to the \"default\" upstream in Keycard: sign in again and grant access (Keycard said: no consent).",
        ),
        (
            refused("invalid_target", None),
            "The \"default\" upstream is not a dependency of this application in Keycard Console",
        ),
        (
            refused("invalid_client", None),
            "The server's Keycard credentials are wrong: check KEYCARD_CLIENT_ID/KEYCARD_CLIENT_SECRET or KEYCARD_PRIVATE_KEY.",
        ),
        (
            refused("temporarily_unavailable", None),
            "Keycard refused the token exchange for the \"default\" upstream (temporarily_unavailable).",
        ),
        (
            DelegationError::Unavailable("STS answered 503".into()),
            "Keycard's token service is unavailable right now (for the \"default\" upstream: STS answered 503): try again in a moment.",
        ),
        (
            DelegationError::Upstream("timed out".into()),
            "Could not reach the \"default\" upstream (timed out): try again in a moment.",
        ),
    ];
    for (error, expected) in cases {
        let (out, _) = call(github_user(), Some("alice"), Err(error.clone())).await;
        assert!(out.is_error, "{error:?}");
        assert!(out.structured.is_none());
        assert!(
            out.all_text().contains(expected),
            "{error:?}: {}",
            out.all_text()
        );
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
        let (out, _) = call(github_user(), Some("alice"), Ok((status, body))).await;
        assert!(out.is_error, "{status}");
        assert!(
            out.all_text().contains(expected),
            "{status}: {}",
            out.all_text()
        );
        assert!(!out.all_text().contains("<html>"), "never the raw body");
    }
    // A hostile upstream echoing a token in its message gets it redacted.
    let body: &'static str =
        Box::leak(format!(r#"{{"message":"token {BEARER} is revoked\n\u0007"}}"#).into_boxed_str());
    let (out, _) = call(github_user(), Some("alice"), Ok((401, body))).await;
    assert!(!out.all_text().contains(BEARER), "{out:?}");
    assert!(
        out.all_text().contains("[redacted] is revoked"),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn github_user_non_json_200_is_an_error() {
    let (out, _) = call(
        github_user(),
        Some("alice"),
        Ok((200, "<html>login</html>")),
    )
    .await;
    assert!(out.is_error);
    assert!(
        out.all_text().contains("not a JSON object"),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn an_unknown_upstream_is_named_with_the_configured_ones() {
    let tool = Tool::new("cal").handler(|ctx: ToolContext, _: NoArgs| async move {
        let cal = ctx.upstream("calendar");
        let request = cal.get("/events").body(Bytes::new())?;
        cal.fetch(request).await.map(|_| "ok")
    });
    let (out, _) = call(tool, Some("alice"), Ok((200, "{}"))).await;
    assert!(out.is_error);
    assert!(
        out.all_text()
            .contains(r#"no upstream named "calendar" is configured (configured: default)"#),
        "{}",
        out.all_text()
    );
}

// ---------------------------------------------------------------- typed tools

/// Arguments of the test tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    /// What to echo.
    text: String,
    /// How many times (default 1).
    times: Option<u32>,
    /// Shouting or not.
    mode: Option<Mode>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Loud,
    Quiet,
}

fn echo(calls: Arc<AtomicUsize>) -> Tool {
    Tool::new("echo").description("Echoes text.").handler(
        move |_ctx: ToolContext, args: EchoArgs| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut text = args.text.repeat(args.times.unwrap_or(1) as usize);
                if matches!(args.mode, Some(Mode::Loud)) {
                    text = text.to_uppercase();
                }
                Ok::<_, ToolError>(text)
            }
        },
    )
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn typed_arguments_are_derived_checked_and_deserialized() {
    let calls = Arc::new(AtomicUsize::new(0));
    let tool = echo(calls.clone());
    let schema = tool.definition().input_schema().clone();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["text"]));
    assert_eq!(schema["properties"]["text"]["description"], "What to echo.");
    assert_eq!(schema["properties"]["times"]["type"], "integer");
    assert_eq!(
        schema["properties"]["mode"]["enum"],
        json!(["loud", "quiet"])
    );
    assert_eq!(schema["additionalProperties"], false);
    assert!(!schema.to_string().contains("$ref") && !schema.to_string().contains("$schema"));

    let ctx = ctx(Some("alice"), Recorder::default().upstream(Ok((200, "{}"))));
    let ok = tool
        .call(
            ctx.clone(),
            args(json!({"text": "ab", "times": 2, "mode": "loud"})),
        )
        .await;
    assert_eq!(ok, ToolOutput::text("ABAB"));
    let ok = tool
        .call(ctx.clone(), args(json!({"text": "ab", "mode": null})))
        .await;
    assert_eq!(
        ok,
        ToolOutput::text("ab"),
        "a null optional counts as absent"
    );
    for (bad, expected) in [
        (
            json!({}),
            "invalid arguments for tool `echo`: missing required argument `text`",
        ),
        (
            json!({"text": 1}),
            "argument `text` must be a string, got integer",
        ),
        (
            json!({"text": "a", "mode": "medium"}),
            "argument `mode` must be one of [\"loud\",\"quiet\"]",
        ),
        (json!({"text": "a", "zzz": 1}), "unexpected argument `zzz`"),
        // Past the schema check, serde still refuses what does not fit the type.
        (
            json!({"text": "a", "times": -1}),
            "invalid arguments for tool `echo`",
        ),
    ] {
        let out = tool.call(ctx.clone(), args(bad.clone())).await;
        assert!(out.is_error, "{bad}");
        assert!(
            out.all_text().contains(expected),
            "{bad}: {}",
            out.all_text()
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "invalid arguments never reach the handler"
    );
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Sum {
    total: i64,
    note: Option<String>,
}

#[tokio::test]
async fn json_output_derives_the_output_schema_and_is_checked_against_it() {
    let tool = Tool::new("sum").handler(|_ctx: ToolContext, _: NoArgs| async move {
        Ok::<_, ToolError>(Json(Sum {
            total: 4,
            note: None,
        }))
    });
    let schema = tool.definition().output_schema().unwrap().clone();
    assert_eq!(schema["properties"]["total"]["type"], "integer");
    // Nullable output fields are `anyOf`, never a type array.
    assert_eq!(
        schema["properties"]["note"]["anyOf"],
        json!([{"type": "string"}, {"type": "null"}])
    );
    let ctx = ctx(Some("alice"), Recorder::default().upstream(Ok((200, "{}"))));
    let out = tool.call(ctx.clone(), Map::new()).await;
    assert_eq!(out.structured, Some(json!({"total": 4, "note": null})));
    assert!(!out.is_error);

    // A tool whose structured output does not match its declared schema is caught.
    let liar = Tool::new("liar")
        .output_schema(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        )
        .handler(|_ctx: ToolContext, _: NoArgs| async move {
            Ok::<_, ToolError>(ToolOutput::structured(json!({"n": "not a number"})))
        });
    let out = liar.call(ctx, Map::new()).await;
    assert!(out.is_error);
    assert!(
        out.all_text().contains("does not match its output schema"),
        "{}",
        out.all_text()
    );
}

#[test]
fn rich_results_render_per_protocol_version() {
    let out = ToolOutput::content([
        Content::text("see the picture"),
        Content::image(vec![1u8, 2, 3], "image/png"),
        Content::resource_link(ResourceLink {
            uri: "test://doc".into(),
            name: "doc".into(),
            ..ResourceLink::default()
        }),
    ]);
    let new = out.to_result(ProtocolVersion::V2025_11_25);
    assert_eq!(
        new["content"][1],
        json!({"type": "image", "data": "AQID", "mimeType": "image/png"})
    );
    assert_eq!(new["content"][2]["type"], "resource_link");
    let old = out.to_result(ProtocolVersion::V2025_03_26);
    assert_eq!(
        old["content"][2]["type"], "text",
        "no resource_link before 2025-06-18"
    );

    let structured = ToolOutput::structured(json!({"a": 1})).with_summary("one");
    assert_eq!(
        structured.to_result(ProtocolVersion::V2025_06_18),
        json!({
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "{\"a\":1}"}],
            "structuredContent": {"a": 1},
            "isError": false
        })
    );
    assert!(
        structured
            .to_result(ProtocolVersion::V2025_03_26)
            .get("structuredContent")
            .is_none()
    );
    let err: ToolOutput = ToolError::new("nope").into();
    assert_eq!(
        err.to_result(ProtocolVersion::V2025_11_25),
        json!({"content": [{"type": "text", "text": "nope"}], "isError": true})
    );
}

#[test]
fn definitions_gate_titles_and_output_schema() {
    let tool = whoami();
    let full = tool.definition().to_json(true);
    assert_eq!(full["title"], "Who am I?");
    assert!(full.get("outputSchema").is_some());
    assert_eq!(full["annotations"]["readOnlyHint"], true);
    let old = tool.definition().to_json(false);
    assert!(old.get("title").is_none() && old.get("outputSchema").is_none());
    // A tool without optional parts has none of them; no arguments is `{}` only.
    let bare = Tool::new("bare")
        .description("nothing")
        .handler(|_ctx: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>("") });
    assert_eq!(
        bare.definition().to_json(true),
        json!({"name": "bare", "description": "nothing", "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false}})
    );
}

#[tokio::test]
async fn registry_adds_replaces_and_names_unknown_tools() {
    let mut registry = ToolRegistry::new();
    registry.insert(whoami());
    registry.insert(github_user());
    registry.insert(echo(Arc::new(AtomicUsize::new(0))));
    assert_eq!(registry.names(), "whoami, github_user, echo");
    registry.insert(
        Tool::new("whoami")
            .handler(|_ctx: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>("replaced") }),
    );
    assert_eq!(registry.names(), "whoami, github_user, echo");
    assert_eq!(registry.len(), 3);
    let ctx = ctx(Some("alice"), Recorder::default().upstream(Ok((200, "{}"))));
    assert_eq!(
        registry.call("whoami", ctx.clone(), Map::new()).await,
        ToolOutput::text("replaced")
    );
    let unknown = registry.call("nope", ctx, Map::new()).await;
    assert_eq!(
        unknown.all_text(),
        "unknown tool `nope`; available tools: whoami, github_user, echo"
    );
    assert!(ToolRegistry::new().is_empty());
}

/// A hand-written `CallTool`: the object-safe layer under the typed form.
struct Counter(AtomicUsize);

impl CallTool for Counter {
    fn call<'a>(
        &'a self,
        _ctx: ToolContext,
        args: Map<String, Value>,
    ) -> crate::ports::BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(ToolOutput::text(format!("call {n}, n = {}", args["n"])))
        })
    }
}

#[tokio::test]
async fn hand_written_handlers_get_checked_arguments() {
    let tool = Tool::from_handler(
        Tool::new("counter").description("counts"),
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        Counter(AtomicUsize::new(0)),
    );
    let ctx = ctx(Some("alice"), Recorder::default().upstream(Ok((200, "{}"))));
    assert!(tool.call(ctx.clone(), Map::new()).await.is_error);
    assert_eq!(
        tool.call(ctx, args(json!({"n": 7}))).await,
        ToolOutput::text("call 1, n = 7")
    );
}

#[tokio::test]
async fn get_json_parses_refuses_non_2xx_and_names_bad_json() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Login {
        login: String,
    }
    let recorder = Recorder::default();
    let ctx = ctx(
        Some("alice"),
        recorder.upstream(Ok((200, r#"{"login":"alice"}"#))),
    );
    let got: Login = ctx.default_upstream().get_json("/user").await.unwrap();
    assert_eq!(got.login, "alice");
    let (who, request) = recorder.seen().pop().unwrap();
    assert_eq!(who.as_deref(), Some("alice"));
    assert_eq!(request.uri(), "https://api.github.test/user");
    assert!(request.headers().contains_key("user-agent"));

    let rate_limited = r#"{"message":"rate limited ghp_abcdefghijklmnopqrstuvwxyz0123456789"}"#;
    let ctx2 = ToolContext::for_tests(identity(Some("alice")))
        .upstream(
            "default",
            Recorder::default().upstream(Ok((403, rate_limited))),
        )
        .build();
    let err = ctx2
        .default_upstream()
        .get_json::<Login>("/user")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 403") && text.contains("rate limited"),
        "{text}"
    );
    assert!(
        !text.contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        "{text}"
    );

    let ctx3 = ToolContext::for_tests(identity(Some("alice")))
        .upstream("default", Recorder::default().upstream(Ok((200, "<html>"))))
        .build();
    let err = ctx3
        .default_upstream()
        .get_json::<Login>("/user")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the expected JSON"), "{err}");
}

// ---------------------------------------------------------------- several upstreams

const CALENDAR_API: &str = "https://calendar.test/api";
const PROFILE: &str = r#"{"login":"alice","name":"Alice","id":1}"#;
const EVENTS: &str = r#"{"items":[{"summary":"Stand-up","start":"09:00","end":"09:15"}]}"#;

/// A context with a `github` and a `calendar` fake, each answering its own result.
fn two_upstreams(
    github: Result<(u16, &'static str), DelegationError>,
    calendar: Result<(u16, &'static str), DelegationError>,
) -> ToolContext {
    let fake = |url: &str, answer: Result<(u16, &'static str), DelegationError>| {
        FakeUpstream::new(url, move |_, _| {
            answer.clone().map(|(status, body)| {
                let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                r
            })
        })
    };
    ToolContext::for_tests(identity(Some("alice")))
        .upstream("github", fake(API, github))
        .upstream("calendar", fake(CALENDAR_API, calendar))
        .build()
}

#[tokio::test]
async fn my_day_returns_both_upstreams() {
    let tool = super::builtin::my_day();
    assert_eq!(tool.definition().upstreams, ["github", "calendar"]);
    let out = tool
        .call(
            two_upstreams(Ok((200, PROFILE)), Ok((200, EVENTS))),
            Map::new(),
        )
        .await;
    assert!(!out.is_error, "{}", out.all_text());
    assert_eq!(
        out.structured,
        Some(json!({
            "github": { "login": "alice", "name": "Alice" },
            "events": [{ "summary": "Stand-up", "start": "09:00", "end": "09:15" }],
            "errors": [],
        }))
    );
}

#[tokio::test]
async fn my_day_returns_what_it_could_get_and_names_the_other_upstream() {
    let no_consent = DelegationError::Refused {
        error: "invalid_grant".into(),
        description: Some("the user has not consented to https://calendar.test/api".into()),
    };
    let out = super::builtin::my_day()
        .call(
            two_upstreams(Ok((200, PROFILE)), Err(no_consent)),
            Map::new(),
        )
        .await;
    assert!(!out.is_error, "{}", out.all_text());
    let day = out.structured.clone().unwrap();
    assert_eq!(day["github"]["login"], "alice");
    assert_eq!(day["events"], Value::Null);
    assert_eq!(
        day["errors"],
        json!([{
            "upstream": "calendar",
            "error": "You have not granted access to the \"calendar\" upstream in Keycard: sign in again and grant access (Keycard said: the user has not consented to https://calendar.test/api).",
        }])
    );
    // The other way round, with an upstream answering 401 and a token in its message.
    let out = super::builtin::my_day()
        .call(
            two_upstreams(
                Ok((401, r#"{"message":"Bad credentials ghp_abcdef0123"}"#)),
                Ok((200, EVENTS)),
            ),
            Map::new(),
        )
        .await;
    assert!(!out.is_error);
    let day = out.structured.clone().unwrap();
    assert_eq!(day["events"][0]["summary"], "Stand-up");
    assert_eq!(day["errors"][0]["upstream"], "github");
    let error = day["errors"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("github upstream answered HTTP 401") && !error.contains("ghp_"),
        "{error}"
    );
}

#[tokio::test]
async fn my_day_fails_only_when_every_upstream_does() {
    let out = super::builtin::my_day()
        .call(
            two_upstreams(
                Err(DelegationError::Unavailable("STS answered 503".into())),
                Ok((200, r#"{"not":"events"}"#)),
            ),
            Map::new(),
        )
        .await;
    assert!(out.is_error);
    assert!(out.structured.is_none());
    let text = out.all_text();
    assert!(
        text.contains("github: Keycard's token service is unavailable")
            && text
                .contains("calendar: the calendar upstream's answer is not in the expected shape"),
        "{text}"
    );
}

#[tokio::test]
async fn fetch_all_keeps_order_and_fails_per_upstream() {
    let ctx = two_upstreams(Ok((200, PROFILE)), Ok((503, "{}")));
    let request = |url: &str| http::Request::get(url).body(Bytes::new()).unwrap();
    let results = ctx
        .fetch_all([
            ("calendar", request(&format!("{CALENDAR_API}/events"))),
            ("nope", request(&format!("{API}/user"))),
            ("github", request(&format!("{API}/user"))),
        ])
        .await;
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["calendar", "nope", "github"]);
    assert_eq!(results[0].1.as_ref().unwrap().status(), 503);
    let unknown = results[1].1.as_ref().unwrap_err();
    assert!(
        matches!(unknown, ToolError::Delegation { upstream, .. } if upstream == "nope"),
        "{unknown}"
    );
    assert!(
        unknown.to_string().contains("configured: calendar, github"),
        "{unknown}"
    );
    assert_eq!(results[2].1.as_ref().unwrap().body(), PROFILE.as_bytes());
    // get_json_all: per-upstream parse results, in order.
    let json = ctx
        .get_json_all::<Value>([("github", "/user"), ("calendar", "/events")])
        .await;
    assert_eq!(json[0].1.as_ref().unwrap()["login"], "alice");
    assert_eq!(
        json[1].1.as_ref().unwrap_err().to_string(),
        "the calendar upstream answered HTTP 503 to GET /events"
    );
}

/// MCP requires object schemas: a tool whose arguments or structured output is not an
/// object stops the gateway at build, naming the tool and the fix, instead of making
/// strict clients refuse the whole `tools/list`.
#[test]
fn the_gateway_refuses_a_tool_whose_schema_is_not_an_object() {
    use crate::auth::tests::{Zone, test_config};
    use crate::http::Gateway;
    use crate::server::Server;

    let build = |tool: Tool| {
        Gateway::new(
            test_config(),
            Zone::new().ports(),
            Server::new("s", "1").tool(tool),
        )
        .err()
        .map(|e| e.to_string())
    };
    let string_args = Tool::new("echo")
        .description("d")
        .handler(|_c: ToolContext, s: String| async move { Ok::<_, ToolError>(s) });
    let err = build(string_args).expect("a string argument must be refused");
    assert!(
        err.contains("tool `echo` cannot be offered: its input schema has \"type\": \"string\"")
            && err.contains("struct (or `NoArgs`)"),
        "{err}"
    );
    let list_output = Tool::new("list")
        .description("d")
        .handler(|_c: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>(Json(vec![1u32])) });
    let err = build(list_output).expect("a list output must be refused");
    assert!(
        err.contains("tool `list` cannot be offered: its output schema has \"type\": \"array\""),
        "{err}"
    );
    let hand_written = Tool::from_handler(
        Tool::new("raw").description("d"),
        json!({"oneOf": [{"type": "object"}]}),
        Counter(AtomicUsize::new(0)),
    );
    let err = build(hand_written).expect("a schema without a type must be refused");
    assert!(err.contains("its input schema has no \"type\""), "{err}");
    // Objects pass: a struct, a map, no arguments, structured output of a struct.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Args {
        _n: u32,
    }
    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Out {
        n: u32,
    }
    for tool in [
        Tool::new("a")
            .description("d")
            .handler(|_c: ToolContext, _: Args| async move { Ok::<_, ToolError>("x") }),
        Tool::new("b").description("d").handler(
            |_c: ToolContext, _: std::collections::BTreeMap<String, String>| async move {
                Ok::<_, ToolError>("x")
            },
        ),
        Tool::new("c")
            .description("d")
            .handler(
                |_c: ToolContext, _: NoArgs| async move { Ok::<_, ToolError>(Json(Out { n: 1 })) },
            ),
    ] {
        assert_eq!(build(tool), None);
    }
}
