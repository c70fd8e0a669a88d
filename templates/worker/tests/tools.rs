//! Unit tests of the tools: a test identity and a fake upstream, no network.

use keycard_worker::core::Identity;
use keycard_worker::core::tools::{FakeUpstream, ToolContext};
use serde_json::json;

fn alice() -> Identity {
    Identity::for_tests("https://zone.keycard.test", Some("alice"), "cursor")
}

#[tokio::test]
async fn greet_greets_from_the_caller() {
    let ctx = ToolContext::for_tests(alice()).build();
    let out = {{crate_name}}::greet_tool()
        .call(ctx, json!({"name": "Bob"}).as_object().unwrap().clone())
        .await;
    assert!(!out.is_error, "{:?}", out.all_text());
    assert_eq!(out.all_text(), "Hello, Bob! (from alice)");
}

#[tokio::test]
async fn profile_calls_the_upstream_as_the_caller() {
    let upstream = FakeUpstream::new("https://api.example.test", |who, request| {
        assert_eq!(request.uri(), "https://api.example.test/user");
        let body = json!({ "login": who.subject().unwrap() }).to_string();
        Ok(http::Response::new(body.into()))
    });
    let ctx = ToolContext::for_tests(alice()).upstream("default", upstream).build();
    let out = {{crate_name}}::profile().call(ctx, Default::default()).await;
    assert_eq!(out.structured, Some(json!({ "login": "alice" })));
}
