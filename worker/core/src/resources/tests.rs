#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::auth::identity::Identity;

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

#[test]
fn level_one_templates_parse() {
    let t = UriTemplate::parse("file:///{dir}/{name}.txt").unwrap();
    assert_eq!(t.variables().collect::<Vec<_>>(), ["dir", "name"]);
    for bad in [
        "x://{+path}",
        "x://{#frag}",
        "x://{?q}",
        "x://{a,b}",
        "x://{a*}",
        "x://{a:3}",
        "x://{}",
        "x://{open",
        "x://close}",
    ] {
        assert!(UriTemplate::parse(bad).is_err(), "{bad}");
    }
    assert!(UriTemplate::parse("x://{a.b}").is_ok());
}

#[test]
fn templates_match_and_decode() {
    let t = UriTemplate::parse("users://{id}/posts/{post}").unwrap();
    let vars = t.matches("users://al%C3%AFce/posts/1").unwrap();
    assert_eq!(vars["id"], "alïce");
    assert_eq!(vars["post"], "1");
    for miss in [
        "users://alice/posts/",
        "users://alice/posts/1/2",
        "users:///posts/1",
        "users://a/b/posts/1",
        "users://alice/posts/1?x",
        "users://alice/posts/%zz",
        "other://alice/posts/1",
    ] {
        assert!(t.matches(miss).is_none(), "{miss}");
    }
    // Backtracking across a literal that can also be part of a value.
    let t = UriTemplate::parse("file:///{name}.{ext}").unwrap();
    let vars = t.matches("file:///archive.tar.gz").unwrap();
    assert_eq!(
        (vars["name"].as_str(), vars["ext"].as_str()),
        ("archive.tar", "gz")
    );
    // A repeated variable must repeat its value.
    let t = UriTemplate::parse("x://{a}/{a}").unwrap();
    assert!(t.matches("x://1/1").is_some());
    assert!(t.matches("x://1/2").is_none());
}

#[test]
fn static_resources_read_text_blob_and_json() {
    let text = Resource::new("test://text")
        .mime_type("text/plain")
        .handler(|_| async move { Ok::<_, ToolError>("hello") });
    assert_eq!(
        block_on(text.read(ctx())).unwrap(),
        vec![ResourceContents::text("test://text", "hello").with_mime_type("text/plain")]
    );
    let blob = Resource::new("test://blob")
        .mime_type("image/png")
        .handler(|_| async move { Ok::<_, ToolError>(vec![0u8, 1, 2]) });
    let read = block_on(blob.read(ctx())).unwrap();
    assert_eq!(
        read[0].to_json(),
        json!({"uri": "test://blob", "mimeType": "image/png", "blob": "AAEC"})
    );
    let value = Resource::new("test://json")
        .handler(|_| async move { Ok::<_, ToolError>(json!({"a": 1})) });
    assert_eq!(
        block_on(value.read(ctx())).unwrap()[0].to_json(),
        json!({"uri": "test://json", "mimeType": "application/json", "text": "{\"a\":1}"})
    );
    let failing = Resource::new("test://fail")
        .handler(|_| async move { Err::<String, _>(ToolError::new("upstream down")) });
    assert_eq!(
        block_on(failing.read(ctx())).unwrap_err(),
        ResourceError::Failed("upstream down".into())
    );
}

#[test]
fn listing_per_era() {
    let r = Resource::new("test://doc")
        .name("doc")
        .title("A document")
        .description("What it says")
        .mime_type("text/plain")
        .size(12)
        .handler(|_| async move { Ok::<_, ToolError>("x") });
    assert_eq!(
        r.to_json(ProtocolVersion::V2025_06_18),
        json!({"uri": "test://doc", "name": "doc", "title": "A document", "description": "What it says", "mimeType": "text/plain", "size": 12})
    );
    assert_eq!(
        r.to_json(ProtocolVersion::V2025_03_26),
        json!({"uri": "test://doc", "name": "doc", "description": "What it says", "mimeType": "text/plain", "size": 12})
    );
    // The name defaults to the URI.
    let bare = Resource::new("test://bare").handler(|_| async move { Ok::<_, ToolError>("x") });
    assert_eq!(
        bare.to_json(ProtocolVersion::V2026_07_28)["name"],
        "test://bare"
    );
}

#[derive(serde::Deserialize)]
struct Vars {
    id: String,
}

#[test]
fn templates_hand_typed_variables_to_the_handler() {
    let t = ResourceTemplate::new("users://{id}/profile")
        .name("profile")
        .mime_type("text/plain")
        .handler(|ctx: ToolContext, vars: Vars| async move {
            Ok::<_, ToolError>(format!(
                "{} asked for {}",
                ctx.identity().subject().unwrap_or("?"),
                vars.id
            ))
        });
    assert_eq!(
        t.to_json(ProtocolVersion::V2025_11_25),
        json!({"uriTemplate": "users://{id}/profile", "name": "profile", "mimeType": "text/plain"})
    );
    let read = block_on(t.read(ctx(), "users://bob/profile")).unwrap();
    assert_eq!(
        read,
        vec![
            ResourceContents::text("users://bob/profile", "alice asked for bob")
                .with_mime_type("text/plain")
        ]
    );
    assert_eq!(
        block_on(t.read(ctx(), "users://bob")).unwrap_err(),
        ResourceError::NotFound("users://bob".into())
    );
    // Variables that do not fit the type: no such resource.
    #[derive(serde::Deserialize)]
    struct Numeric {
        #[allow(dead_code)]
        n: u32,
    }
    let typed = ResourceTemplate::new("n://{n}")
        .handler(|_, _v: Numeric| async move { Ok::<_, ToolError>("x") });
    assert!(matches!(
        block_on(typed.read(ctx(), "n://12")),
        Err(ResourceError::NotFound(_))
    ));
    let raw = ResourceTemplate::new("raw://{a}/{b}").handler(
        |_, v: BTreeMap<String, String>| async move {
            Ok::<_, ToolError>(format!("{}+{}", v["a"], v["b"]))
        },
    );
    assert_eq!(
        block_on(raw.read(ctx(), "raw://1/2")).unwrap()[0].to_json()["text"],
        "1+2"
    );
}

#[test]
fn invalid_templates_match_nothing_and_say_why() {
    let t = ResourceTemplate::new("search{?q}")
        .handler(|_, _v: BTreeMap<String, String>| async move { Ok::<_, ToolError>("x") });
    assert!(t.parsed().unwrap_err().contains("level-1"));
    assert!(t.matches("search?q=x").is_none());
}

#[test]
fn template_completion() {
    let t = ResourceTemplate::new("users://{id}")
        .complete(|_, req: CompletionRequest| async move {
            Ok(["alice", "bob", "alfred"]
                .iter()
                .filter(|v| v.starts_with(&req.value))
                .map(|v| v.to_string())
                .collect())
        })
        .handler(|_, _v: Vars| async move { Ok::<_, ToolError>("x") });
    assert!(t.has_completer());
    assert_eq!(
        block_on(t.complete(ctx(), CompletionRequest::new("id", "al"))).unwrap(),
        ["alice", "alfred"]
    );
}
