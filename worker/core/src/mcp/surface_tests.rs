//! Resources, prompts, completion, pagination, logging and 2025-03-26 batches through
//! the endpoint, in every era where they differ.

use std::collections::BTreeMap;

use super::*;
use crate::prompts::{Prompt, PromptMessage};
use crate::resources::{Resource, ResourceError, ResourceTemplate};
use crate::tools::{Content, NoArgs, ResourceContents, Tool, ToolContext, ToolError};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct TopicArgs {
    /// The topic.
    topic: String,
    /// The language.
    language: Option<String>,
}

#[derive(serde::Deserialize)]
struct RepoVars {
    repo: String,
}

fn full_server() -> Server {
    Server::demo()
        .resource(
            Resource::new("test://static-text")
                .name("static-text")
                .title("Static text")
                .description("A fixed text resource")
                .mime_type("text/plain")
                .handler(
                    |_ctx: ToolContext| async move { Ok::<_, ToolError>("This is the content") },
                ),
        )
        .resource(
            Resource::new("test://static-binary")
                .name("static-binary")
                .mime_type("image/png")
                .handler(|_ctx: ToolContext| async move {
                    Ok::<_, ToolError>(vec![0x89u8, b'P', b'N', b'G'])
                }),
        )
        .resource(
            // Delegated: reads the default upstream as the caller.
            Resource::new("test://profile")
                .name("profile")
                .mime_type("application/json")
                .upstream("default")
                .handler(|ctx: ToolContext| async move {
                    let v: Value = ctx.default_upstream().get_json("/user").await?;
                    Ok::<_, ToolError>(v)
                }),
        )
        .resource(
            Resource::new("test://missing").handler(|_ctx: ToolContext| async move {
                Err::<String, _>(ResourceError::NotFound("test://missing".into()))
            }),
        )
        .resource_template(
            ResourceTemplate::new("test://repos/{repo}")
                .name("repo")
                .title("Repository")
                .mime_type("text/plain")
                .complete(|_ctx, req| async move {
                    Ok(["keycard", "kestrel", "other"]
                        .iter()
                        .filter(|r| r.starts_with(&req.value))
                        .map(|r| r.to_string())
                        .collect())
                })
                .handler(|ctx: ToolContext, vars: RepoVars| async move {
                    Ok::<_, ToolError>(format!(
                        "repo {} for {}",
                        vars.repo,
                        ctx.identity().subject().unwrap_or("?")
                    ))
                }),
        )
        .prompt(
            Prompt::new("explain")
                .title("Explain")
                .description("Explains a topic.")
                .complete(|_ctx, req| async move {
                    let all: Vec<String> =
                        (0..150).map(|i| format!("{}{i}", req.argument)).collect();
                    Ok(all
                        .into_iter()
                        .filter(|v| v.starts_with(&req.value))
                        .collect())
                })
                .handler(|_ctx: ToolContext, args: TopicArgs| async move {
                    Ok::<_, ToolError>(vec![
                        PromptMessage::user(format!(
                            "Explain {} in {}",
                            args.topic,
                            args.language.as_deref().unwrap_or("English")
                        )),
                        PromptMessage::assistant(Content::image(vec![1, 2, 3], "image/png")),
                        PromptMessage::user(Content::resource(
                            ResourceContents::text("test://static-text", "This is the content")
                                .with_mime_type("text/plain"),
                        )),
                    ])
                }),
        )
        .prompt(
            Prompt::new("simple").handler(|_ctx: ToolContext, _args: NoArgs| async move {
                Ok::<_, ToolError>("A simple prompt")
            }),
        )
}

fn full() -> Endpoint {
    Endpoint::new(Arc::new(config()), full_server())
}

async fn ask(endpoint: &Endpoint, req: Request<Bytes>) -> Answer {
    send_with(endpoint, req, &FakeWorld::quiet()).await
}

const LEGACY: [Option<&str>; 4] = [
    None,
    Some("2025-03-26"),
    Some("2025-06-18"),
    Some("2025-11-25"),
];

/// A modern request with `Mcp-Name` mirrored from `params[key]`.
fn modern_named(method: &str, params: Value, key: &str) -> Request<Bytes> {
    let mut req = modern(method, params.clone());
    if let Some(v) = params.get(key).and_then(Value::as_str) {
        req.headers_mut()
            .insert("mcp-name", http::HeaderValue::from_str(v).unwrap());
    }
    req
}

// ---------------------------------------------------------------- capabilities

#[tokio::test]
async fn capabilities_follow_what_is_registered() {
    let a = ask(
        &full(),
        legacy("initialize", json!({"protocolVersion": "2025-06-18"}), None),
    )
    .await;
    insta::assert_json_snapshot!(
        "full_initialize_capabilities",
        a.json()["result"]["capabilities"]
    );
    let a = ask(&full(), modern("server/discover", json!({}))).await;
    insta::assert_json_snapshot!(
        "full_discover_capabilities",
        a.json()["result"]["capabilities"]
    );
    // The demo server declares neither resources nor prompts, and answers them -32601.
    let a = send(legacy(
        "initialize",
        json!({"protocolVersion": "2025-06-18"}),
        None,
    ))
    .await;
    let caps = a.json()["result"]["capabilities"].clone();
    assert!(caps.get("resources").is_none() && caps.get("prompts").is_none());
    assert!(caps.get("completions").is_none());
    for method in ["resources/list", "prompts/list", "completion/complete"] {
        assert_eq!(
            error_code(&send(legacy(method, json!({}), Some("2025-11-25"))).await),
            -32601
        );
        let a = send(modern(method, json!({}))).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::NOT_FOUND, -32601),
            "{method}"
        );
    }
    // Prompts without completers: no completions capability.
    let plain = Server::new("p", "1").prompt(
        Prompt::new("x")
            .handler(|_c: ToolContext, _a: NoArgs| async move { Ok::<_, ToolError>("x") }),
    );
    let a = ask(
        &Endpoint::new(Arc::new(config()), plain),
        legacy("initialize", json!({"protocolVersion": "2025-06-18"}), None),
    )
    .await;
    assert!(
        a.json()["result"]["capabilities"]
            .get("completions")
            .is_none()
    );
    assert_eq!(
        a.json()["result"]["capabilities"]["prompts"],
        json!({"listChanged": false})
    );
}

// ---------------------------------------------------------------- resources

#[tokio::test]
async fn resources_list_per_era() {
    let e = full();
    let a = ask(&e, legacy("resources/list", json!({}), Some("2025-11-25"))).await;
    assert_eq!(a.status, StatusCode::OK);
    insta::assert_json_snapshot!("legacy_resources_list", a.json());
    // 2025-03-26: no titles.
    let a = ask(&e, legacy("resources/list", json!({}), None)).await;
    assert!(a.json()["result"]["resources"][0].get("title").is_none());
    let a = ask(&e, modern("resources/list", json!({}))).await;
    insta::assert_json_snapshot!("modern_resources_list", a.json());
    let a = ask(
        &e,
        legacy("resources/templates/list", json!({}), Some("2025-11-25")),
    )
    .await;
    insta::assert_json_snapshot!("legacy_resource_templates_list", a.json());
    let a = ask(&e, modern("resources/templates/list", json!({}))).await;
    assert_eq!(a.json()["result"]["resultType"], "complete");
    assert_eq!(a.json()["result"]["cacheScope"], "public");
    assert_eq!(
        a.json()["result"]["resourceTemplates"][0]["uriTemplate"],
        "test://repos/{repo}"
    );
}

#[tokio::test]
async fn resources_read_text_blob_and_templates_in_every_era() {
    let e = full();
    for v in LEGACY {
        let a = ask(
            &e,
            legacy("resources/read", json!({"uri": "test://static-text"}), v),
        )
        .await;
        assert_eq!(
            a.json()["result"],
            json!({"contents": [{"uri": "test://static-text", "mimeType": "text/plain", "text": "This is the content"}]}),
            "{v:?}"
        );
        let a = ask(
            &e,
            legacy("resources/read", json!({"uri": "test://static-binary"}), v),
        )
        .await;
        assert_eq!(a.json()["result"]["contents"][0]["blob"], "iVBORw==");
        let a = ask(
            &e,
            legacy("resources/read", json!({"uri": "test://repos/keycard"}), v),
        )
        .await;
        assert_eq!(
            a.json()["result"]["contents"][0]["text"],
            "repo keycard for user-alice"
        );
    }
    let a = ask(
        &e,
        modern_named(
            "resources/read",
            json!({"uri": "test://repos/keycard"}),
            "uri",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    insta::assert_json_snapshot!("modern_resources_read", a.json());
}

#[tokio::test]
async fn unknown_resources_are_32002_legacy_and_32602_modern() {
    let e = full();
    for uri in ["test://nope", "test://missing", "test://repos/a/b"] {
        let a = ask(
            &e,
            legacy("resources/read", json!({"uri": uri}), Some("2025-11-25")),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(error_code(&a), -32002, "{uri}");
        assert_eq!(a.json()["error"]["data"], json!({"uri": uri}));
        let a = ask(
            &e,
            modern_named("resources/read", json!({"uri": uri}), "uri"),
        )
        .await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::BAD_REQUEST, -32602),
            "{uri}"
        );
    }
    insta::assert_json_snapshot!(
        "error_legacy_resource_not_found",
        ask(
            &e,
            legacy("resources/read", json!({"uri": "test://nope"}), None)
        )
        .await
        .json()
    );
    let a = ask(&e, legacy("resources/read", json!({}), None)).await;
    assert_eq!(error_code(&a), -32602);
}

#[tokio::test]
async fn modern_name_bearing_methods_need_mcp_name() {
    let e = full();
    let a = ask(
        &e,
        modern("resources/read", json!({"uri": "test://static-text"})),
    )
    .await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32020)
    );
    let mut req = modern("resources/read", json!({"uri": "test://static-text"}));
    req.headers_mut().insert(
        "mcp-name",
        http::HeaderValue::from_static("test://static-binary"),
    );
    assert_eq!(error_code(&ask(&e, req).await), -32020);
    let a = ask(&e, modern("prompts/get", json!({"name": "simple"}))).await;
    // `modern` mirrors params.name already: accepted.
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn delegated_resources_use_the_callers_upstream_token() {
    let e = full();
    let world = FakeWorld::answering(200, r#"{"login":"alice"}"#);
    let a = send_with(
        &e,
        legacy(
            "resources/read",
            json!({"uri": "test://profile"}),
            Some("2025-11-25"),
        ),
        &world,
    )
    .await;
    assert_eq!(
        a.json()["result"]["contents"][0],
        json!({"uri": "test://profile", "mimeType": "application/json", "text": "{\"login\":\"alice\"}"})
    );
    let upstream = world.upstream_requests();
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0].headers()["authorization"], "Bearer up-1");
    // A failed delegation is a -32603 error naming the upstream, never the bearer.
    let world = FakeWorld::refusing("invalid_grant", "no grant".into());
    let a = send_with(
        &e,
        legacy(
            "resources/read",
            json!({"uri": "test://profile"}),
            Some("2025-11-25"),
        ),
        &world,
    )
    .await;
    assert_eq!((a.status, error_code(&a)), (StatusCode::OK, -32603));
    let body = String::from_utf8_lossy(&a.body).to_string();
    assert!(
        body.contains("grant") && !body.contains("SECRET-BEARER-TOKEN"),
        "{body}"
    );
}

// ---------------------------------------------------------------- prompts

#[tokio::test]
async fn prompts_list_and_get_per_era() {
    let e = full();
    let a = ask(&e, legacy("prompts/list", json!({}), Some("2025-11-25"))).await;
    insta::assert_json_snapshot!("legacy_prompts_list", a.json());
    let a = ask(&e, legacy("prompts/list", json!({}), None)).await;
    assert!(a.json()["result"]["prompts"][0].get("title").is_none());
    let a = ask(&e, modern("prompts/list", json!({}))).await;
    assert_eq!(a.json()["result"]["ttlMs"], LIST_TTL_MS_JSON);
    assert_eq!(a.json()["result"]["resultType"], "complete");
    let params =
        json!({"name": "explain", "arguments": {"topic": "lifetimes", "language": "French"}});
    let a = ask(
        &e,
        legacy("prompts/get", params.clone(), Some("2025-06-18")),
    )
    .await;
    insta::assert_json_snapshot!("legacy_prompts_get", a.json());
    let a = ask(&e, modern("prompts/get", params)).await;
    assert_eq!(a.json()["result"]["resultType"], "complete");
    assert_eq!(
        a.json()["result"]["messages"].as_array().map(Vec::len),
        Some(3)
    );
}

const LIST_TTL_MS_JSON: u64 = crate::mcp::dispatch::LIST_TTL_MS;

#[tokio::test]
async fn prompt_argument_errors_are_32602() {
    let e = full();
    for params in [
        json!({"name": "explain"}),
        json!({"name": "explain", "arguments": {"language": "French"}}),
        json!({"name": "explain", "arguments": {"topic": 1}}),
        json!({"name": "explain", "arguments": []}),
        json!({"name": "nope"}),
        json!({}),
    ] {
        let a = ask(
            &e,
            legacy("prompts/get", params.clone(), Some("2025-11-25")),
        )
        .await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::OK, -32602),
            "{params}"
        );
        if params.get("name").is_some() {
            let a = ask(&e, modern("prompts/get", params.clone())).await;
            assert_eq!(
                (a.status, error_code(&a)),
                (StatusCode::BAD_REQUEST, -32602),
                "{params}"
            );
        }
    }
    insta::assert_json_snapshot!(
        "error_prompt_missing_argument",
        ask(&e, legacy("prompts/get", json!({"name": "explain"}), None))
            .await
            .json()
    );
}

// ---------------------------------------------------------------- completion

#[tokio::test]
async fn completion_for_prompts_and_templates() {
    let e = full();
    let prompt_ref = json!({"ref": {"type": "ref/prompt", "name": "explain"}, "argument": {"name": "topic", "value": "topic1"}});
    let a = ask(&e, legacy("completion/complete", prompt_ref.clone(), None)).await;
    let completion = &a.json()["result"]["completion"];
    // topic1, topic10..19, topic100..149: 61 values.
    assert_eq!(completion["total"], 61);
    assert_eq!(completion["hasMore"], false);
    let all = json!({"ref": {"type": "ref/prompt", "name": "explain"}, "argument": {"name": "topic", "value": ""}});
    let a = ask(&e, legacy("completion/complete", all, Some("2025-11-25"))).await;
    let completion = &a.json()["result"]["completion"];
    assert_eq!(completion["values"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        (completion["total"].clone(), completion["hasMore"].clone()),
        (json!(150), json!(true))
    );
    let template_ref = json!({
        "ref": {"type": "ref/resource", "uri": "test://repos/{repo}"},
        "argument": {"name": "repo", "value": "ke"},
        "context": {"arguments": {}}
    });
    let a = ask(
        &e,
        legacy(
            "completion/complete",
            template_ref.clone(),
            Some("2025-06-18"),
        ),
    )
    .await;
    insta::assert_json_snapshot!("legacy_completion_template", a.json());
    let a = ask(&e, modern("completion/complete", template_ref)).await;
    assert_eq!(a.json()["result"]["resultType"], "complete");
    assert_eq!(
        a.json()["result"]["completion"]["values"],
        json!(["keycard", "kestrel"])
    );
    // A prompt without a completer: no values.
    let simple = json!({"ref": {"type": "ref/prompt", "name": "simple"}, "argument": {"name": "x", "value": ""}});
    let a = ask(&e, legacy("completion/complete", simple, None)).await;
    assert_eq!(a.json()["result"]["completion"]["values"], json!([]));
    for bad in [
        json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "x", "value": ""}}),
        json!({"ref": {"type": "ref/resource", "uri": "test://nope/{x}"}, "argument": {"name": "x", "value": ""}}),
        json!({"ref": {"type": "ref/other"}, "argument": {"name": "x", "value": ""}}),
        json!({"ref": {"type": "ref/prompt", "name": "explain"}}),
    ] {
        let a = ask(&e, legacy("completion/complete", bad.clone(), None)).await;
        assert_eq!(error_code(&a), -32602, "{bad}");
    }
}

// ---------------------------------------------------------------- pagination

fn many_tools(n: usize) -> Server {
    (0..n).fold(Server::new("many", "1"), |s, i| {
        s.tool(
            Tool::new(format!("tool_{i:03}"))
                .handler(|_c: ToolContext, _a: NoArgs| async move { Ok::<_, ToolError>("x") }),
        )
        .resource(
            Resource::new(format!("test://r/{i}"))
                .handler(|_c: ToolContext| async move { Ok::<_, ToolError>("x") }),
        )
        .prompt(
            Prompt::new(format!("p{i}"))
                .handler(|_c: ToolContext, _a: NoArgs| async move { Ok::<_, ToolError>("x") }),
        )
    })
}

#[tokio::test]
async fn every_list_pages_with_opaque_cursors() {
    let e = Endpoint::new(Arc::new(config()), many_tools(120));
    for (method, key) in [
        ("tools/list", "tools"),
        ("resources/list", "resources"),
        ("prompts/list", "prompts"),
    ] {
        for modern_era in [false, true] {
            let mut seen = Vec::new();
            let mut cursor: Option<Value> = None;
            for _ in 0..10 {
                let params = match &cursor {
                    Some(c) => json!({"cursor": c}),
                    None => json!({}),
                };
                let req = if modern_era {
                    modern(method, params)
                } else {
                    legacy(method, params, Some("2025-11-25"))
                };
                let result = ask(&e, req).await.json()["result"].clone();
                seen.extend(result[key].as_array().unwrap().iter().cloned());
                cursor = result.get("nextCursor").cloned();
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(seen.len(), 120, "{method} modern={modern_era}");
        }
        // A cursor from another list, or a made-up one, is -32602.
        let other = crate::mcp::pagination::encode("nothing", 50);
        for bad in [json!("bm9wZQ"), json!(other), json!(3)] {
            let a = ask(
                &e,
                legacy(method, json!({"cursor": bad}), Some("2025-11-25")),
            )
            .await;
            assert_eq!(error_code(&a), -32602, "{method} {bad}");
            let a = ask(&e, modern(method, json!({"cursor": bad}))).await;
            assert_eq!(
                (a.status, error_code(&a)),
                (StatusCode::BAD_REQUEST, -32602)
            );
        }
    }
    // Small lists: one page, no nextCursor (the demo's tools/list is unchanged).
    let a = send(legacy("tools/list", json!({}), Some("2025-11-25"))).await;
    assert!(a.json()["result"].get("nextCursor").is_none());
}

// ---------------------------------------------------------------- logging

#[tokio::test]
async fn logging_set_level_is_acknowledged_in_legacy_eras() {
    for v in LEGACY {
        let a = send(legacy("logging/setLevel", json!({"level": "warning"}), v)).await;
        assert_eq!(a.json()["result"], json!({}), "{v:?}");
        let a = send(legacy("logging/setLevel", json!({"level": "loud"}), v)).await;
        assert_eq!(error_code(&a), -32602);
    }
    let a = send(modern("logging/setLevel", json!({"level": "info"}))).await;
    assert_eq!((a.status, error_code(&a)), (StatusCode::NOT_FOUND, -32601));
}

// ---------------------------------------------------------------- batches

#[tokio::test]
async fn batches_are_answered_in_2025_03_26() {
    let e = full();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "resources/read", "params": {"uri": "test://nope"}},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
        {"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {"protocolVersion": "2025-03-26"}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "whoami"}},
        42
    ]);
    for headers in [&[][..], &[("mcp-protocol-version", "2025-03-26")][..]] {
        let a = ask(&e, post(batch.clone(), headers)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["content-type"], "application/json");
        let body = a.json();
        let answers = body.as_array().unwrap();
        assert_eq!(answers.len(), 5);
        assert_eq!(answers[0], json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert_eq!(
            (
                answers[1]["id"].clone(),
                answers[1]["error"]["code"].clone()
            ),
            (json!("two"), json!(-32002))
        );
        assert_eq!(
            (
                answers[2]["id"].clone(),
                answers[2]["error"]["code"].clone()
            ),
            (json!(4), json!(-32600))
        );
        assert_eq!(answers[3]["result"]["isError"], false);
        assert_eq!(
            (
                answers[4]["id"].clone(),
                answers[4]["error"]["code"].clone()
            ),
            (Value::Null, json!(-32600))
        );
    }
    insta::assert_json_snapshot!(
        "batch_2025_03_26",
        ask(&e, post(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "nope"}]), &[])).await.json()
    );
    // Only notifications and responses: 202, no body.
    let a = ask(&e, post(json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 9, "result": {}}]), &[])).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(a.body.is_empty());
    // Empty batch: one -32600.
    let a = ask(&e, post(json!([]), &[])).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32600)
    );
}

#[tokio::test]
async fn batches_are_refused_after_2025_03_26() {
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]);
    for v in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let a = send(post(batch.clone(), &[("mcp-protocol-version", v)])).await;
        assert_eq!(
            (a.status, error_code(&a)),
            (StatusCode::BAD_REQUEST, -32600),
            "{v}"
        );
    }
    let a = send(post(batch, &[("mcp-protocol-version", "1999-01-01")])).await;
    assert_eq!(
        (a.status, error_code(&a)),
        (StatusCode::BAD_REQUEST, -32022)
    );
}

#[test]
fn gateway_checks_resource_upstreams_and_templates() {
    let server = Server::new("s", "1").resource(
        Resource::new("test://x")
            .upstream("calendar")
            .handler(|_c: ToolContext| async move { Ok::<_, ToolError>("x") }),
    );
    let err = crate::http::gateway::check_upstreams_for_tests(&config(), &server).unwrap_err();
    assert!(
        err.to_string()
            .contains("resource `test://x` calls the upstream \"calendar\""),
        "{err}"
    );
    let server =
        Server::new("s", "1").resource_template(ResourceTemplate::new("test://{+x}").handler(
            |_c: ToolContext, _v: BTreeMap<String, String>| async move { Ok::<_, ToolError>("x") },
        ));
    let err = crate::http::gateway::check_upstreams_for_tests(&config(), &server).unwrap_err();
    assert!(err.to_string().contains("level-1"), "{err}");
}
