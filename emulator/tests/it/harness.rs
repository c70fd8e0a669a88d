//! The leak harness on tools and resources it has never seen: correct ones pass with zero
//! leaks over 10,000 requests and 500+ users; deliberately leaky ones (mutation check) are
//! caught.

use std::time::Instant;

use emulator::harness::examples::{
    PROFILE_RESOURCE_URI, delegated_profile_resource, delegated_profile_tool, leaky_context_tool,
    leaky_memo_resource, leaky_memo_tool, leaky_wrong_key_tool, plain_echo_tool,
};
use emulator::harness::{HarnessError, LeakKind, LeakReport, LeakTest};
use keycard_core::Server;
use serde_json::json;

fn correct_server() -> Server {
    Server::new("harness-test", "0.0.0")
        .tool(delegated_profile_tool())
        .tool(plain_echo_tool())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_delegated_and_plain_tools_have_no_leaks() {
    let started = Instant::now();
    let report = LeakTest::new(correct_server())
        .users(500)
        .requests(10_000)
        .isolates(2)
        .concurrency(64)
        .seed(11)
        .tool_call("upstream_profile", json!({}))
        .tool_call_with(
            "echo",
            |seed| json!({ "text": format!("hello {}", seed.random) }),
        )
        .run()
        .await
        .unwrap();
    eprintln!("{report}in {:.2}s", started.elapsed().as_secs_f64());
    report.assert_no_leaks();
    assert_eq!(report.requests, 10_000);
    assert!(report.users >= 500, "{report}");
    let profile = &report.per_tool["upstream_profile"];
    let echo = &report.per_tool["echo"];
    // The delegated tool returned upstream data (the canary oracle had work), and every
    // upstream call was attributed to a request and checked.
    assert!(profile.own_canary > 1_000, "{report}");
    assert!(report.upstream_calls >= profile.own_canary, "{report}");
    assert_eq!(
        report.upstream_attributed, report.upstream_calls,
        "{report}"
    );
    assert!(echo.ok > 1_000 && echo.own_canary == 0, "{report}");
    // Refusals are the population's tokens without sub / with an empty sub only.
    assert_eq!(report.total.protocol_errors, 0, "{report}");
    assert!(report.total.http_errors.is_empty(), "{report}");
    assert!(profile.tool_errors < profile.requests / 20, "{report}");
}

async fn leaky(server: Server, tool: &str) -> LeakReport {
    let started = Instant::now();
    let report = LeakTest::new(server)
        .users(500)
        .requests(2_000)
        .seed(3)
        .tool_call(tool, json!({}))
        .run()
        .await
        .unwrap();
    eprintln!("{report}in {:.2}s", started.elapsed().as_secs_f64());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memo_keyed_by_nothing_is_caught_by_the_canaries() {
    let report = leaky(
        Server::new("leaky", "0.0.0").tool(leaky_memo_tool()),
        "upstream_profile",
    )
    .await;
    report.assert_leaks();
    assert!(report.leak_count > 1_000, "{report}");
    assert!(
        report
            .leaks
            .iter()
            .all(|l| matches!(&l.kind, LeakKind::ForeignCanary { owner: Some(_), .. })),
        "{report}"
    );
    // What makes `report.assert_no_leaks()` panic in a user's leak test.
    assert!(!report.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memo_keyed_by_the_client_is_caught_by_the_canaries() {
    let report = leaky(
        Server::new("leaky", "0.0.0").tool(leaky_wrong_key_tool()),
        "upstream_profile",
    )
    .await;
    report.assert_leaks();
    assert!(report.leak_count > 1_000, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_context_is_caught_by_the_upstream_log() {
    let report = leaky(
        Server::new("leaky", "0.0.0").tool(leaky_context_tool()),
        "upstream_status",
    )
    .await;
    report.assert_leaks();
    // The answers carry no upstream data: only the upstream log can see this one.
    assert_eq!(report.total.own_canary, 0, "{report}");
    assert!(
        report
            .leaks
            .iter()
            .all(|l| matches!(l.kind, LeakKind::ForeignUpstreamToken { .. })),
        "{report}"
    );
    assert!(report.leak_count > 1_000, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tools_and_zero_knobs_are_refused() {
    let err = LeakTest::new(correct_server())
        .tool_call("nope", json!({}))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HarnessError::UnknownTool { name, available } if name == "nope" && available.contains("echo")),
        "{err}"
    );
    let err = LeakTest::new(correct_server())
        .users(0)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, HarnessError::Invalid(_)), "{err}");
}

/// The per-call key of the profile resource in the report.
fn profile_read() -> String {
    format!("resources/read {PROFILE_RESOURCE_URI}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_delegated_resource_read_alongside_tools_has_no_leaks() {
    let started = Instant::now();
    let server = correct_server().resource(delegated_profile_resource());
    let report = LeakTest::new(server)
        .users(500)
        .requests(6_000)
        .isolates(2)
        .seed(5)
        .tool_call("upstream_profile", json!({}))
        .resource_read(PROFILE_RESOURCE_URI)
        .tool_call_with("echo", |seed| json!({ "text": seed.random.to_string() }))
        .run()
        .await
        .unwrap();
    eprintln!("{report}in {:.2}s", started.elapsed().as_secs_f64());
    report.assert_no_leaks();
    let read = &report.per_tool[&profile_read()];
    // The reads reached the upstream with the reader's own token and returned its data.
    assert!(read.requests > 1_500 && read.own_canary > 1_000, "{report}");
    assert_eq!(
        report.upstream_attributed, report.upstream_calls,
        "{report}"
    );
    assert!(
        report.upstream_calls >= read.own_canary + report.per_tool["upstream_profile"].own_canary,
        "{report}"
    );
    // Readers the delegation refuses (tokens without sub) are JSON-RPC errors, never 5xx.
    assert!(report.total.http_errors.is_empty(), "{report}");
    assert!(read.protocol_errors < read.requests / 20, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_memo_keyed_by_nothing_is_caught_by_the_canaries() {
    let started = Instant::now();
    let report = LeakTest::new(Server::new("leaky", "0.0.0").resource(leaky_memo_resource()))
        .users(500)
        .requests(2_000)
        .seed(3)
        .run() // no calls given: every static resource is read
        .await
        .unwrap();
    eprintln!("{report}in {:.2}s", started.elapsed().as_secs_f64());
    report.assert_leaks();
    assert!(report.leak_count > 1_000, "{report}");
    assert!(
        report.leaks.iter().all(|l| l.tool == profile_read()
            && matches!(&l.kind, LeakKind::ForeignCanary { owner: Some(_), .. })),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resources_are_refused() {
    let err = LeakTest::new(correct_server().resource(delegated_profile_resource()))
        .resource_read("upstream://nope")
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HarnessError::UnknownResource { uri, available } if uri == "upstream://nope" && available.contains(PROFILE_RESOURCE_URI)),
        "{err}"
    );
}

/// A tool that never succeeds was never run far enough to leak: the run is not clean,
/// and `assert_no_leaks` names it, even when another tool succeeded (the mutation a
/// user makes by expecting a list where the mock upstream answers a profile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_that_never_succeeds_fails_the_run() {
    use keycard_core::tools::{NoArgs, Tool, ToolContext, ToolError};

    let repos = Tool::new("repos")
        .description("Counts your repositories.")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(|ctx: ToolContext, _: NoArgs| async move {
            let repos: Vec<serde_json::Value> =
                ctx.default_upstream().get_json("/user/repos").await?;
            Ok::<_, ToolError>(format!("{} repositories", repos.len()))
        });
    let report = LeakTest::new(
        Server::new("s", "0.0.0")
            .tool(plain_echo_tool())
            .tool(repos),
    )
    .users(50)
    .requests(300)
    .seed(7)
    .tool_call_with("echo", |seed| json!({ "text": seed.random.to_string() }))
    .tool_call("repos", json!({}))
    .run()
    .await
    .unwrap();
    eprintln!("{report}");
    assert_eq!(report.leak_count, 0, "{report}");
    assert!(report.per_tool["echo"].ok > 0, "{report}");
    assert!(report.per_tool["repos"].tool_errors > 0, "{report}");
    assert_eq!(report.untested(), ["repos"], "{report}");
    assert!(!report.is_clean());
    assert!(report.to_string().contains("NEVER SUCCEEDED"), "{report}");
    let panic = std::panic::catch_unwind(|| report.assert_no_leaks()).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("proves nothing about them: repos"),
        "{message}"
    );
}
