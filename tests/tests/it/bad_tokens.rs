//! The bad-token corpus (`fixtures/bad-tokens/`, built by `mock_keycard::corpus`) through
//! `Gateway::handle`: a real mock Keycard zone on a loopback port, the core with native
//! ports (reqwest, system clock, pure-Rust crypto), one fresh gateway per case so each
//! case's outbound requests are its own. Every case is judged with the same checker the
//! `mock-keycard corpus` CLI uses against the wasm Worker, plus what only an in-process run
//! can see: no outbound request at all for front-half refusals, no request anywhere but
//! the zone (a `jku`/`x5u` honeypot that must stay untouched), no token exchange for a
//! refused token. All failures are reported together.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use emulator::ports::{ReqwestHttp, SystemClock};
use keycard_core::ports::{BoxFuture, HttpClient, HttpError, Ports};
use keycard_core::{Config, Gateway};
use mock_keycard::corpus::{self, Answer, Case, Honeypot, Placeholders};
use mock_keycard::{MintRequest, MockKeycard, Zone, ZoneConfig};

/// The gateway's fixed resource identifier (`KEYCARD_RESOURCE_ID`): the tokens' audience.
const RESOURCE: &str = "http://127.0.0.1:8787";

/// Outbound HTTP through reqwest, recording every URL requested.
#[derive(Clone)]
struct Recording {
    inner: ReqwestHttp,
    urls: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    fn new() -> Self {
        Self {
            inner: ReqwestHttp::new().unwrap(),
            urls: Arc::default(),
        }
    }

    fn urls(&self) -> Vec<String> {
        self.urls.lock().unwrap().clone()
    }
}

impl HttpClient for Recording {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        self.urls.lock().unwrap().push(request.uri().to_string());
        Box::pin(self.inner.execute(request))
    }
}

fn gateway(zone: &Zone, http: &Recording) -> Gateway {
    let issuer = zone.issuer();
    let upstream = zone.upstream_url();
    let config = Config::from_env(|name| {
        match name {
            "KEYCARD_ISSUER" => Some(issuer.as_str()),
            "KEYCARD_RESOURCE_URL" => Some(upstream.as_str()),
            "KEYCARD_RESOURCE_ID" => Some(RESOURCE),
            "KEYCARD_CLIENT_ID" => Some("mcp-worker"),
            "KEYCARD_CLIENT_SECRET" => Some("mcp-worker-secret"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let ports = Ports {
        clock: Arc::new(SystemClock),
        http: Arc::new(http.clone()),
        crypto: Arc::new(keycard_core::ports::rust_crypto::RustCrypto::new()),
    };
    Gateway::new(config, ports, keycard_core::Server::demo()).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn mcp_request(case: &Case, authorization: Option<String>) -> http::Request<Bytes> {
    let mut request = http::Request::post(format!("{RESOURCE}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", corpus::MCP_PROTOCOL_VERSION);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request
        .body(Bytes::from(corpus::request_body(case)))
        .unwrap()
}

/// Runs one case through a fresh gateway; returns every problem found.
async fn run_case(zone: &Zone, honeypot: &Honeypot, case: &Case) -> Vec<String> {
    let vars = Placeholders::for_zone(zone, RESOURCE, honeypot.url(), now()).unwrap();
    let token = match corpus::build_token(case, zone, &vars) {
        Ok(token) => token,
        Err(e) => return vec![format!("cannot build: {e}")],
    };
    let http = Recording::new();
    let gateway = gateway(zone, &http);
    let response = gateway
        .handle(mcp_request(case, corpus::authorization(case, &token)))
        .await;
    let www_authenticate = response
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok());
    let mut problems = corpus::check(
        case,
        &vars,
        &token,
        &Answer {
            status: response.status().as_u16(),
            www_authenticate,
            body: response.body(),
        },
    );

    let urls = http.urls();
    if case.expect.no_key_fetch && !urls.is_empty() {
        problems.push(format!(
            "refused by a key-less check, yet the core made outbound requests: {urls:?}"
        ));
    }
    let issuer = zone.issuer();
    for url in &urls {
        if !url.starts_with(&format!("{issuer}/")) {
            problems.push(format!("outbound request outside the zone: {url}"));
        }
    }
    let delegated_success = case
        .expect
        .outcome
        .as_ref()
        .is_some_and(|o| o.tool == "github_user" && !o.is_error);
    if !delegated_success && urls.iter().any(|u| u == &zone.token_endpoint()) {
        problems.push(format!("a token exchange was attempted: {urls:?}"));
    }
    problems
}

#[tokio::test]
async fn every_corpus_case_gets_its_exact_answer_from_the_core() {
    let server = MockKeycard::start(ZoneConfig::default().with_mcp_resource(RESOURCE))
        .await
        .unwrap();
    let zone = server.zone();
    let honeypot = Honeypot::start().await.unwrap();
    let cases = corpus::load_corpus(corpus::default_dir()).unwrap();
    assert!(cases.len() >= 30, "only {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        for problem in run_case(&zone, &honeypot, case).await {
            failures.push(format!("{} [{}]: {problem}", case.name, case.file));
        }
    }
    if honeypot.hits() > 0 {
        failures.push(format!(
            "the attacker URL (jku/x5u) was contacted {} time(s)",
            honeypot.hits()
        ));
    }
    // No refused token (and no whoami, no sub-less call) ever reached the STS.
    let issued: Vec<_> = zone
        .audit()
        .into_iter()
        .filter(|e| e.outcome == mock_keycard::Outcome::Issued)
        .collect();
    if !issued.is_empty() {
        failures.push(format!(
            "the zone issued {} upstream token(s)",
            issued.len()
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The status and `error_description` of a `whoami` call with `token`.
async fn whoami_verdict(zone: &Zone, token: &str) -> (u16, Option<String>) {
    let http = Recording::new();
    let gateway = gateway(zone, &http);
    let case: Case = serde_json::from_value(serde_json::json!({
        "name": "x", "why": "x", "recipe": {},
        "expect": {"status": 200, "error": null, "outcome": {"tool": "whoami", "is_error": false}},
    }))
    .unwrap();
    let response = gateway
        .handle(mcp_request(&case, Some(format!("Bearer {token}"))))
        .await;
    let description = response
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(corpus::parse_challenge)
        .and_then(|params| {
            params
                .into_iter()
                .find(|(k, _)| k == "error_description")
                .map(|(_, v)| v)
        });
    (response.status().as_u16(), description)
}

fn mint_with(zone: &Zone, key: &str) -> String {
    zone.mint(MintRequest {
        sub: Some("alice".into()),
        key: Some(key.into()),
        ..MintRequest::default()
    })
    .unwrap()
    .access_token
}

/// The corpus signs "rotated out" tokens with a key the zone does not publish; here a real
/// rotation: the old key works during the grace period and is refused after it.
#[tokio::test]
async fn a_key_rotated_out_is_accepted_during_its_grace_period_and_refused_after() {
    for (grace, expected) in [
        (Duration::from_secs(300), (200, None)),
        (
            Duration::ZERO,
            (
                401,
                Some("the token's key id is not in the issuer's key set".to_owned()),
            ),
        ),
    ] {
        let server = MockKeycard::start(
            ZoneConfig::default()
                .with_mcp_resource(RESOURCE)
                .with_key_grace(grace),
        )
        .await
        .unwrap();
        let zone = server.zone();
        let rotation = zone.rotate_key();
        let current = mint_with(&zone, "current");
        let retired = mint_with(&zone, "zone-1");
        assert_eq!(rotation.retired_kid, {
            let decoded = mock_keycard::jwt::decode(&retired).unwrap();
            decoded.header.kid.unwrap()
        });
        assert_eq!(
            whoami_verdict(&zone, &current).await,
            (200, None),
            "{grace:?}"
        );
        assert_eq!(whoami_verdict(&zone, &retired).await, expected, "{grace:?}");
    }
}
