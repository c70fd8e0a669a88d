//! The leak harness on the conformance fixtures: reads of the delegated resource
//! (`upstream://profile`) interleaved with fixture tool calls and a static resource,
//! through reused isolates, for 500+ users: no answer or upstream call crosses users.

use conformance_server::{PROFILE_RESOURCE_URI, conformance_server};
use emulator::harness::LeakTest;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delegated_fixture_resource_does_not_leak() {
    let report = LeakTest::new(conformance_server())
        .users(500)
        .requests(4_000)
        .isolates(2)
        .seed(21)
        .weighted_resource_read(PROFILE_RESOURCE_URI, 3)
        .resource_read("test://static-text")
        .tool_call("test_simple_text", json!({}))
        .run()
        .await
        .expect("the leak harness runs");
    eprintln!("{report}");
    report.assert_no_leaks();
    let reads = &report.per_tool[&format!("resources/read {PROFILE_RESOURCE_URI}")];
    assert!(reads.own_canary > 2_000, "{report}");
    assert_eq!(
        report.upstream_attributed, report.upstream_calls,
        "{report}"
    );
}
