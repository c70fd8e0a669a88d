//! The leak harness on this server's own tools: 500+ users (same subject at two zones,
//! through two clients, colliding and empty subjects…) send 10,000 interleaved requests
//! through reused isolates against a mock Keycard zone. The mock upstream answers every
//! user with their own canary data and logs which user's token each call carried, so a
//! tool that returns another user's data, or calls upstream with another user's token,
//! fails this test — whatever the tool's output looks like.

use emulator::harness::LeakTest;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn no_user_sees_another_users_data_or_token() {
    let report = LeakTest::new({{crate_name}}::app())
        .users(500)
        .requests(10_000)
        .tool_call("profile", json!({}))
        .tool_call_with("greet", |call| json!({ "name": format!("user {}", call.user) }))
        .run()
        .await
        .expect("the leak harness runs");
    println!("leak harness: {report}");
    report.assert_no_leaks();
}
