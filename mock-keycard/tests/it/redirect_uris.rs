//! Redirect URIs (RFC 8252, OAuth 2.1, RFC 7591) at registration and `/authorize`, and the
//! scopes of loopback resources accepted through `accept_loopback_resources`.

use oauth2::PkceCodeChallenge;
use oauth2::PkceCodeVerifier;
use serde_json::json;

use crate::helpers::{MCP, call, claims, form, get, json_post, zone};

/// Never acceptable anywhere.
const DANGEROUS: [&str; 14] = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)//",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "about:blank",
    "http://evil.test/cb",
    "http://127.0.0.1.evil.test/cb",
    "https://client.example/cb#fragment",
    "https://user:pass@client.example/cb",
    "myapp:/callback",
    "cursor:/cb",
    "not a uri",
    "/relative/cb",
];

/// Acceptable: https, loopback http on any port, private-use reverse-DNS schemes.
const SAFE: [&str; 6] = [
    "https://client.example/cb",
    "http://127.0.0.1:3000/cb",
    "http://localhost/cb",
    "http://[::1]:1/cb",
    "com.example.app:/oauth2redirect",
    "io.modelcontextprotocol.inspector://cb",
];

async fn register(zone: &mock_keycard::Zone, uris: &[&str]) -> crate::helpers::Reply {
    call(
        zone,
        json_post(
            "/register",
            &json!({"redirect_uris": uris, "token_endpoint_auth_method": "none", "client_name": "t"}),
        ),
    )
    .await
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn authorize(client_id: &str, redirect_uri: &str, challenge: &str, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=s{extra}",
        urlencode(redirect_uri)
    )
}

#[tokio::test]
async fn registration_refuses_dangerous_redirect_uris() {
    let zone = zone();
    for uri in DANGEROUS {
        let reply = register(&zone, &[uri]).await;
        assert_eq!(reply.status, 400, "{uri}");
        assert_eq!(reply.json()["error"], "invalid_redirect_uri", "{uri}");
        // One bad URI among good ones spoils the registration.
        let reply = register(&zone, &["https://client.example/cb", uri]).await;
        assert_eq!(reply.status, 400, "{uri}");
    }
    for uri in SAFE {
        let reply = register(&zone, &[uri]).await;
        assert_eq!(reply.status, 201, "{uri}: {}", reply.text);
    }
}

#[tokio::test]
async fn authorize_redirects_only_to_exact_registered_uris() {
    let zone = zone();
    let challenge = PkceCodeChallenge::new_random_sha256().0;
    let c = challenge.as_str();
    let registered = register(
        &zone,
        &["https://client.example/cb", "http://127.0.0.1:7000/cb"],
    )
    .await
    .json();
    let client = registered["client_id"].as_str().unwrap().to_owned();
    let refused = [
        "https://client.example/cb2",
        "https://client.example/cb/",
        "https://client.example/cb?x=1",
        "https://client.example:444/cb",
        "https://evil.example/cb",
        "http://127.0.0.1:7000/other",
        "http://localhost:7000/cb",
    ];
    for uri in refused.into_iter().chain(DANGEROUS) {
        let reply = call(&zone, get(&authorize(&client, uri, c, "&login_hint=alice"))).await;
        assert_eq!(reply.status, 400, "{uri}");
        assert!(reply.header("location").is_none(), "{uri}");
        assert_eq!(reply.json()["error"], "invalid_request", "{uri}");
    }
    // Exact, and loopback on another port (RFC 8252 §7.3).
    for uri in ["https://client.example/cb", "http://127.0.0.1:7001/cb"] {
        let reply = call(&zone, get(&authorize(&client, uri, c, "&login_hint=alice"))).await;
        assert_eq!(reply.status, 302, "{uri}: {}", reply.text);
        assert!(reply.header("location").unwrap().starts_with(uri), "{uri}");
    }
}

#[tokio::test]
async fn a_client_without_registered_uris_is_redirected_only_to_loopback() {
    let zone = zone();
    let challenge = PkceCodeChallenge::new_random_sha256().0;
    let c = challenge.as_str();
    for uri in DANGEROUS
        .into_iter()
        .chain(["https://evil.example/cb", "com.example.app:/cb"])
    {
        for extra in ["&login_hint=alice", "", "&response_type=token"] {
            let reply = call(&zone, get(&authorize("mcp-client-a", uri, c, extra))).await;
            assert_eq!(reply.status, 400, "{uri}{extra}");
            assert!(reply.header("location").is_none(), "{uri}{extra}");
            assert_eq!(reply.json()["error"], "invalid_request", "{uri}");
        }
    }
    let reply = call(
        &zone,
        get(&authorize(
            "mcp-client-a",
            "http://127.0.0.1:5555/cb",
            c,
            "&login_hint=alice",
        )),
    )
    .await;
    assert_eq!(reply.status, 302);
    // Unknown client: no redirect either.
    let reply = call(
        &zone,
        get(&authorize("nobody", "http://127.0.0.1:5555/cb", c, "")),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_request");
}

#[tokio::test]
async fn a_loopback_resource_on_another_port_is_granted_the_mcp_scopes() {
    let zone = zone();
    // A second loopback origin: a Worker on another port, a local proxy or tunnel.
    let other = "http://127.0.0.1:9999";
    assert_ne!(other, MCP);
    let verifier = PkceCodeVerifier::new("v".repeat(64));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let redirect = "http://127.0.0.1:1/cb";
    for (resource, scope) in [
        (other, "mcp:tools"),
        ("http://localhost:1234", ""),
        (MCP, "mcp:tools"),
    ] {
        let mut extra = format!("&login_hint=alice&resource={}", urlencode(resource));
        if !scope.is_empty() {
            extra.push_str(&format!("&scope={}", urlencode(scope)));
        }
        let reply = call(
            &zone,
            get(&authorize(
                "mcp-client-a",
                redirect,
                challenge.as_str(),
                &extra,
            )),
        )
        .await;
        assert_eq!(reply.status, 302, "{resource}");
        let location = url::Url::parse(reply.header("location").unwrap()).unwrap();
        let params: std::collections::HashMap<String, String> =
            location.query_pairs().into_owned().collect();
        let code = params
            .get("code")
            .unwrap_or_else(|| panic!("{resource}: {params:?}"))
            .clone();
        let pairs = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.secret().as_str()),
            ("client_id", "mcp-client-a"),
            ("resource", resource),
        ];
        let token = call(&zone, form("/token", &pairs, None)).await;
        assert_eq!(token.status, 200, "{resource}: {}", token.text);
        let access = token.json()["access_token"].as_str().unwrap().to_owned();
        let c = claims(&access);
        assert_eq!(c["aud"], resource);
        let scopes: Vec<&str> = c["scope"].as_str().unwrap_or_default().split(' ').collect();
        assert!(scopes.contains(&"mcp:tools"), "{resource}: {c}");
    }
    // A non-loopback unknown resource is still refused.
    let reply = call(
        &zone,
        get(&authorize(
            "mcp-client-a",
            redirect,
            challenge.as_str(),
            "&login_hint=alice&resource=https%3A%2F%2Fevil.example&scope=mcp%3Atools",
        )),
    )
    .await;
    let location = reply.header("location").unwrap_or_default();
    assert!(location.contains("error=invalid_target"), "{location}");
}
