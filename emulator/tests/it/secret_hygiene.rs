//! Secret hygiene (issue 9): every tracing line of the core, the emulator and
//! mock-keycard, at TRACE, during a short full replay and each failure path (bad
//! tokens, STS errors, upstream 401, web-identity exchanges, configuration errors), must
//! carry no bearer or upstream token (no JWT at all), no client secret, no client
//! assertion and no private-key material; `Debug` of the secret-bearing types prints a
//! redaction.
//!
//! The subscriber is process-global (isolates run on their own threads), so the other
//! tests of this binary running at the same time are captured and checked too.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use emulator::cli::ServeArgs;
use emulator::replay::faults::FaultKind;
use emulator::replay::{ReplayArgs, run};
use emulator::settings::EnvMap;
use keycard_core::delegation::exchange::UpstreamToken;
use keycard_core::{Config, Credential, Identity, Secret, SecretString};
use mock_keycard::MintRequest;

use crate::helpers::tool_call;

/// The captured log text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "keycard_core=trace,emulator=trace,mock_keycard=trace",
                ))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            capture
        })
        .clone()
}

/// Strings that must never be logged.
fn forbidden() -> Vec<String> {
    use base64::Engine as _;
    let mut out = vec![
        // any JWT: bearer tokens, upstream tokens, client assertions
        "eyJ".to_owned(),
        "mcp-worker-secret".to_owned(),
        base64::engine::general_purpose::STANDARD.encode("mcp-worker:mcp-worker-secret"),
        "client_assertion".to_owned(),
        "PRIVATE KEY".to_owned(),
    ];
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/keys");
    for entry in std::fs::read_dir(keys).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pem") {
            let pem = std::fs::read_to_string(&path).unwrap();
            out.extend(
                pem.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                    .map(str::to_owned),
            );
        }
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    for f in forbidden() {
        assert!(
            !text.contains(&f),
            "{what} contains {:?}…",
            f.get(..f.len().min(12)).unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_on_any_path() {
    let logs = capture();
    // 1. a short full replay: every op, bad tokens (broken signatures), no-sub, expiring,
    //    revoked consent, two zones
    let base = ReplayArgs {
        users: 20,
        requests: 600,
        concurrency: 32,
        isolates: 2,
        seed: 5,
        no_progress: true,
        ..ReplayArgs::default()
    };
    let outcome = run(&base).await.unwrap();
    assert_eq!(outcome.summary.leaks, 0);
    // 2. STS errors and an upstream 401 (drop + retry)
    for kind in [
        FaultKind::Sts500,
        FaultKind::StsMalformed,
        FaultKind::StsDrop,
        FaultKind::Upstream401,
    ] {
        let args = ReplayArgs {
            fault: vec![kind],
            ..base.clone()
        };
        let outcome = run(&args).await.unwrap();
        assert_eq!(outcome.summary.leaks, 0, "{kind}");
    }
    // 3. web identity: the dev server with KEYCARD_PRIVATE_KEY signs client assertions
    //    the zone verifies through the server's JWKS
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/keys/worker-web-identity.pem"
    ))
    .unwrap();
    let server = emulator::serve::start_with_env(
        &ServeArgs {
            port: Some(0),
            zone_port: Some(0),
            ..ServeArgs::default()
        },
        vec![("KEYCARD_PRIVATE_KEY".to_owned(), pem.clone())],
    )
    .await
    .unwrap();
    let zone = server.zone.as_ref().unwrap().zone().clone();
    let token = |sub: &str| {
        zone.mint(MintRequest {
            sub: Some(sub.into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token
    };
    let client = reqwest::Client::new();
    let call = |token: String, tool: &str| {
        client
            .post(&server.mcp_url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(tool_call(tool))
            .send()
    };
    let ok = call(token("alice"), "github_user").await.unwrap();
    let body = ok.text().await.unwrap();
    assert!(body.contains("\"keycard\""), "{body}");
    // consent missing (invalid_grant), bad signature, garbage
    let refused = call(token("mallory"), "github_user").await.unwrap();
    assert_eq!(refused.status(), 200);
    let mut broken = token("bob");
    broken.push('x');
    assert_eq!(call(broken, "whoami").await.unwrap().status(), 401);
    assert_eq!(
        call("not-a-jwt".into(), "whoami").await.unwrap().status(),
        401
    );
    server.shutdown().await;
    // 4. configuration errors never echo secrets
    let mut env = EnvMap::default();
    env.set("KEYCARD_CLIENT_SECRET", "mcp-worker-secret");
    env.set("KEYCARD_CLIENT_ID", "mcp-worker");
    env.set("KEYCARD_ISSUER", "not a url");
    let err = env.to_config().unwrap_err();
    assert_clean("config error", &format!("{err} {err:?}"));
    let mut env = EnvMap::default();
    env.set("KEYCARD_PRIVATE_KEY", pem.replace("MII", "XXX"));
    env.set("KEYCARD_ISSUER", "http://zone.test");
    env.set("KEYCARD_RESOURCE_URL", "http://zone.test/up");
    if let Err(err) = env.to_config() {
        assert_clean("private key error", &format!("{err} {err:?}"));
    }

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    // the capture really saw every component, at TRACE/DEBUG detail
    for component in ["keycard_core", "emulator", "mock_keycard"] {
        assert!(text.contains(component), "no {component} lines captured");
    }
    assert!(text.lines().count() > 100, "{} lines", text.lines().count());
    assert_clean("the logs", &text);
}

#[test]
fn debug_of_secret_types_is_redacted() {
    let secret = "mcp-worker-secret";
    let printed = [
        format!("{:?}", Secret::new(secret.to_owned())),
        format!("{:?}", SecretString::new(secret.to_owned())),
        format!(
            "{:?}",
            Credential::ClientSecret {
                client_id: "mcp-worker".into(),
                client_secret: SecretString::new(secret.to_owned()),
            }
        ),
        format!(
            "{:?}",
            UpstreamToken {
                access_token: SecretString::new("eyJupstream.token.sig".into()),
                token_type: "Bearer".into(),
                expires_in: Some(60),
                scope: None,
                issued_token_type: None,
            }
        ),
        format!("{:?}", Identity::for_tests("http://z", Some("alice"), "c")),
    ];
    for p in &printed {
        assert!(!p.contains(secret) && !p.contains("eyJ"), "{p}");
    }
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/keys/worker-web-identity.pem"
    ))
    .unwrap();
    let mut env = EnvMap::default();
    env.set("KEYCARD_ISSUER", "http://zone.test");
    env.set("KEYCARD_RESOURCE_URL", "http://zone.test/up");
    env.set("KEYCARD_PRIVATE_KEY", pem);
    let config: Config = env.to_config().unwrap();
    assert_clean("Config (web identity)", &format!("{config:?}"));
    let mut env = EnvMap::default();
    env.set("KEYCARD_ISSUER", "http://zone.test");
    env.set("KEYCARD_RESOURCE_URL", "http://zone.test/up");
    env.set("KEYCARD_CLIENT_ID", "mcp-worker");
    env.set("KEYCARD_CLIENT_SECRET", secret);
    let config = env.to_config().unwrap();
    assert_clean(
        "Config (client secret)",
        &format!("{config:?} {:#?}", config),
    );
    // mock-keycard's own secret types
    let minted = mock_keycard::ZoneConfig::default();
    assert_clean("ZoneConfig", &format!("{minted:?}"));
}
