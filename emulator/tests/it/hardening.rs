//! Black-box hardening checks against the dev server on a real socket: the resource id
//! never comes from the client's `Host` or absolute-form target (421 for origins the
//! server does not serve), the browser `Origin` check against the pinned origins (DNS
//! rebinding), duplicate singleton headers (400), and a CORS preflight that advertises
//! only what the transport accepts.

use mock_keycard::{Audience, MintRequest};
use serde_json::Value;

use crate::helpers::{spawn_dev_server, tool_call};

const PRM: &str = "/.well-known/oauth-protected-resource/mcp";

/// One raw HTTP/1.1 exchange (the request head exactly as given), for request targets
/// and `Host` values an HTTP client library would not send.
async fn raw(origin: &str, head: &str, body: &str) -> (u16, Value) {
    let addr = origin.trim_start_matches("http://").to_owned();
    let request = format!(
        "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Blocking std I/O on a blocking thread: the dev server runs on the test runtime.
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn mcp_head(target: &str, host: &str, token: &str, extra: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\naccept: application/json\r\ncontent-type: application/json\r\nmcp-protocol-version: 2025-11-25{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_id_never_comes_from_the_clients_host_or_target() {
    let server = spawn_dev_server().await;
    let zone = server.zone.as_ref().unwrap();
    let origin = server.origin.clone();
    let port = origin.rsplit(':').next().unwrap().to_owned();
    let evil = format!("evil.example:{port}");
    // A token minted for the forged origin, as the attacker had.
    let evil_token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            audience: Some(Audience::One(format!("http://{evil}"))),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let good_token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let body = tool_call("whoami");
    let own_host = origin.trim_start_matches("http://").to_owned();

    // Host header naming another origin: 421, for every route but /health.
    for path in [
        PRM,
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/nowhere",
    ] {
        let (status, reply) =
            raw(&origin, &format!("GET {path} HTTP/1.1\r\nhost: {evil}"), "").await;
        assert_eq!(status, 421, "{path}: {reply}");
        assert_eq!(reply["error"], "misdirected_request", "{path}");
        assert!(!reply.to_string().contains("\"resource\""), "{reply}");
    }
    let (status, reply) = raw(&origin, &mcp_head("/mcp", &evil, &evil_token, ""), &body).await;
    assert_eq!(status, 421, "{reply}");
    // Other spellings of a foreign origin.
    for host in [
        "localhost.evil.example".to_owned(),
        format!("127.0.0.1:{}", port.parse::<u16>().unwrap().wrapping_add(1)),
        format!("[::1]:{port}"),
        "127.0.0.1".to_owned(),
    ] {
        let (status, _) = raw(&origin, &format!("GET {PRM} HTTP/1.1\r\nhost: {host}"), "").await;
        assert_eq!(status, 421, "{host}");
    }

    // Absolute-form targets: the target's authority is the request's origin (RFC 9112
    // §3.2.2), refused the same way whatever the Host header says.
    for target in [
        format!("http://{evil}{PRM}"),
        format!("https://{own_host}{PRM}"),
    ] {
        let (status, reply) = raw(
            &origin,
            &format!("GET {target} HTTP/1.1\r\nhost: {own_host}"),
            "",
        )
        .await;
        assert_eq!(status, 421, "{target}: {reply}");
    }
    let (status, reply) = raw(
        &origin,
        &mcp_head(&format!("http://{evil}/mcp"), &own_host, &evil_token, ""),
        &body,
    )
    .await;
    assert_eq!(status, 421, "{reply}");
    // An absolute-form target naming the pinned origin is served as that origin.
    let (status, reply) = raw(
        &origin,
        &format!("GET {origin}{PRM} HTTP/1.1\r\nhost: {evil}"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["resource"], origin.as_str());

    // The pinned origins: the listen origin and localhost on the same port.
    let (status, reply) = raw(
        &origin,
        &format!("GET {PRM} HTTP/1.1\r\nhost: {own_host}"),
        "",
    )
    .await;
    assert_eq!(
        (status, reply["resource"].as_str()),
        (200, Some(origin.as_str()))
    );
    let localhost = format!("localhost:{port}");
    let (status, reply) = raw(
        &origin,
        &format!("GET {PRM} HTTP/1.1\r\nhost: {localhost}"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["resource"], format!("http://{localhost}"));

    // At the pinned origin the forged audience is refused, the real one served.
    let (status, _) = raw(
        &origin,
        &mcp_head("/mcp", &own_host, &evil_token, ""),
        &body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, reply) = raw(
        &origin,
        &mcp_head("/mcp", &own_host, &good_token, ""),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["result"]["structuredContent"]["subject"], "alice");
    // Health answers whatever the Host (probes).
    let (status, _) = raw(
        &origin,
        &format!("GET /health HTTP/1.1\r\nhost: {evil}"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_duplicate_headers_and_preflight() {
    let server = spawn_dev_server().await;
    let zone = server.zone.as_ref().unwrap();
    let origin = server.origin.clone();
    let own_host = origin.trim_start_matches("http://").to_owned();
    let port = origin.rsplit(':').next().unwrap().to_owned();
    let token = zone
        .zone()
        .mint(MintRequest {
            sub: Some("alice".into()),
            ..MintRequest::default()
        })
        .unwrap()
        .access_token;
    let body = tool_call("whoami");

    // DNS rebinding: Host and Origin both the attacker's: refused before anything else.
    let rebinding = format!("rebind.example:{port}");
    let (status, _) = raw(
        &origin,
        &mcp_head(
            "/mcp",
            &rebinding,
            &token,
            &format!("\r\norigin: http://{rebinding}"),
        ),
        &body,
    )
    .await;
    assert_eq!(status, 421);
    // The right Host, a foreign page's Origin: 403.
    let (status, reply) = raw(
        &origin,
        &mcp_head(
            "/mcp",
            &own_host,
            &token,
            &format!("\r\norigin: http://{rebinding}"),
        ),
        &body,
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    // A page served by this server itself (its pinned origin) may call.
    let (status, reply) = raw(
        &origin,
        &mcp_head("/mcp", &own_host, &token, &format!("\r\norigin: {origin}")),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{reply}");

    // Duplicate singleton headers: 400 with a JSON-RPC error naming the header.
    for (name, a, b) in [
        ("mcp-protocol-version", "2025-11-25", "2025-06-18"),
        ("mcp-method", "tools/call", "tools/list"),
        ("mcp-name", "whoami", "github_user"),
        ("host", own_host.as_str(), "evil.example"),
    ] {
        let head = if name == "host" {
            mcp_head("/mcp", a, &token, &format!("\r\nhost: {b}"))
        } else if name == "mcp-protocol-version" {
            mcp_head("/mcp", &own_host, &token, &format!("\r\n{name}: {b}"))
        } else {
            mcp_head(
                "/mcp",
                &own_host,
                &token,
                &format!("\r\n{name}: {a}\r\n{name}: {b}"),
            )
        };
        let (status, reply) = raw(&origin, &head, &body).await;
        assert_eq!(status, 400, "{name}: {reply}");
        assert_eq!(reply["error"]["code"], -32000, "{name}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .contains(name),
            "{name}: {reply}"
        );
    }

    // The preflight advertises only what the transport accepts, and it refuses the rest.
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, &server.mcp_url)
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    // `DELETE` ends a session (the emulator serves with sessions on by default), so it
    // and `Mcp-Session-Id` are advertised; there is no GET stream and no resumption.
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "POST, DELETE, OPTIONS"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("mcp-session-id"), "{allowed}");
    assert!(!allowed.contains("last-event-id"), "{allowed}");
    let get = client.get(&server.mcp_url).send().await.unwrap();
    assert_eq!(get.status(), 405);
    // DELETE is authenticated first, then needs the session to end.
    let delete = client.delete(&server.mcp_url).send().await.unwrap();
    assert_eq!(delete.status(), 401);
    let delete = client
        .delete(&server.mcp_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 400);
    server.shutdown().await;
}
