//! Sessions and asking the client during a call: `initialize` opens a session, its id is
//! bound to the identity, zone and expiry; elicitation and sampling through the session
//! (legacy) and through the stateless `input_required` round trip (2026-07-28).

use std::time::Duration;

use futures::StreamExt;

use super::*;
use crate::http::body::Body;
use crate::mcp::SessionLayer;
use crate::ports::rust_crypto::RustCrypto;
use crate::session::{MemorySessionStore, SessionSettings, SessionStore, Sessions};
use crate::tools::{Elicited, NoArgs, SamplingRequest, Tool, ToolContext, ToolError};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Contact {
    /// Your name.
    name: String,
    /// Your age.
    age: Option<u32>,
}

struct Fixture {
    endpoint: Endpoint,
    clock: Arc<ManualClock>,
    store: Arc<MemorySessionStore>,
}

fn fixture() -> Fixture {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Arc::new(MemorySessionStore::new(
        Arc::new(SharedManualClock(clock.clone())),
        100,
    ));
    let server = Server::new("session-test", "1.0.0")
        .tool(
            Tool::new("ask").handler(|ctx: ToolContext, _: NoArgs| async move {
                match ctx.elicit::<Contact>("Who are you?").await? {
                    Elicited::Accepted(c) => Ok::<_, ToolError>(format!(
                        "hello {} ({})",
                        c.name,
                        c.age.map_or("?".into(), |a| a.to_string())
                    )),
                    other => Ok(format!("no answer: {}", other.action())),
                }
            }),
        )
        .resource(
            crate::resources::Resource::new("test://watched")
                .handler(|_ctx: ToolContext| async move { Ok::<_, ToolError>("v1") }),
        )
        .tool(
            Tool::new("touch").handler(|ctx: ToolContext, _: NoArgs| async move {
                let sent = ctx.resource_updated("test://watched");
                Ok::<_, ToolError>(format!("notified: {sent}"))
            }),
        )
        .tool(
            Tool::new("two").handler(|ctx: ToolContext, _: NoArgs| async move {
                let first = ctx.elicit::<Contact>("First?").await?.accepted();
                let second = ctx.elicit::<Contact>("Second?").await?.accepted();
                Ok::<_, ToolError>(format!(
                    "{} and {}",
                    first.map_or("-".into(), |c| c.name),
                    second.map_or("-".into(), |c| c.name)
                ))
            }),
        )
        .tool(
            Tool::new("muse").handler(|ctx: ToolContext, _: NoArgs| async move {
                let answer = ctx
                    .sample(SamplingRequest::new(50).user("Say something."))
                    .await?;
                Ok::<_, ToolError>(format!("the model said: {}", answer.text()))
            }),
        );
    let mut endpoint = Endpoint::new(Arc::new(config()), server);
    endpoint.set_sessions(SessionLayer {
        sessions: Sessions {
            store: store.clone(),
            settings: SessionSettings::default(),
        },
        clock: Arc::new(SharedManualClock(clock.clone())),
        crypto: Arc::new(RustCrypto),
        zone: None,
    });
    Fixture {
        endpoint,
        clock,
        store,
    }
}

fn bob() -> Identity {
    Identity {
        subject: Some("user-bob".into()),
        ..identity()
    }
}

fn with_session(mut req: Request<Bytes>, sid: &str) -> Request<Bytes> {
    req.headers_mut()
        .insert("mcp-session-id", http::HeaderValue::from_str(sid).unwrap());
    req
}

async fn send_as(f: &Fixture, who: Identity, req: Request<Bytes>) -> Answer {
    let (parts, body) = f
        .endpoint
        .handle(&req, who, FakeWorld::quiet().access)
        .await
        .into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await,
    }
}

fn initialize(capabilities: Value) -> Request<Bytes> {
    post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "t", "version": "1"}}}),
        &[],
    )
}

async fn open(f: &Fixture, who: Identity, capabilities: Value) -> String {
    let a = send_as(f, who, initialize(capabilities)).await;
    assert_eq!(a.status, StatusCode::OK);
    let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
    assert!(crate::session::is_well_formed(&sid), "{sid}");
    sid
}

fn list() -> Request<Bytes> {
    legacy("tools/list", json!({}), Some("2025-11-25"))
}

fn call(tool: &str) -> Request<Bytes> {
    legacy(
        "tools/call",
        json!({"name": tool, "arguments": {}}),
        Some("2025-11-25"),
    )
}

#[tokio::test]
async fn initialize_opens_a_session_bound_to_its_identity() {
    let f = fixture();
    let sid = open(&f, identity(), json!({})).await;
    let other = open(&f, identity(), json!({})).await;
    assert_ne!(sid, other, "each initialize opens its own session");
    // Alice uses it.
    let a = send_as(&f, identity(), with_session(list(), &sid)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    // Bob, with a valid token of his own, does not reach it: 404, like an unknown id.
    let b = send_as(&f, bob(), with_session(list(), &sid)).await;
    assert_eq!(b.status, StatusCode::NOT_FOUND);
    assert_eq!(b.json()["error"]["code"], -32001);
    let unknown = send_as(&f, identity(), with_session(list(), &"0".repeat(32))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, b.body, "no oracle: the same answer for both");
    let garbage = send_as(&f, identity(), with_session(list(), "not-a-session")).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    // The record holds no token.
    let record = f.store.get(&sid).await.unwrap().unwrap();
    let stored = serde_json::to_string(&record).unwrap();
    assert!(
        !stored.contains(BEARER) && !stored.contains("SECRET"),
        "{stored}"
    );
    assert!(
        !stored.contains("user-alice"),
        "the owner is a digest: {stored}"
    );
}

#[tokio::test]
async fn sessions_expire_and_delete() {
    let f = fixture();
    let sid = open(&f, identity(), json!({})).await;
    f.clock.advance(Duration::from_secs(3000));
    assert_eq!(
        send_as(&f, identity(), with_session(list(), &sid))
            .await
            .status,
        StatusCode::OK,
        "used within the idle TTL: alive, and its expiry moves forward"
    );
    f.clock.advance(Duration::from_secs(3000));
    assert_eq!(
        send_as(&f, identity(), with_session(list(), &sid))
            .await
            .status,
        StatusCode::OK,
        "6000 s after opening but 3000 s after its last use"
    );
    f.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        send_as(&f, identity(), with_session(list(), &sid))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "idle longer than the TTL: expired"
    );

    let sid = open(&f, identity(), json!({})).await;
    let headers = with_session(list(), &sid).headers().clone();
    // Bob cannot end it.
    assert_eq!(
        f.endpoint.delete_session(&headers, &bob()).await.status(),
        404
    );
    assert_eq!(
        f.endpoint
            .delete_session(&headers, &identity())
            .await
            .status(),
        204
    );
    assert_eq!(
        f.endpoint
            .delete_session(&headers, &identity())
            .await
            .status(),
        404
    );
    assert_eq!(
        send_as(&f, identity(), with_session(list(), &sid))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_session_keeps_the_log_level() {
    let f = fixture();
    let sid = open(&f, identity(), json!({})).await;
    let set = legacy(
        "logging/setLevel",
        json!({"level": "error"}),
        Some("2025-11-25"),
    );
    assert_eq!(
        send_as(&f, identity(), with_session(set, &sid))
            .await
            .status,
        200
    );
    let record = f.store.get(&sid).await.unwrap().unwrap();
    assert_eq!(record.log_level.as_deref(), Some("error"));
}

/// The SSE messages of a streamed answer, as they come.
fn messages(body: Body<'_>) -> futures::stream::BoxStream<'_, Value> {
    match body {
        Body::Stream(stream) => stream
            .map(|chunk| {
                let text = String::from_utf8(chunk.to_vec()).unwrap();
                let data = text
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap()
                    .to_owned();
                serde_json::from_str::<Value>(&data).unwrap()
            })
            .boxed(),
        Body::Full(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            futures::stream::once(async move { v }).boxed()
        }
    }
}

fn client_response(id: &Value, result: Value) -> Request<Bytes> {
    post(
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
        &[("mcp-protocol-version", "2025-11-25")],
    )
}

#[tokio::test]
async fn a_legacy_call_asks_through_its_session_and_gets_the_answer() {
    let f = fixture();
    let sid = open(&f, identity(), json!({"elicitation": {}, "sampling": {}})).await;
    let req = with_session(call("ask"), &sid);
    let response = f
        .endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = messages(response.into_body());
    let question = stream.next().await.unwrap();
    assert_eq!(question["method"], "elicitation/create");
    assert_eq!(question["params"]["mode"], "form");
    let schema = &question["params"]["requestedSchema"];
    assert_eq!(schema["properties"]["name"]["type"], "string");
    assert_eq!(schema["required"], json!(["name"]));
    let rid = question["id"].clone();

    // Bob answering Alice's question is refused and changes nothing.
    let forged = client_response(
        &rid,
        json!({"action": "accept", "content": {"name": "mallory"}}),
    );
    let b = send_as(&f, bob(), with_session(forged, &sid)).await;
    assert_eq!(b.status, StatusCode::NOT_FOUND);
    // An answer without the session reaches nobody.
    let stray = client_response(
        &rid,
        json!({"action": "accept", "content": {"name": "mallory"}}),
    );
    assert_eq!(
        send_as(&f, identity(), stray).await.status,
        StatusCode::ACCEPTED
    );

    let answer = client_response(
        &rid,
        json!({"action": "accept", "content": {"name": "Ada", "age": 36}}),
    );
    let a = send_as(&f, identity(), with_session(answer, &sid)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let result = stream.next().await.unwrap();
    assert_eq!(result["id"], 1);
    assert_eq!(result["result"]["content"][0]["text"], "hello Ada (36)");
    assert!(result["result"].get("isError").is_none_or(|e| e == false));
}

#[tokio::test]
async fn sampling_goes_the_same_way_and_a_refusal_is_a_tool_error() {
    let f = fixture();
    let sid = open(&f, identity(), json!({"sampling": {}})).await;
    let req = with_session(call("muse"), &sid);
    let response = f
        .endpoint
        .handle(&req, identity(), FakeWorld::quiet().access)
        .await;
    let mut stream = messages(response.into_body());
    let question = stream.next().await.unwrap();
    assert_eq!(question["method"], "sampling/createMessage");
    assert_eq!(question["params"]["maxTokens"], 50);
    let answer = client_response(
        &question["id"],
        json!({"role": "assistant", "model": "m", "content": {"type": "text", "text": "hi"}}),
    );
    send_as(&f, identity(), with_session(answer, &sid)).await;
    let result = stream.next().await.unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "the model said: hi");

    // The same session did not declare elicitation: `ask` fails clearly, asking nothing.
    let a = send_as(&f, identity(), with_session(call("ask"), &sid)).await;
    let text = a.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("did not declare the elicitation"), "{text}");
}

#[tokio::test]
async fn without_a_session_a_legacy_call_cannot_ask_and_says_why() {
    let f = fixture();
    let a = send_as(&f, identity(), call("ask")).await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("without the Mcp-Session-Id"), "{text}");
    assert_eq!(a.json()["result"]["isError"], true);
}

fn modern_call(tool: &str, capabilities: Value, responses: Option<Value>) -> Request<Bytes> {
    let mut params = modern_params(json!({"name": tool, "arguments": {}}));
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    if let Some(r) = responses {
        params["inputResponses"] = r;
    }
    post(
        json!({"jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": params}),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
    )
}

#[tokio::test]
async fn a_2026_call_asks_with_input_required_and_finishes_on_the_retry() {
    // No session involved: a fresh endpoint without sessions answers the same.
    let endpoint = Endpoint::new(Arc::new(config()), fixture().endpoint.server.clone());
    let f = Fixture {
        endpoint,
        ..fixture()
    };
    let caps = json!({"elicitation": {"form": {}}});
    let first = send_as(&f, identity(), modern_call("ask", caps.clone(), None)).await;
    assert_eq!(first.status, StatusCode::OK);
    let result = &first.json()["result"];
    assert_eq!(result["resultType"], "input_required", "{result}");
    let asked = &result["inputRequests"]["input-1"];
    assert_eq!(asked["method"], "elicitation/create");
    assert_eq!(
        asked["params"]["requestedSchema"]["properties"]["name"]["type"],
        "string"
    );

    let responses = json!({"input-1": {"action": "accept", "content": {"name": "Grace"}}});
    let retry = send_as(
        &f,
        identity(),
        modern_call("ask", caps.clone(), Some(responses)),
    )
    .await;
    let result = &retry.json()["result"];
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["content"][0]["text"], "hello Grace (?)");

    let declined = json!({"input-1": {"action": "decline"}});
    let retry = send_as(&f, identity(), modern_call("ask", caps, Some(declined))).await;
    assert_eq!(
        retry.json()["result"]["content"][0]["text"],
        "no answer: decline"
    );

    // A client that did not declare elicitation is not asked.
    let none = send_as(&f, identity(), modern_call("ask", json!({}), None)).await;
    let result = &none.json()["result"];
    assert_eq!(result["isError"], true, "{result}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not declare")
    );
}

#[tokio::test]
async fn subscriptions_live_in_the_session_and_updates_reach_its_calls() {
    let f = fixture();
    let init = send_as(&f, identity(), initialize(json!({}))).await;
    assert_eq!(
        init.json()["result"]["capabilities"]["resources"]["subscribe"],
        true
    );
    let sid = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let sub = |method: &str| legacy(method, json!({"uri": "test://watched"}), Some("2025-11-25"));
    // Without the session there is nowhere to keep it.
    let a = send_as(&f, identity(), sub("resources/subscribe")).await;
    assert_eq!(a.json()["error"]["code"], -32600, "{:?}", a.json());
    // Not subscribed yet: a tool's update goes nowhere.
    let a = send_as(&f, identity(), with_session(call("touch"), &sid)).await;
    assert_eq!(a.json()["result"]["content"][0]["text"], "notified: false");

    let a = send_as(
        &f,
        identity(),
        with_session(sub("resources/subscribe"), &sid),
    )
    .await;
    assert_eq!(a.json()["result"], json!({}));
    let record = f.store.get(&sid).await.unwrap().unwrap();
    assert_eq!(record.subscriptions, ["test://watched"]);
    let response = f
        .endpoint
        .handle(
            &with_session(call("touch"), &sid),
            identity(),
            FakeWorld::quiet().access,
        )
        .await;
    let all: Vec<Value> = messages(response.into_body()).collect().await;
    assert_eq!(all[0]["method"], "notifications/resources/updated");
    assert_eq!(all[0]["params"]["uri"], "test://watched");
    assert_eq!(all[1]["result"]["content"][0]["text"], "notified: true");

    let a = send_as(
        &f,
        identity(),
        with_session(sub("resources/unsubscribe"), &sid),
    )
    .await;
    assert_eq!(a.json()["result"], json!({}));
    assert!(
        f.store
            .get(&sid)
            .await
            .unwrap()
            .unwrap()
            .subscriptions
            .is_empty()
    );
}

fn modern_retry(
    tool: &str,
    caps: &Value,
    responses: Value,
    state: Option<&Value>,
) -> Request<Bytes> {
    let mut req = modern_call(tool, caps.clone(), Some(responses));
    if let Some(state) = state {
        let mut body: Value = serde_json::from_slice(req.body()).unwrap();
        body["params"]["requestState"] = state.clone();
        *req.body_mut() = Bytes::from(body.to_string());
        req.headers_mut().remove("content-length");
    }
    req
}

#[tokio::test]
async fn a_2026_call_with_two_questions_keeps_earlier_answers_in_request_state() {
    let f = fixture();
    let caps = json!({"elicitation": {}});
    let first = send_as(&f, identity(), modern_call("two", caps.clone(), None)).await;
    let r = first.json()["result"].clone();
    assert_eq!(r["resultType"], "input_required");
    assert!(r.get("requestState").is_none(), "no answers yet: {r}");
    assert!(r["inputRequests"]["input-1"].is_object());

    let ada = json!({"action": "accept", "content": {"name": "Ada"}});
    let second = send_as(
        &f,
        identity(),
        modern_retry("two", &caps, json!({"input-1": ada}), None),
    )
    .await;
    let r = second.json()["result"].clone();
    assert_eq!(r["resultType"], "input_required", "{r}");
    assert!(r["inputRequests"].get("input-1").is_none(), "answered: {r}");
    assert!(r["inputRequests"]["input-2"].is_object(), "{r}");
    let state = r["requestState"].clone();
    assert!(state.is_string());

    // As the Python client does: only the latest round's answers, plus the state.
    let bob_answer = json!({"action": "accept", "content": {"name": "Bob"}});
    let third = send_as(
        &f,
        identity(),
        modern_retry("two", &caps, json!({"input-2": bob_answer}), Some(&state)),
    )
    .await;
    let r = third.json()["result"].clone();
    assert_eq!(r["resultType"], "complete", "{r}");
    assert_eq!(r["content"][0]["text"], "Ada and Bob");

    // A state this server did not write is refused with a clear error, not guessed at.
    let bogus = send_as(
        &f,
        identity(),
        modern_retry("two", &caps, json!({}), Some(&json!("not base64 json"))),
    )
    .await;
    let r = bogus.json()["result"].clone();
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("requestState"),
        "{r}"
    );
}

/// Missing upstream consent in a session: the URL-mode elicitation declared at
/// `initialize` is remembered, so the call gets -32042 without repeating it in `_meta` —
/// but only in a revision that has URL mode: a 2025-06-18 session that declared
/// `elicitation.url` gets the `isError` text, as a 2025-06-18 call declaring it in `_meta`
/// does (-32042 does not exist in 2025-06-18).
#[tokio::test]
async fn consent_declared_at_initialize_is_a_url_elicitation_only_where_url_mode_exists() {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Arc::new(MemorySessionStore::new(
        Arc::new(SharedManualClock(clock.clone())),
        100,
    ));
    let mut endpoint = Endpoint::new(Arc::new(config()), Server::demo());
    endpoint.set_sessions(SessionLayer {
        sessions: Sessions {
            store,
            settings: SessionSettings::default(),
        },
        clock: Arc::new(SharedManualClock(clock)),
        crypto: Arc::new(RustCrypto),
        zone: None,
    });
    let send = |req: Request<Bytes>, world: &FakeWorld| {
        let access = world.access.clone();
        let endpoint = &endpoint;
        async move {
            let (parts, body) = endpoint.handle(&req, identity(), access).await.into_parts();
            Answer {
                status: parts.status,
                headers: parts.headers,
                body: body.collect().await,
            }
        }
    };
    for (version, url_mode) in [("2025-11-25", true), ("2025-06-18", false)] {
        let world = FakeWorld::refusing(
            "invalid_grant",
            "the user has not consented to https://api.github.test".into(),
        );
        let init = post(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": version,
                "capabilities": {"elicitation": {"url": {}}},
                "clientInfo": {"name": "t", "version": "1"}}}),
            &[],
        );
        let a = send(init, &world).await;
        assert_eq!(a.json()["result"]["protocolVersion"], version);
        let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
        let call = with_session(
            legacy(
                "tools/call",
                json!({"name": "github_user", "arguments": {}}),
                Some(version),
            ),
            &sid,
        );
        let body = send(call, &world).await.json();
        let text = body.to_string();
        if url_mode {
            assert_eq!(body["error"]["code"], -32042, "{version}: {text}");
            assert_eq!(
                body["error"]["data"]["elicitations"][0]["url"],
                "https://zone.keycard.test/consent?user=user-alice&client_id=worker&resource=https%3A%2F%2Fapi.github.test",
                "{version}"
            );
        } else {
            assert_eq!(body["result"]["isError"], true, "{version}: {text}");
            assert!(
                text.contains("open https://zone.keycard.test/consent?user=user-alice"),
                "{version}: {text}"
            );
        }
    }
}
