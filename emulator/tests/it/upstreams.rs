//! Several upstreams against the embedded zone: partial success of a two-upstream tool
//! (`my_day`) with consent to one upstream only, checked against the zone's audit log;
//! the leak harness over it; and the seed's single `KEYCARD_RESOURCE_URL` still working.

use std::sync::Arc;

use bytes::Bytes;
use emulator::harness::LeakTest;
use emulator::ports::native_ports;
use emulator::zones::EmbeddedZone;
use http::header;
use keycard_core::tools::builtin::my_day;
use keycard_core::{Gateway, Server};
use mock_keycard::{Audience, AuditFilter, MintRequest, Outcome, TOKEN_EXCHANGE, ZoneConfig};
use serde_json::{Value, json};

use crate::helpers::ORIGIN;

/// An in-process zone and a gateway serving `server` with `vars` (plus issuer and
/// credentials) in its environment.
fn gateway(server: Server, vars: &[(&str, String)]) -> (Gateway, EmbeddedZone) {
    let (zone, http, mut env) = crate::helpers::in_process_zone();
    for (name, value) in vars {
        env.set(name, value.clone());
    }
    let config = env.to_config().unwrap();
    let gateway = Gateway::new(config, native_ports(Arc::new(http)), server).unwrap();
    (gateway, zone)
}

/// `tools/call name {}` as `sub` (through MCP client A); the JSON-RPC `result`.
async fn call_tool(gateway: &Gateway, zone: &EmbeddedZone, sub: &str, name: &str) -> Value {
    let token = zone
        .zone()
        .mint(MintRequest {
            sub: Some(sub.to_owned()),
            client_id: Some("mcp-client-a".to_owned()),
            audience: Some(Audience::One(zone.zone().mcp_resource())),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": name, "arguments": {}}});
    let request = http::Request::post(format!("{ORIGIN}/mcp"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = gateway.handle(request).await;
    assert_eq!(response.status(), 200);
    let text = String::from_utf8_lossy(response.body()).into_owned();
    let message: Value = serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .find_map(|d| serde_json::from_str(d.trim()).ok())
        })
        .unwrap_or_else(|| panic!("not a JSON-RPC answer: {text}"));
    message["result"].clone()
}

/// The zone's token exchanges so far: (user, upstream resource, outcome, OAuth error).
fn exchanges(zone: &EmbeddedZone) -> Vec<(String, String, Outcome, Option<String>)> {
    zone.zone()
        .audit_query(&AuditFilter::default())
        .into_iter()
        .filter(|e| e.grant_type.as_deref() == Some(TOKEN_EXCHANGE))
        .map(|e| {
            (
                e.user.unwrap_or_default(),
                e.resource.unwrap_or_default(),
                e.outcome,
                e.reason.and_then(|r| {
                    r.split(|c: char| c == ':' || c.is_whitespace())
                        .next()
                        .map(str::to_owned)
                }),
            )
        })
        .collect()
}

fn two_upstreams(zone_github: &str, zone_calendar: &str) -> Vec<(&'static str, String)> {
    vec![(
        "KEYCARD_UPSTREAMS",
        json!({ "github": zone_github, "calendar": zone_calendar }).to_string(),
    )]
}

#[tokio::test]
async fn consent_to_one_upstream_gets_its_result_and_a_named_error_for_the_other() {
    // The upstream URLs are the zone's; the zone is built first to learn them.
    let probe = EmbeddedZone::in_process(ZoneConfig::default(), "http://zone.test").unwrap();
    let (github, calendar) = (probe.upstream_url(), probe.calendar_url());
    let (gateway, zone) = gateway(
        Server::new("two", "0.0.0").tool(my_day()),
        &two_upstreams(&github, &calendar),
    );
    assert_eq!(zone.upstream_url(), github);

    // bob consented to GitHub only.
    let bob = call_tool(&gateway, &zone, "bob", "my_day").await;
    assert_eq!(bob["isError"], false, "{bob}");
    let day = &bob["structuredContent"];
    assert_eq!(day["github"]["login"], "bob", "{bob}");
    assert_eq!(day["events"], Value::Null);
    let errors = day["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{bob}");
    assert_eq!(errors[0]["upstream"], "calendar");
    let message = errors[0]["error"].as_str().unwrap();
    assert!(
        message.starts_with(
            "You have not granted access to the \"calendar\" upstream in Keycard: open http://zone.test/consent?user=bob&client_id=mcp-worker&resource=http%3A%2F%2Fzone.test%2Fupstream%2Fcalendar to grant access"
        ),
        "{message}"
    );
    assert!(!message.contains("eyJ"), "{message}");

    // alice consented to both.
    let alice = call_tool(&gateway, &zone, "alice", "my_day").await;
    let day = &alice["structuredContent"];
    assert_eq!(day["github"]["login"], "alice", "{alice}");
    assert_eq!(day["events"].as_array().map(Vec::len), Some(2), "{alice}");
    assert_eq!(day["errors"], json!([]));

    // bob again: his GitHub token comes from the cache; the refused exchange is retried.
    let again = call_tool(&gateway, &zone, "bob", "my_day").await;
    assert_eq!(
        again["structuredContent"]["errors"][0]["upstream"],
        "calendar"
    );

    let issued =
        |user: &str, resource: &str| (user.to_owned(), resource.to_owned(), Outcome::Issued, None);
    let refused = |user: &str, resource: &str| {
        let error = Some("invalid_grant".to_owned());
        (
            user.to_owned(),
            resource.to_owned(),
            Outcome::Refused,
            error,
        )
    };
    let mut seen = exchanges(&zone);
    assert_eq!(seen.len(), 5, "{seen:#?}");
    // Within one call the two exchanges run concurrently: each call's pair is a set.
    seen[0..2].sort_by(|a, b| a.1.cmp(&b.1));
    seen[2..4].sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        seen,
        [
            // bob's first call: the calendar refused (no consent), GitHub issued.
            refused("bob", &calendar),
            issued("bob", &github),
            // alice: both issued.
            issued("alice", &calendar),
            issued("alice", &github),
            // bob's second call: GitHub from the cache, the calendar refused again.
            refused("bob", &calendar),
        ],
        "{seen:#?}"
    );
}

/// The leak harness over the two-upstream tool: users consented to both upstreams (the
/// harness's population), fixture users to GitHub only (partial results); 0 leaks, and
/// the canary oracle saw each caller's own data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_upstream_tool_leaks_nothing() {
    let report = LeakTest::new(Server::new("two", "0.0.0").tool(my_day()))
        .users(200)
        .requests(2_000)
        .isolates(2)
        .seed(18)
        .tool_call("my_day", json!({}))
        .run()
        .await
        .unwrap();
    eprintln!("{report}");
    report.assert_no_leaks();
    let day = &report.per_tool["my_day"];
    assert!(day.own_canary > 1_000, "{report}");
    // Two upstream calls per answered call with a subject, all attributed and checked.
    assert!(report.upstream_calls > 2 * 1_000, "{report}");
    assert_eq!(
        report.upstream_attributed, report.upstream_calls,
        "{report}"
    );
    assert_eq!(report.total.protocol_errors, 0, "{report}");
}

/// The seed's configuration: `KEYCARD_RESOURCE_URL` alone (no `KEYCARD_UPSTREAMS`) is the
/// `default` upstream, and the demo server's delegated tool works through it.
#[tokio::test]
async fn keycard_resource_url_alone_configures_a_working_gateway() {
    let probe = EmbeddedZone::in_process(ZoneConfig::default(), "http://zone.test").unwrap();
    let (gateway, zone) = gateway(
        Server::demo(),
        &[("KEYCARD_RESOURCE_URL", probe.upstream_url())],
    );
    let upstreams: Vec<(&str, &str)> = gateway
        .config()
        .upstreams
        .iter()
        .map(|u| (u.name.as_str(), u.url.as_str()))
        .collect();
    assert_eq!(upstreams, [("default", zone.upstream_url().as_str())]);
    let result = call_tool(&gateway, &zone, "alice", "github_user").await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["login"], "alice", "{result}");
    assert_eq!(
        exchanges(&zone),
        [(
            "alice".to_owned(),
            zone.upstream_url(),
            Outcome::Issued,
            None
        )]
    );
}

/// Two zones and two upstreams served by one gateway (`KEYCARD_ZONES`, zones `a` and
/// `b` at `/a/mcp` and `/b/mcp`), the same user names in both zones, the two-upstream
/// tool through reused isolates: 0 leaks; every upstream token is in the audit log of
/// the caller's zone, issued for the caller's user and client and for the upstream that
/// received it; every subject's token is refused (401) on the other zone's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_zones_and_two_upstreams_in_one_gateway_leak_nothing() {
    let report = LeakTest::new(Server::new("two", "0.0.0").tool(my_day()))
        .multi_zone()
        .users(150)
        .requests(2_000)
        .isolates(2)
        .seed(18)
        .tool_call("my_day", json!({}))
        .run()
        .await
        .unwrap();
    eprintln!(
        "{report}\nupstream audited {} / {}, cross-zone refused {} / {}",
        report.upstream_audited,
        report.upstream_calls,
        report.cross_zone_refused,
        report.cross_zone_probes
    );
    report.assert_no_leaks();
    assert!(report.upstream_calls > 2 * 1_000, "{report}");
    assert_eq!(
        report.upstream_attributed, report.upstream_calls,
        "{report}"
    );
    assert_eq!(report.upstream_audited, report.upstream_calls, "{report}");
    assert!(report.cross_zone_probes > 150, "{report}");
    assert_eq!(report.cross_zone_refused, report.cross_zone_probes);
    // Both zones exchanged (each for its own users).
    assert!(report.subjects > 150, "{report}");
}

/// The same run with ONE token cache shared by both zones: with the real key (issuer and
/// audience in it) still 0 leaks; keyed without the zone (what a single-zone cache
/// shared by zones would do), the oracle catches zone B's users getting zone A's tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_shared_by_zones_without_the_zone_in_its_key_is_caught() {
    use keycard_core::delegation::cache::CacheKeying;
    let run = |keying| {
        LeakTest::new(Server::new("two", "0.0.0").tool(my_day()))
            .multi_zone()
            .shared_cache(keying)
            .users(100)
            .requests(1_000)
            .isolates(1)
            .seed(7)
            .tool_call("my_day", json!({}))
            .run()
    };
    let sound = run(CacheKeying::Isolated).await.unwrap();
    sound.assert_no_leaks();
    let naive = run(CacheKeying::WithoutZone).await.unwrap();
    eprintln!("{naive}");
    assert!(naive.leak_count > 0, "{naive}");
    // The leaks cross zones: a caller of one zone got data or a token of the same user
    // name in the other zone.
    let crosses_zones = |l: &emulator::harness::Leak| match &l.kind {
        emulator::harness::LeakKind::ForeignCanary {
            owner: Some(owner), ..
        } => owner.issuer != l.caller.issuer && owner.sub == l.caller.sub,
        emulator::harness::LeakKind::WrongIssuance { reason, .. } => {
            reason.contains("not issued by the caller's zone")
        }
        _ => false,
    };
    assert!(naive.leaks.iter().all(crosses_zones), "{naive}");
}
