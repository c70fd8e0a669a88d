//! End-to-end native benchmarks of `Gateway::handle` with the mock zone in-process (no
//! sockets): what one request costs the core on a native host.
//!
//! * `whoami`, every signature checked — bearer verification (RS256, warm keyring) + MCP
//!   dispatch, with the verified-signature memo off;
//! * `whoami`, repeated token — the default: the memo remembers the signature (every claim
//!   is still checked);
//! * `github_user` warm — the same + a token-cache hit + the upstream call;
//! * `github_user` cold — a new user every request: signature check and a token-cache miss,
//!   so an RFC 8693 exchange at the in-process zone first.
//!
//! `cargo bench -p emulator --bench gateway`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use emulator::ports::{InProcessHttp, ReqwestHttp, native_ports};
use emulator::zones::{EmbeddedZone, add_users};
use keycard_core::{Config, Gateway};
use mock_keycard::{MintRequest, ZoneConfig};

const ISSUER: &str = "http://zone.bench.test";
const ORIGIN: &str = "http://worker.bench.test";
const COLD_USERS: usize = 5_000;

fn call(tool: &str, token: &str) -> http::Request<Bytes> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    );
    http::Request::builder()
        .method("POST")
        .uri(format!("{ORIGIN}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Bytes::from(body))
        .expect("valid request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let subs: Vec<String> = (0..COLD_USERS).map(|i| format!("bench-{i}")).collect();
    let mut zone_config = ZoneConfig::default().with_mcp_resource(ORIGIN);
    add_users(&mut zone_config, subs.iter().map(String::as_str));
    let (client_id, secret) = EmbeddedZone::worker_credentials(&zone_config).expect("worker app");
    let zone = EmbeddedZone::in_process(zone_config, ISSUER).expect("zone");
    let http = InProcessHttp::new(Arc::new(ReqwestHttp::new().expect("reqwest")))
        .with_origin(ISSUER, zone.router())
        .expect("origin");
    let upstream = zone.upstream_url();
    let http: Arc<InProcessHttp> = Arc::new(http);
    // `memo` bounds the verified-signature memo and the token cache alike.
    let gateway = |memo: usize| {
        let config = Config::from_env(|name| match name {
            "KEYCARD_ISSUER" => Some(ISSUER.into()),
            "KEYCARD_RESOURCE_URL" => Some(upstream.clone()),
            "KEYCARD_CLIENT_ID" => Some(client_id.clone()),
            "KEYCARD_CLIENT_SECRET" => Some(secret.clone()),
            "KEYCARD_CACHE_MAX_ENTRIES" => Some(memo.max(1).to_string()),
            "KEYCARD_VERIFIED_CACHE_MAX_ENTRIES" => Some(memo.to_string()),
            _ => None,
        })
        .expect("config");
        Gateway::new(
            config,
            native_ports(http.clone()),
            keycard_core::Server::demo(),
        )
        .expect("gateway")
    };
    // The default bounds, so a repeated token and its upstream token stay remembered.
    let gateway_default = gateway(10_000);
    // Memo off and a token cache far smaller than the cold users cycled through, so
    // every call verifies its signature and every cold call is a cache miss.
    let gateway_plain = gateway(0);
    let mint = |sub: &str| {
        zone.zone()
            .mint(MintRequest {
                sub: Some(sub.to_owned()),
                client_id: Some("mcp-client-a".into()),
                lifetime_secs: Some(3600),
                ..MintRequest::default()
            })
            .expect("mint")
            .access_token
    };
    let alice = mint("alice");
    let cold_tokens: Vec<String> = subs.iter().map(|s| mint(s)).collect();

    // Warm the keyrings and alice's cache entry; check the answers are real successes.
    for gateway in [&gateway_default, &gateway_plain] {
        for tool in ["whoami", "github_user"] {
            let resp = rt.block_on(gateway.handle(call(tool, &alice)));
            let body = String::from_utf8_lossy(resp.body()).into_owned();
            assert!(
                resp.status().is_success() && !body.contains("\"isError\":true"),
                "{tool}: {body}"
            );
        }
    }

    c.bench_function("gateway whoami (RS256 verify every call + MCP)", |b| {
        b.iter(|| rt.block_on(gateway_plain.handle(call("whoami", &alice))))
    });
    c.bench_function(
        "gateway whoami, repeated token (memoised signature + MCP)",
        |b| b.iter(|| rt.block_on(gateway_default.handle(call("whoami", &alice)))),
    );
    c.bench_function("gateway github_user, warm cache (+ upstream call)", |b| {
        b.iter(|| rt.block_on(gateway_default.handle(call("github_user", &alice))))
    });
    let next = AtomicUsize::new(0);
    let mut group = c.benchmark_group("cold");
    group.sample_size(10);
    group.bench_function(
        "gateway github_user, cache miss (+ RFC 8693 exchange, in-process zone)",
        |b| {
            b.iter(|| {
                let i = next.fetch_add(1, Ordering::Relaxed) % COLD_USERS;
                rt.block_on(gateway_plain.handle(call("github_user", &cold_tokens[i])))
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
