//! Issue 6: the dev server on port 0, signed in to with a real OAuth client library
//! (`oauth2`), as an MCP client would: 401 → protected-resource metadata → AS metadata →
//! dynamic registration (public client) → authorization code + PKCE S256 with
//! `resource` → both tools with the token obtained.

use std::collections::BTreeMap;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse as _, TokenUrl,
};
use serde_json::Value;

use crate::helpers::{spawn_dev_server, tool_call};

const REDIRECT: &str = "http://127.0.0.1:1/callback";

/// `GET url` as JSON.
async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The `resource_metadata` parameter of a `WWW-Authenticate: Bearer …` challenge.
fn resource_metadata(challenge: &str) -> Option<String> {
    let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let len = challenge.get(start..)?.find('"')?;
    challenge.get(start..start + len).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_signs_in_to_the_dev_server_and_calls_both_tools() {
    let server = spawn_dev_server().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mcp = |token: Option<&str>, body: String| {
        let mut request = http
            .post(&server.mcp_url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // 1. No token: 401 with the metadata URL in the challenge.
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#.to_owned();
    let unauthorized = mcp(None, list.clone()).await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let challenge = unauthorized.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let prm_url = resource_metadata(&challenge).unwrap();

    // 2. Protected-resource metadata, then the authorization server's metadata.
    let prm: Value = get_json(&http, &prm_url).await;
    let resource = prm["resource"].as_str().unwrap().to_owned();
    let as_url = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    let metadata_url = format!(
        "{}/.well-known/oauth-authorization-server",
        as_url.trim_end_matches('/')
    );
    let meta: Value = get_json(&http, &metadata_url).await;
    assert_eq!(meta["issuer"].as_str(), Some(as_url.trim_end_matches('/')));
    assert!(
        meta["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "S256"),
        "{meta}"
    );

    // 3. Dynamic client registration (RFC 7591), public client.
    let registered: Value = http
        .post(meta["registration_endpoint"].as_str().unwrap())
        .json(&serde_json::json!({
            "client_name": "oauth2-crate test client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    assert!(registered.get("client_secret").is_none(), "{registered}");

    // 4. Authorization code + PKCE S256 with the oauth2 crate.
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(meta["authorization_endpoint"].as_str().unwrap().into()).unwrap(),
        )
        .set_token_uri(TokenUrl::new(meta["token_endpoint"].as_str().unwrap().into()).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut authorize = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", "bob");
    // the proxied metadata may already carry `resource` on the authorization endpoint
    if !meta["authorization_endpoint"]
        .as_str()
        .unwrap()
        .contains("resource=")
    {
        authorize = authorize.add_extra_param("resource", resource.clone());
    }
    for scope in prm["scopes_supported"].as_array().into_iter().flatten() {
        authorize = authorize.add_scope(Scope::new(scope.as_str().unwrap().into()));
    }
    let (url, csrf) = authorize.url();
    let redirect = http.get(url).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let params: BTreeMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(params.get("state"), Some(csrf.secret()));
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", resource.clone())
        .request_async(&http)
        .await
        .unwrap();
    let access = token.access_token().secret().clone();

    // 5. The MCP server accepts it: tools/list, whoami, github_user.
    let tools: Value = mcp(Some(&access), list)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"whoami") && names.contains(&"github_user"),
        "{tools}"
    );
    let whoami: Value = mcp(Some(&access), tool_call("whoami"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = &whoami["result"]["structuredContent"];
    assert_eq!(me["subject"], "bob", "{whoami}");
    assert_eq!(me["client_id"], client_id.as_str(), "{whoami}");
    let gh: Value = mcp(Some(&access), tool_call("github_user"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let profile = &gh["result"]["structuredContent"];
    assert_eq!(profile["keycard"]["sub"], "bob", "{gh}");
    assert_eq!(profile["keycard"]["client_id"], client_id.as_str(), "{gh}");
    let zone = server.zone.as_ref().unwrap();
    assert_eq!(
        profile["login"].as_str(),
        zone.zone().user("bob").map(|p| p.login).as_deref(),
        "{gh}"
    );
    server.shutdown().await;
}
