//! Authorization code + PKCE (driven by the `oauth2` crate), refresh tokens, dynamic
//! registration, the login page, and an RFC 8693 exchange through `oauth2`'s HTTP client.

use std::collections::BTreeMap;

use http::header;
use mock_keycard::{MockKeycard, ZoneConfig};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AsyncHttpClient as _, AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use serde_json::{Value, json};

use crate::helpers::{MCP, UPSTREAM, basic, call, claims, form, get, json_post, zone};

const REDIRECT: &str = "http://127.0.0.1:1/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn query(location: &str) -> BTreeMap<String, String> {
    url::Url::parse(location)
        .expect("location URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn oauth2_crate_completes_auth_code_pkce_refresh_and_token_exchange() {
    let server = MockKeycard::start(ZoneConfig::default())
        .await
        .expect("start");
    let issuer = server.issuer();
    let mcp = server.zone().mcp_resource();
    let http = no_redirects();
    let client = BasicClient::new(ClientId::new("mcp-client-a".into()))
        .set_auth_uri(AuthUrl::new(format!("{issuer}/authorize")).expect("auth url"))
        .set_token_uri(TokenUrl::new(format!("{issuer}/token")).expect("token url"))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("mcp:tools".into()))
        .add_extra_param("resource", mcp.clone())
        .add_extra_param("login_hint", "zoë-日本-🦀")
        .set_pkce_challenge(challenge)
        .url();

    // Non-interactive user pick: the zone redirects at once.
    let response = http.get(url).send().await.expect("authorize");
    assert_eq!(response.status(), 302);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(REDIRECT));
    let params = query(&location);
    assert_eq!(params.get("state"), Some(csrf.secret()));
    assert_eq!(params.get("iss"), Some(&issuer));
    let code = params.get("code").expect("code").clone();

    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", mcp.clone())
        .request_async(&http)
        .await
        .expect("code exchange");
    let access = token.access_token().secret().clone();
    let decoded = mock_keycard::jwt::decode(&access).expect("jwt");
    assert_eq!(decoded.header.alg, "RS256");
    assert_eq!(
        decoded.header.kid.as_deref(),
        Some(server.zone().current_kid().as_str())
    );
    let c = claims(&access);
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(c.get(claim).is_some(), "missing {claim}: {c}");
    }
    assert_eq!(c["iss"], issuer.as_str());
    assert_eq!(c["sub"], "zoë-日本-🦀");
    assert_eq!(c["aud"], mcp.as_str());
    assert_eq!(c["client_id"], "mcp-client-a");
    assert_eq!(c["scope"], "mcp:tools");

    // The code works once.
    let reuse = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(
        matches!(reuse, Err(RequestTokenError::ServerResponse(ref e)) if *e.error() == BasicErrorResponseType::InvalidGrant)
    );

    // Refresh rotates: the new refresh token works, the old one is spent.
    let refresh = token.refresh_token().expect("refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    assert_eq!(
        claims(refreshed.access_token().secret())["sub"],
        "zoë-日本-🦀"
    );
    assert_ne!(
        refreshed.refresh_token().map(|r| r.secret()),
        Some(refresh.secret())
    );
    let spent = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await;
    assert!(
        matches!(spent, Err(RequestTokenError::ServerResponse(ref e)) if *e.error() == BasicErrorResponseType::InvalidGrant)
    );

    // RFC 8693 exchange through oauth2's HTTP client, parsed with oauth2's response types.
    let exchange = |subject: &str| {
        let body = serde_urlencoded::to_string([
            ("grant_type", mock_keycard::TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", mock_keycard::ACCESS_TOKEN_TYPE),
            ("resource", server.upstream_url().as_str()),
        ])
        .expect("form");
        http::Request::post(format!("{issuer}/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::AUTHORIZATION,
                basic("mcp-worker", "mcp-worker-secret"),
            )
            .body(body.into_bytes())
            .expect("request")
    };
    let response = http.call(exchange(&access)).await.expect("exchange");
    assert_eq!(response.status(), 200);
    let upstream: BasicTokenResponse =
        serde_json::from_slice(response.body()).expect("oauth2 token response");
    let upstream_token = upstream.access_token().secret().clone();
    let user: Value = http
        .get(format!("{}/user", server.upstream_url()))
        .bearer_auth(&upstream_token)
        .send()
        .await
        .expect("upstream")
        .json()
        .await
        .expect("json");
    assert_eq!(user["login"], "zoe");
    assert_eq!(user["keycard"]["sub"], "zoë-日本-🦀");
    assert_eq!(user["keycard"]["client_id"], "mcp-client-a");
    assert_eq!(user["keycard"]["act"], "mcp-worker");

    let mallory = server
        .zone()
        .mint(mock_keycard::MintRequest {
            sub: Some("mallory".into()),
            ..Default::default()
        })
        .expect("mint");
    let response = http
        .call(exchange(&mallory.access_token))
        .await
        .expect("exchange");
    assert_eq!(response.status(), 400);
    let error: BasicErrorResponse =
        serde_json::from_slice(response.body()).expect("oauth2 error response");
    assert_eq!(*error.error(), BasicErrorResponseType::InvalidGrant);
    server.shutdown().await;
}

fn authorize_url(client_id: &str, challenge: &str, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=s1{extra}",
        urlencode(REDIRECT)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn login_page_lists_users_and_its_form_signs_in() {
    let zone = zone();
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let page = call(
        &zone,
        get(&authorize_url("mcp-client-b", challenge.as_str(), "")),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    for user in zone.users() {
        assert!(
            page.text.contains(&format!("value=\"{}\"", user.sub)),
            "{} missing",
            user.sub
        );
    }
    assert!(page.text.contains("login_hint"));
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "mcp-client-b"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "s2"),
        ("user", "bob"),
    ];
    let reply = call(&zone, form("/authorize", &pairs, None)).await;
    assert_eq!(reply.status, 302);
    let location = query(reply.header("location").expect("location"));
    assert!(location.contains_key("code"));
    assert_eq!(location.get("state").map(String::as_str), Some("s2"));
    pairs.pop();
    pairs.push(("deny", "1"));
    let reply = call(&zone, form("/authorize", &pairs, None)).await;
    assert_eq!(
        query(reply.header("location").expect("location"))
            .get("error")
            .map(String::as_str),
        Some("access_denied")
    );
}

#[tokio::test]
async fn authorize_and_code_refusals() {
    let zone = zone();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let c = challenge.as_str();
    let bad_client = call(&zone, get(&authorize_url("nobody", c, "&login_hint=alice"))).await;
    assert_eq!(bad_client.status, 400);
    let bad_redirect = call(&zone, get(&format!("/authorize?response_type=code&client_id=mcp-client-a&redirect_uri={}&code_challenge={c}&code_challenge_method=S256", urlencode("https://evil.test/cb")))).await;
    assert_eq!(bad_redirect.status, 400);
    let redirect_error = |extra: &str, challenge: &str| {
        let zone = zone.clone();
        let url = authorize_url("mcp-client-a", challenge, extra);
        async move {
            let reply = call(&zone, get(&url)).await;
            assert_eq!(reply.status, 302, "{url}");
            query(reply.header("location").expect("location"))
                .get("error")
                .cloned()
        }
    };
    assert_eq!(
        redirect_error("&login_hint=alice", "").await.as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        redirect_error("&login_hint=nobody", c).await.as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        redirect_error("&login_hint=alice&resource=https%3A%2F%2Fevil.test", c)
            .await
            .as_deref(),
        Some("invalid_target")
    );
    assert_eq!(
        redirect_error("&login_hint=alice&scope=admin", c)
            .await
            .as_deref(),
        Some("invalid_scope")
    );
    let plain = format!(
        "/authorize?response_type=code&client_id=mcp-client-a&redirect_uri={}&code_challenge={c}&code_challenge_method=plain&login_hint=alice",
        urlencode(REDIRECT)
    );
    assert_eq!(
        query(
            call(&zone, get(&plain))
                .await
                .header("location")
                .expect("location")
        )
        .get("error")
        .map(String::as_str),
        Some("invalid_request")
    );

    // A code for client A: wrong verifier, wrong client, wrong redirect are invalid_grant.
    let issue_code = || {
        let zone = zone.clone();
        let url = authorize_url("mcp-client-a", c, "&login_hint=alice");
        async move {
            let reply = call(&zone, get(&url)).await;
            query(reply.header("location").expect("location"))
                .get("code")
                .cloned()
                .expect("code")
        }
    };
    let redeem = |code: String, client: &'static str, redirect: &'static str, verifier: String| {
        let zone = zone.clone();
        async move {
            let pairs = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier.as_str()),
                ("client_id", client),
            ];
            call(&zone, form("/token", &pairs, None)).await.json()
        }
    };
    let good = verifier.secret().clone();
    let wrong_verifier = "a".repeat(43);
    assert_eq!(
        redeem(issue_code().await, "mcp-client-a", REDIRECT, wrong_verifier).await["error"],
        "invalid_grant"
    );
    assert_eq!(
        redeem(issue_code().await, "mcp-client-b", REDIRECT, good.clone()).await["error"],
        "invalid_grant"
    );
    assert_eq!(
        redeem(
            issue_code().await,
            "mcp-client-a",
            "http://127.0.0.1:2/other",
            good.clone()
        )
        .await["error"],
        "invalid_grant"
    );
    let ok = redeem(issue_code().await, "mcp-client-a", REDIRECT, good).await;
    assert_eq!(
        claims(ok["access_token"].as_str().expect("token"))["aud"],
        MCP
    );
}

#[tokio::test]
async fn dynamic_registration_of_a_public_client_then_sign_in() {
    let zone = zone();
    let reply = call(
        &zone,
        json_post(
            "/register",
            &json!({
                "client_name": "Test MCP client",
                "redirect_uris": ["http://127.0.0.1:33418/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }),
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let registered = reply.json();
    let client_id = registered["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    assert!(registered.get("client_secret").is_none());
    assert_eq!(registered["token_endpoint_auth_method"], "none");

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // Loopback redirect URIs match on any port (RFC 8252).
    let redirect = "http://127.0.0.1:40000/callback";
    let url = format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&login_hint=alice&resource={}",
        urlencode(redirect),
        challenge.as_str(),
        urlencode(MCP)
    );
    let reply = call(&zone, get(&url)).await;
    assert_eq!(reply.status, 302, "{}", reply.text);
    let code = query(reply.header("location").expect("location"))
        .get("code")
        .cloned()
        .expect("code");
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier.secret().as_str()),
        ("client_id", client_id.as_str()),
    ];
    let reply = call(&zone, form("/token", &pairs, None)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        claims(reply.json()["access_token"].as_str().expect("token"))["client_id"],
        client_id.as_str()
    );

    // A confidential registration gets a secret that authenticates.
    let reply = call(
        &zone,
        json_post(
            "/register",
            &json!({
                "redirect_uris": ["https://app.example/cb"],
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post",
            }),
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    let id = body["client_id"].as_str().expect("id");
    let secret = body["client_secret"].as_str().expect("secret");
    let reply = call(
        &zone,
        form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", UPSTREAM),
                ("client_id", id),
                ("client_secret", secret),
            ],
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let mut errors = BTreeMap::new();
    for (name, body) in [
        (
            "missing_redirect_uris",
            json!({ "token_endpoint_auth_method": "none" }),
        ),
        (
            "http_non_loopback_redirect",
            json!({ "redirect_uris": ["http://evil.test/cb"], "token_endpoint_auth_method": "none" }),
        ),
        (
            "unsupported_auth_method",
            json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "tls_client_auth" }),
        ),
        (
            "public_client_credentials",
            json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"] }),
        ),
        ("not_an_object", json!(["nope"])),
    ] {
        let reply = call(&zone, json_post("/register", &body)).await;
        assert_eq!(reply.status, 400, "{name}");
        errors.insert(name, reply.json());
    }
    insta::assert_json_snapshot!("registration_error_bodies", errors);
}
