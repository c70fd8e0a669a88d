//! `#[keycard_macros::tool]` end to end: the generated `Tool`'s definition (name from the
//! fn, description from the doc comment, schema, annotations, upstreams) and a call.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use keycard_core::Identity;
use keycard_core::tools::{Json, ToolContext, ToolError};
use keycard_macros::tool;
use serde_json::{Map, Value, json};

/// The arguments of `greet`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    /// Whom to greet.
    pub name: String,
    /// Language of the greeting: "en" or "fr".
    pub language: Option<String>,
}

/// Says hello to `name`
///   on behalf of the signed-in user.
///
/// Read-only.
#[tool(title = "Greeting", read_only)]
pub async fn greet(ctx: ToolContext, args: GreetArgs) -> Result<String, ToolError> {
    let hello = match args.language.as_deref() {
        Some("fr") => "Bonjour",
        _ => "Hello",
    };
    let who = ctx.identity().subject().unwrap_or("a service client");
    Ok(format!("{hello} {}, from {who}!", args.name))
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Caller {
    subject: Option<String>,
}

/// Who is calling.
#[tool(name = "who.am.i", upstream = "github", upstream = "linear")]
async fn whoami(ctx: ToolContext) -> Result<Json<Caller>, ToolError> {
    Ok(Json(Caller {
        subject: ctx.identity().subject().map(str::to_owned),
    }))
}

#[tool(description = "Always fails.")]
async fn broken(_ctx: ToolContext) -> Result<String, ToolError> {
    Err(ToolError::Failed("nothing is right".into()))
}

fn ctx(subject: &str) -> ToolContext {
    ToolContext::for_tests(Identity::for_tests(
        "https://zone.keycard.test",
        Some(subject),
        "claude-desktop",
    ))
    .build()
}

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn definitions_come_from_the_fn() {
    let greet = greet_tool();
    let def = greet.definition();
    assert_eq!(def.name, "greet");
    assert_eq!(def.title.as_deref(), Some("Greeting"));
    assert_eq!(
        def.description,
        "Says hello to `name` on behalf of the signed-in user.\n\nRead-only."
    );
    let schema = def.input_schema();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["name"]["type"], "string");
    assert!(schema["properties"]["language"].is_object());
    assert_eq!(schema["required"], json!(["name"]));
    let annotations = def.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(true));
    assert_eq!(annotations.idempotent_hint, Some(true));
    assert!(def.upstreams.is_empty());
    assert!(def.output_schema().is_none());

    let whoami = whoami_tool();
    let def = whoami.definition();
    assert_eq!(def.name, "who.am.i");
    assert_eq!(def.description, "Who is calling.");
    assert!(def.title.is_none());
    assert!(def.annotations.is_none());
    assert_eq!(def.upstreams, ["github", "linear"]);
    // No arguments: the `NoArgs` schema, no properties.
    assert_eq!(
        def.input_schema()["properties"]
            .as_object()
            .map_or(0, Map::len),
        0
    );
    assert!(def.output_schema().is_some());

    assert_eq!(broken_tool().definition().description, "Always fails.");
}

#[tokio::test]
async fn generated_tools_run() {
    let out = greet_tool()
        .call(
            ctx("alice"),
            args(json!({ "name": "Bob", "language": "fr" })),
        )
        .await;
    assert!(!out.is_error);
    assert_eq!(out.all_text(), "Bonjour Bob, from alice!");

    // The fn is kept and can be called directly.
    let direct = greet(
        ctx("carol"),
        GreetArgs {
            name: "Dan".into(),
            language: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(direct, "Hello Dan, from carol!");

    // Arguments are checked against the derived schema.
    let out = greet_tool().call(ctx("alice"), args(json!({}))).await;
    assert!(out.is_error, "{}", out.all_text());

    let out = whoami_tool().call(ctx("erin"), Map::new()).await;
    assert!(!out.is_error);
    assert_eq!(out.structured, Some(json!({ "subject": "erin" })));
    // `NoArgs` refuses unknown members.
    let out = whoami_tool()
        .call(ctx("erin"), args(json!({ "extra": 1 })))
        .await;
    assert!(out.is_error);

    let out = broken_tool().call(ctx("alice"), Map::new()).await;
    assert!(out.is_error);
    assert!(
        out.all_text().contains("nothing is right"),
        "{}",
        out.all_text()
    );
}
