#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use serde_json::json;

use super::*;
use crate::auth::identity::Identity;
use crate::tools::{Content, ResourceContents};

fn ctx() -> ToolContext {
    ToolContext::for_tests(Identity::for_tests(
        "https://zone.test",
        Some("alice"),
        "cli",
    ))
    .build()
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    /// The topic.
    topic: String,
    /// How formal.
    tone: Option<String>,
}

fn prompt() -> Prompt {
    Prompt::new("explain")
        .title("Explain")
        .description("Explains a topic.")
        .handler(|_ctx: ToolContext, args: Args| async move {
            Ok::<_, ToolError>(PromptOutput {
                description: Some(format!("Explaining {}", args.topic)),
                messages: vec![
                    PromptMessage::user(format!(
                        "Explain {} ({})",
                        args.topic,
                        args.tone.as_deref().unwrap_or("plain")
                    )),
                    PromptMessage::assistant(Content::image(vec![1, 2, 3], "image/png")),
                    PromptMessage::user(Content::resource(
                        ResourceContents::text("docs://x", "embedded").with_mime_type("text/plain"),
                    )),
                ],
            })
        })
}

#[test]
fn arguments_are_derived_from_the_type() {
    let p = prompt();
    assert_eq!(
        p.arguments(),
        [
            PromptArgument {
                name: "tone".into(),
                description: Some("How formal.".into()),
                required: false
            },
            PromptArgument {
                name: "topic".into(),
                description: Some("The topic.".into()),
                required: true
            },
        ]
    );
    insta::assert_json_snapshot!("prompt_list_entry", p.to_json(ProtocolVersion::V2025_11_25));
    assert!(
        p.to_json(ProtocolVersion::V2025_03_26)
            .get("title")
            .is_none()
    );
}

#[test]
fn get_renders_messages_per_era() {
    let p = prompt();
    let mut args = Map::new();
    args.insert("topic".into(), json!("borrowing"));
    let out = block_on(p.get(ctx(), args)).unwrap();
    insta::assert_json_snapshot!("prompt_get", out.to_json(ProtocolVersion::V2025_11_25));
}

#[test]
fn missing_required_and_unknown_arguments_are_invalid() {
    let p = prompt();
    let err = block_on(p.get(ctx(), Map::new())).unwrap_err();
    assert!(
        matches!(&err, PromptError::InvalidArguments(m) if m.contains("topic")),
        "{err}"
    );
    let mut wrong = Map::new();
    wrong.insert("topic".into(), json!(42));
    assert!(matches!(
        block_on(p.get(ctx(), wrong)),
        Err(PromptError::InvalidArguments(_))
    ));
}

#[test]
fn handler_failures_and_plain_text() {
    let failing = Prompt::new("f").handler(|_, _a: crate::tools::NoArgs| async move {
        Err::<String, _>(ToolError::new("nope"))
    });
    assert_eq!(
        block_on(failing.get(ctx(), Map::new())).unwrap_err(),
        PromptError::Failed("nope".into())
    );
    let text = Prompt::new("t")
        .handler(|_, _a: crate::tools::NoArgs| async move { Ok::<_, ToolError>("hi") });
    assert_eq!(
        block_on(text.get(ctx(), Map::new()))
            .unwrap()
            .to_json(ProtocolVersion::V2026_07_28),
        json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]})
    );
    // No arguments: no `arguments` member.
    assert!(
        text.to_json(ProtocolVersion::V2026_07_28)
            .get("arguments")
            .is_none()
    );
}
