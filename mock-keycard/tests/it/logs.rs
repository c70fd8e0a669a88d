//! Secret hygiene: tracing output (all levels) and `Debug` never contain tokens, codes,
//! refresh tokens or client secrets.

use std::sync::{Arc, Mutex, PoisonError};

use mock_keycard::MintRequest;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::{UPSTREAM, call, exchange_pairs, form, get, json_post, user_token, zone};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_and_debug_output_never_contain_credentials() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let zone = zone();
    let mut secrets = vec![
        "mcp-worker-secret".to_owned(),
        "wrong-secret-value".to_owned(),
    ];
    let subject = user_token(&zone, "alice");
    secrets.push(subject.clone());
    let worker = Some(("mcp-worker", "mcp-worker-secret"));
    let reply = call(
        &zone,
        form("/token", &exchange_pairs(&subject, UPSTREAM), worker),
    )
    .await;
    let upstream = reply.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    secrets.push(upstream.clone());
    let refused = call(
        &zone,
        form(
            "/token",
            &exchange_pairs(&subject, UPSTREAM),
            Some(("mcp-worker", "wrong-secret-value")),
        ),
    )
    .await;
    assert_eq!(refused.status, 401);
    let request = http::Request::get("/upstream/github/user")
        .header("authorization", format!("Bearer {upstream}"))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(call(&zone, request).await.status, 200);
    let minted = call(&zone, json_post("/dev/token", &json!({ "sub": "bob" })))
        .await
        .json();
    secrets.push(minted["access_token"].as_str().expect("token").to_owned());

    let verifier = "v".repeat(43);
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let url = format!(
        "/authorize?response_type=code&client_id=mcp-client-a&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&code_challenge={challenge}&code_challenge_method=S256&login_hint=alice"
    );
    let location = call(&zone, get(&url))
        .await
        .header("location")
        .expect("location")
        .to_owned();
    let code = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    secrets.push(code.clone());
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:1/cb"),
        ("code_verifier", verifier.as_str()),
        ("client_id", "mcp-client-a"),
    ];
    let tokens = call(&zone, form("/token", &pairs, None)).await.json();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    secrets.push(tokens["access_token"].as_str().expect("access").to_owned());
    secrets.push(refresh.clone());
    let registered = call(
        &zone,
        json_post(
            "/register",
            &json!({ "redirect_uris": ["https://a.example/cb"] }),
        ),
    )
    .await
    .json();
    secrets.push(
        registered["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let minted = zone.mint(MintRequest::default()).expect("mint");
    secrets.push(minted.access_token.clone());

    let logs = String::from_utf8(
        captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
    .expect("utf8");
    assert!(
        logs.contains("credentials:issue"),
        "expected audit log lines: {logs}"
    );
    let debug = format!("{zone:?} {minted:?} {:?}", zone.application("mcp-worker"));
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a credential leaked into the logs"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "a credential leaked into Debug: {debug}"
        );
    }
    assert!(
        !logs.contains("eyJ"),
        "something JWT-shaped leaked into the logs"
    );
}
